"""``python -m pyserini_hybrid.bm25``: the command's flags, turned into one ``BM25Options`` for
``retrieval.bm25``."""

import sys

from .cli_options import checked_args, retrieval_parser
from .core.errors import cli
from .retrieval import bm25
from .retrieval.options import BM25Options


@cli
def main(argv=None) -> int:
    parser = retrieval_parser("bm25", bm25.__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true",
                        help="index and search again even where indexes and runs are up to date")
    parser.add_argument("--prebuilt", action="store_true",
                        help="MIRACL languages: search Pyserini's prebuilt miracl-v1.0-<lang> index (full corpus; "
                             "downloaded once into ~/.cache/pyserini or $PYSERINI_CACHE) instead of indexing locally")
    args = checked_args(parser, argv)
    output = args.output or args.work_dir / "runs" / "bm25" / args.dataset
    info = bm25.write_runs(BM25Options(
        args.dataset, output, languages=args.languages, variant=args.corpus, hits=args.hits, threads=args.threads,
        index_root=args.index_dir or args.work_dir / "indexes" / "bm25", topics_dir=args.topics_dir, data=args.data_dir, force=args.force,
        prebuilt=args.prebuilt))
    print(f"BM25 runs for {args.dataset} ({len(info['languages'])} languages, depth {args.hits}) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
