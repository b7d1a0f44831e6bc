"""``python -m pyserini_hybrid.evaluate``: evaluate a run directory with ir-measures (see ``measures``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import InputError, cli
from ..core.lock import output_lock
from ..data import topic_sets as tp
from .measures import evaluate_run_dir
from .render import markdown, write_outputs


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a topic set, built-in or your own (--topic-sets)")
    parser.add_argument("--runs", type=Path, required=True, help="run directory (<lang>.trec, pool.trec)")
    parser.add_argument("--output", type=Path, help="results directory (default <runs>/eval)")
    parser.add_argument("--system", default=None, help="name shown in tables (default: the run directory's)")
    parser.add_argument("--languages", nargs="+")
    parser.add_argument("--depth", type=int, help="run depth (default: run-meta.json's hits)")
    parser.add_argument("--model", type=Path, help="ntrex: the model whose training-card.json gives the seen/unseen "
                                                   "grouping (default: the one run-meta.json names)")
    parser.add_argument("--topics-dir", type=Path, help="converted topic sets (default topics/)")
    parser.add_argument("--data-dir", help="data to convert from when the topics dir lacks the dataset "
                                           "(default ../shared/data)")
    parser.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML/JSON; repeatable; also $PYSERINI_HYBRID_TOPIC_SETS "
                             "and topic-sets.toml in the data directory)")
    args = parser.parse_args(argv)
    tp.register_topic_sets(args.topic_sets)
    tp.use_data_dir(args.data_dir)
    tp.dataset_spec(args.dataset)  # an unknown name: one line naming the known ones
    # flags first, before any work: a mistyped topics dir must not be filled from the default data
    if args.topics_dir is not None and not args.topics_dir.is_dir():
        raise InputError(f"--topics-dir {args.topics_dir}: no such directory (convert into it first: "
                         f"python -m pyserini_hybrid.topics convert {args.dataset} --topics-dir {args.topics_dir})")
    if args.depth is not None and args.depth < 1:
        raise InputError(f"--depth {args.depth}: must be a positive number of hits")
    if not args.runs.is_dir():
        raise InputError(f"--runs {args.runs}: run directory not found")
    output = args.output or args.runs / "eval"
    with output_lock(output, "evaluation"):  # one writer per results directory, taken before the work
        result = evaluate_run_dir(args.dataset, args.runs, args.languages, args.topics_dir, args.depth, args.data_dir,
                                  args.model)
        system = args.system or args.runs.parent.name
        paths = write_outputs(result, output, system)
    print(markdown(result, system))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
