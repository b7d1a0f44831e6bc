"""``python -m pyserini_hybrid.evaluate``: evaluate a run directory with ir-measures (see ``measures``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import cli
from ..data import topic_sets as tp
from .measures import evaluate_run_dir
from .render import markdown, write_outputs


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=list(tp.manifest()))
    parser.add_argument("--runs", type=Path, required=True, help="run directory (<lang>.trec, pool.trec)")
    parser.add_argument("--output", type=Path, help="results directory (default <runs>/eval)")
    parser.add_argument("--system", default=None, help="name shown in tables (default: the run directory's)")
    parser.add_argument("--languages", nargs="+")
    parser.add_argument("--depth", type=int, help="run depth (default: run-meta.json's hits)")
    parser.add_argument("--topics-dir", type=Path)
    args = parser.parse_args(argv)
    result = evaluate_run_dir(args.dataset, args.runs, args.languages, args.topics_dir, args.depth)
    system = args.system or args.runs.parent.name
    paths = write_outputs(result, args.output or args.runs / "eval", system)
    print(markdown(result, system))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
