"""``python -m pyserini_hybrid.default_model [--cache-dir DIR] [--force]``: build the embedded default model once
(``models.default_model``) and print its directory."""

import argparse
import sys

from .core.errors import cli
from .core.files import CACHE_ENV
from .models import default_model


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.default_model",
                                     description=default_model.__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", help=f"cache root (default ${CACHE_ENV} or ~/.cache/pyserini_hybrid)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a converted model exists")
    args = parser.parse_args(argv)
    print(default_model.default_model_dir(args.cache_dir, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
