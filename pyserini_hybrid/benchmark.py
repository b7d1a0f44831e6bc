"""``python -m pyserini_hybrid.benchmark``: the CLI name; the code is ``.study.benchmark``."""

import sys

from .study.benchmark import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
