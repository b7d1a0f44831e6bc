"""``python -m pyserini_hybrid.fusion``: the CLI name; the code is ``.retrieval.fusion``."""

import sys

from .retrieval.fusion import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
