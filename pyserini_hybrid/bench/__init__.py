"""Measurements of the whole: the benchmark over every topic set (``benchmark``, what ``make demo`` runs) and
the encoding and training speed on this machine (``speed``). Their CLIs are the top-level drivers
``python -m pyserini_hybrid.benchmark`` and ``.speed``; the study (``study/``) neither imports nor is
imported by them. The top of the import order with ``study``: may import every other folder."""
