"""Pyserini's search mains with our encoder class registered: ``python -m pyserini_hybrid.search.faiss``
and ``python -m pyserini_hybrid.search.hybrid`` (Pyserini's dense+sparse fusion), flags unchanged."""
