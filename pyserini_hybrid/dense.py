"""``python -m pyserini_hybrid.dense``: the CLI name; the code is ``.retrieval.dense``."""

import sys

from .retrieval.dense import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
