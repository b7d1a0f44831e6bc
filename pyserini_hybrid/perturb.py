"""``python -m pyserini_hybrid.perturb``: the CLI name; the code is ``.data.perturb``."""

import sys

from .data.perturb import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
