"""Pyserini glue: a Java >= 21 for Anserini (``java``), running Pyserini's own mains in-process or in a
worker with logs and one-line errors (``mains``), and ``--encoder-class hybrid`` registered in Pyserini's
encode/search CLIs (``registry``), Pyserini's dense file layouts checked and recorded, query embeddings read
without unpickling (``dense_files``). May import ``core`` and ``models``."""
