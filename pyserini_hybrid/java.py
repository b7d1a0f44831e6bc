"""``python -m pyserini_hybrid.java [--install-hook] [--fetch-catalogue]``: configure Java for Pyserini and say which
one it chose (``pyserini_glue.java``); the start-up hook that ``--install-hook`` writes imports
``pyserini_hybrid.pyserini_glue.java``, not this driver."""

import argparse
import sys

from .core.errors import cli
from .pyserini_glue import catalogue, java
from .pyserini_glue.java import configure  # noqa: F401 - ``pyserini_hybrid.java.configure()`` is called by that name


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.java", description=java.__doc__.split("\n")[0])
    parser.add_argument("--install-hook", action="store_true", help=f"write {java.HOOK_NAME} into site-packages")
    parser.add_argument("--fetch-catalogue", action="store_true",
                        help="Pyserini 2.4: keep a copy of the catalogues it downloads, for offline use (needs a network)")
    args = parser.parse_args(argv)
    if args.install_hook:
        print(f"wrote {java.install_hook()}")
    print(java.configure())
    if args.fetch_catalogue:
        print(catalogue.fetch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
