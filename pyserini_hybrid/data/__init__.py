"""Data: topic sets as Pyserini files — their names and paths (``topic_sets``), conversion of XQuAD-R,
MLQA-R and MIRACL (``convert``), language facts (``languages``) and perturbed topics (``perturb``).
``python -m pyserini_hybrid.topics`` is ``__main__``. May import ``core`` only."""
