"""``python -m pyserini_hybrid.study STUDY.toml [--quick]``: run a study and write its report (``orchestrate``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import cli
from ..core.files import PROJECT_ROOT
from ..core.lock import output_lock
from ..data import topic_sets as tp
from ..models.default_model import check_start_model
from .config import Study
from .orchestrate import run_study


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.study", description="Which batching to train with? Train, run, evaluate and report.")
    parser.add_argument("study", help="a study file, e.g. studies/me5-small-cpu.toml")
    parser.add_argument("--quick", action="store_true", help="the smoke variant: few steps, few languages")
    parser.add_argument("--model", help="start model for the recipe and the untuned baseline (default: the recipe's)")
    parser.add_argument("--work-dir", type=Path, help="caches (default work/study-<name>[-quick])")
    parser.add_argument("--report-dir", type=Path, help="report (default reports/<name>[-quick])")
    parser.add_argument("--data-dir")
    parser.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML/JSON; repeatable): its sets can be study datasets")
    args = parser.parse_args(argv)
    tp.register_topic_sets(args.topic_sets)
    tp.use_data_dir(args.data_dir)  # before the study file: a data dir's topic-sets.toml names datasets too
    study = Study.load(args.study, args.quick, args.data_dir)
    suffix = "-quick" if study.quick else ""
    work = args.work_dir or PROJECT_ROOT / "work" / f"study-{study.name}{suffix}"
    report_dir = args.report_dir or PROJECT_ROOT / "reports" / f"{study.name}{suffix}"
    if args.model:
        check_start_model(args.model, "--model")
    with output_lock(work, "study"):  # one study per work directory (its caches and ledger)
        run_study(study, work, report_dir, args.data_dir, args.model)
    print(f"report: {report_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
