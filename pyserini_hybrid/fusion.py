"""``python -m pyserini_hybrid.fusion``: the command's flags, turned into one ``FusionOptions`` for
``retrieval.fusion``."""

import argparse
import sys
from pathlib import Path

from .cli_options import add_topic_set_flags, use_topic_sets
from .core.errors import cli
from .core.files import work_dir
from .retrieval import fusion
from .retrieval.options import FusionOptions, check_flags


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.fusion", description=fusion.__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a topic set, built-in or your own (--topic-sets)")
    parser.add_argument("--dense", type=Path, required=True, help="dense run directory")
    parser.add_argument("--sparse", type=Path, required=True, help="BM25 run directory")
    parser.add_argument("--method", choices=fusion.METHODS, default="rrf")
    parser.add_argument("--alpha", type=float, default=0.5, help="interpolation weight of the dense run")
    parser.add_argument("--hits", type=int, help="depth read from each run and written (default: the inputs' depth)")
    parser.add_argument("--output", type=Path, help="run directory (default <work dir>/runs/fusion-<method>/<dataset>)")
    parser.add_argument("--work-dir", type=Path, help="where topics/, indexes/ and runs/ go (default $PYSERINI_HYBRID_HOME, else the current directory)")
    parser.add_argument("--force", action="store_true")
    add_topic_set_flags(parser)
    args = parser.parse_args(argv)
    check_flags(args)
    use_topic_sets(args)
    output = args.output or work_dir(args.work_dir) / "runs" / f"fusion-{args.method}" / args.dataset
    fusion.write_runs(FusionOptions(args.dataset, args.dense, args.sparse, output, method=args.method,
                                    alpha=args.alpha, depth=args.hits, force=args.force))
    print(f"fused runs for {args.dataset} ({args.method}) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
