"""``python -m pyserini_hybrid.dense``: the command's flags, turned into one ``DenseOptions`` for
``retrieval.dense``."""

import sys

from .cli_options import checked_args, retrieval_parser
from .core.errors import cli
from .models.precision import PRECISIONS
from .retrieval import dense
from .retrieval.options import ENCODE_CHUNK, DenseOptions


@cli
def main(argv=None) -> int:
    parser = retrieval_parser("dense", dense.__doc__.split("\n")[0])
    parser.add_argument("--model", help="model directory with pyserini_hybrid.json (default: the embedded mE5-small)")
    parser.add_argument("--batch-size", type=int, default=ENCODE_CHUNK,
                        help=f"texts per encode call of pyserini.encode, sorted by length inside (default {ENCODE_CHUNK})")
    parser.add_argument("--force", action="store_true",
                        help="encode the cached indexes and queries again, and search again, even where up to date")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="encoding precision (default: $PYSERINI_HYBRID_PRECISION, else the model's, else auto: "
                             "the faster on this CPU, measured once and cached)")
    parser.add_argument("--shard-num", type=int, default=1,
                        help="encode each corpus in N shards (pyserini.encode --shard-id/--shard-num) and merge them")
    parser.add_argument("--shard-id", type=int,
                        help="encode only this shard (0-based) and stop: one process or machine per shard; then "
                             "run once more without it to merge and search")
    args = checked_args(parser, argv)
    output = args.output or args.work_dir / "runs" / "dense" / args.dataset
    info = dense.write_runs(DenseOptions(
        args.dataset, output, model=args.model, languages=args.languages, variant=args.corpus, hits=args.hits,
        threads=args.threads, batch_size=args.batch_size, index_root=args.index_dir or args.work_dir / "indexes" / "dense", topics_dir=args.topics_dir,
        data=args.data_dir, force=args.force, precision=args.precision, shard_num=args.shard_num,
        shard_id=args.shard_id))
    if args.shard_id is not None:
        return 0
    print(f"dense runs for {args.dataset} ({len(info['languages'])} languages, {info['model_key']}) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
