"""``python -m pyserini_hybrid.topics``: the CLI name; the code is ``.data.__main__``."""

import sys

from .data.__main__ import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
