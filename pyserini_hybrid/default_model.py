"""``python -m pyserini_hybrid.default_model``: the CLI name; the code is ``.models.default_model``."""

import sys

from .models.default_model import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
