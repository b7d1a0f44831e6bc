"""Data: topic sets as Pyserini files — their names and paths (``topic_sets``, where every name resolves:
the package's manifest and users' own topic-set files, ``user_sets``), conversion of LAReQA sets, MIRACL in
any of its 18 languages (``miracl``), NTREX-128's bitext in 128 languages (``ntrex``) and plain Pyserini
files (``convert``, streamed into sharded JsonCollections by ``corpus``), Anserini's analyzer per language
(``analyzers``), language facts (``languages``) and perturbed topics (``perturb``).
``python -m pyserini_hybrid.topics`` is ``__main__``. May import ``core`` (and ``pyserini_glue.java`` for
Pyserini's bundled MIRACL topics)."""
