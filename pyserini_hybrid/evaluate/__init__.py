"""Evaluation: measures with ir-measures, the paper's Mo/Cr/Mul averages and rank distance (``measures``),
NTREX-128's bitext measures grouped by language (``bitext``), tables and heatmaps (``render``), and
significance tests that respect seeds and translation clusters (``significance``);
``python -m pyserini_hybrid.evaluate`` is ``__main__``. May import ``core``, ``data``."""
