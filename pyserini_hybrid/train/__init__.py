"""Training: recipes (``recipe``), training pairs (``pairs``), hard negatives (``negatives``), batch
samplers (``samplers``: X-X, X-Y, hybrid), the pure loss (``loss``), data parallelism (``distributed``),
and the trainer split by job (``loop``, ``checkpoints``, ``card``); ``python -m pyserini_hybrid.train`` is
``__main__``. May import ``core``, ``data``, ``models`` and, for BM25 negatives, ``retrieval``."""
