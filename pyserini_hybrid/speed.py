"""``python -m pyserini_hybrid.speed``: the CLI name; the code is ``.study.speed``."""

import sys

from .study.speed import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
