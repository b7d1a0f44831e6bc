"""``python -m pyserini_hybrid.topics``: the public name of ``python -m pyserini_hybrid.data`` (users' scripts
call it); an alias, so the CLI and its flags are ``data/__main__.py``'s alone."""

import sys

from .data.__main__ import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
