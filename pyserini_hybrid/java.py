"""``python -m pyserini_hybrid.java``: the CLI name and the start-up hook's import path; the code is ``.pyserini_glue.java``."""

import sys

from .pyserini_glue.java import configure, main, startup_hook  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
