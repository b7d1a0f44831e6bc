"""Retrieval: BM25 (``bm25``, or Pyserini's prebuilt MIRACL indexes: ``prebuilt``), dense (``dense``, large
corpora encoded in shards and merged, with progress in passages: ``shards``) and BM25+dense fusion
(``fusion``) runs over whole topic sets, each a thin orchestration of Pyserini's CLI writing one run
directory from one frozen options object (``options``: ``BM25Options``, ``DenseOptions``, ``FusionOptions``).
No command line here: the drivers ``pyserini_hybrid.bm25``, ``.dense``, ``.fusion`` own the flags. May import ``core``, ``data``, ``models``,
``pyserini_glue``."""
