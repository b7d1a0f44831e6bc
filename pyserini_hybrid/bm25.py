"""``python -m pyserini_hybrid.bm25``: the CLI name; the code is ``.retrieval.bm25``."""

import sys

from .retrieval.bm25 import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
