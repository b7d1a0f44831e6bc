"""``python -m pyserini_hybrid.study STUDY.toml [--quick] {plan,run,report,import}``: the study in units.

    plan    every unit, its state (done / partial / to do) and estimated minutes on this machine
    run     run units in order (or ``--units NAME ...``) until ``--for-minutes`` is spent; a unit that
            cannot finish in the time left is not started
    report  assemble ``reports/<name>/`` (report.md, report.json, plots) from the finished units alone
    import  copy finished units from another checkout (the study worktree, another machine's clone) here
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

from ..core.errors import InputError, cli
from ..core.files import load_json, work_dir
from ..core.lock import output_lock
from ..data import topic_sets as tp
from ..data import convert as conversion  # looked up when called: a test gives a quicker one
from ..models.default_model import check_start_model
from .config import Study
from .cost import estimate_minutes, rates
from .fingerprints import differing_part
from .provenance import code_hash, data_hash, machine, study_hash, versions
from .report.assemble import assemble
from .run.collect import import_units
from .run.produce import run_unit
from .units import plan_units, read_unit, selection_choice, unit_dir, unit_state
from .verify import check_design


def study_metas(study: Study, work: Path, data: str | None) -> dict:
    names = study.evaluated_datasets
    return {d: conversion.convert(d, data, work / "topics", quiet=True) for d in sorted(names)}


def plan_rows(study: Study, units_root: Path, metas: dict) -> tuple[list, tuple]:
    units = plan_units(study, metas)
    finished = [(u, r) for u in units for r in [read_unit(units_root, u)] if r]
    check_design(study, finished, units, units_root)  # a unit of another study file is no unit of this one
    step_s, per_text, source = rates(finished, machine(), metas)
    rows = []
    for u in units:
        done = read_unit(units_root, u)
        minutes = done["cost"]["machine_seconds"] / 60 if done else estimate_minutes(study, u, metas, step_s, per_text)
        rows.append((u, unit_state(units_root, u), minutes, done))
    return rows, (step_s, per_text, source)


def show_plan(study: Study, rows: list, rate: tuple, names_only: bool) -> None:
    if names_only:
        for u, *_ in rows:
            print(u.name)
        return
    step_s, per_text, source = rate
    speeds = ", ".join(f"{d} {1 / s:.0f}" for d, s in sorted(per_text.items()) if s > 0)
    print(f"study {study.name}{' (quick)' if study.quick else ''}: {len(rows)} units; rates {step_s:.2f} s/step, "
          f"texts/s {speeds} ({source})")
    print(f"{'unit':<28} {'state':<8} {'minutes':>8}  machine / commit")
    here = code_hash()
    for u, state, minutes, done in rows:
        where = ""
        if done:
            m = done.get("machine", {})
            where = f"{m.get('cpu', '?')} / {done.get('commit') or '?'}"
            if done["fingerprint"]["code"] != here:
                where += f"  (code {done['fingerprint']['code']}; this checkout {here})"
        print(f"{u.name:<28} {state:<8} {minutes:>8.0f}  {where}")
    spent = sum(m for _, s, m, _ in rows if s == "done")
    left = sum(m for _, s, m, _ in rows if s != "done")
    print(f"done: {sum(s == 'done' for _, s, _, _ in rows)} units, {spent / 60:.1f} machine-hours; "
          f"left: {sum(s != 'done' for _, s, _, _ in rows)} units, about {left / 60:.1f} h here")


def show_power(report_dir: Path, rows: list) -> None:
    """What more seeds would buy, per headline cell, from the report of the finished units (``report`` writes it;
    computing it needs every unit's ranks, so ``plan`` reads it rather than rebuilding the report)."""
    done = {u.name for u, state, _, _ in rows if state == "done"}
    path = report_dir / "report.json"
    if not done:
        return
    report = load_json(path) if path.is_file() else None
    if not report or set(report.get("units", {})) != done:
        print(f"power: run `report` first ({path} is missing or not of the {len(done)} finished units)")
        return
    power = (report.get("headline") or {}).get("power") or {}
    if not power:
        print("power: no headline yet (a partial grid, or one seed per batching)")
        return
    claim = set(report["headline"].get("claim_cells", []))
    print(f"power of the headline's tests, from {path.name} of {len(done)} finished units (Holm level; † = the paper's "
          f"claim; non-inferiority at {report['headline']['margin']} if hybrid equalled the row):")
    print(f"{'cell':<26} {'seeds':>5} {'MDE 80 %':>9} {'NI power':>9} {'seeds for 80 %':>15}")
    for cell, x in power.items():
        print(f"{cell + (' †' if cell in claim else ''):<26} {x['seeds']:>5} {x['mde_80']:>9.4f} "
              f"{x['non_inferiority_power']:>9.0%} {x['seeds_for_80'] or 'more than 1000':>15}")


def check_same_design(study: Study, units_root: Path, data: str | None) -> None:
    """Refuse, before any work, to add units whose fingerprint would differ from the finished ones: ``report``
    would refuse to mix them, so the hours spent would be lost. The start model's sha256 is left to ``report``
    (computing it needs the model built); everything else is cheap to compute here."""
    finished = sorted(units_root.glob("*/unit.json"))
    if not finished:
        return
    here = {"study": study_hash(study), "code": code_hash(), "versions": versions(), "data": data_hash(study, data)}
    for path in finished:
        done = load_json(path)
        fp = done.get("fingerprint") or {}
        part = differing_part(fp, here, parts=here)
        if part:
            commit = (done.get("commit") or "?").removesuffix("+dirty")[:12]
            raise InputError(f"unit {path.parent.name} (commit {commit}) has another design fingerprint ('{part}' "
                             f"differs from this checkout's): run units from a worktree at that commit (git worktree "
                             f"add ../study-wt {commit}; docs/study.md), or give a new --report-dir to start anew")


def fresh_estimate(study: Study, unit, units: list, units_root: Path, metas: dict) -> float:
    """``unit``'s minutes from the rates of the units finished so far on this CPU type."""
    finished = [(u, r) for u in units for r in [read_unit(units_root, u)] if r]
    step_s, per_text, _ = rates(finished, machine(), metas)
    return estimate_minutes(study, unit, metas, step_s, per_text)


def run_units(study: Study, plan: tuple[list, dict], names: list[str] | None, minutes: float | None,
              units_root: Path, work: Path, data: str | None, model: str | None) -> int:
    """``plan``: ``plan_rows``' rows and the converted sets' counts they were planned with (the fresh estimates
    reuse them)."""
    rows, metas = plan
    all_units = [u for u, *_ in rows]
    known = {u.name for u in all_units}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise InputError(f"unknown unit(s) {', '.join(unknown)} (python -m pyserini_hybrid.study {study.source} "
                         "plan --names lists them)")
    todo = [(u, m) for u, state, m, _ in rows if (u.name in names if names else state != "done")]
    deadline = time.time() + minutes * 60 if minutes else None
    ran = 0
    for unit, estimate in todo:
        if ran:  # the units finished so far measured this machine: estimate again from them
            estimate = fresh_estimate(study, unit, all_units, units_root, metas)
        if unit.needs_selection and study.selection and selection_choice(study, units_root, all_units) is None:
            print(f"skipped {unit.name}: waits for the selection units")
            continue
        if deadline is not None and time.time() + estimate * 60 > deadline:
            print(f"skipped {unit.name}: about {estimate:.0f} min, {(deadline - time.time()) / 60:.0f} min left")
            continue
        with contextlib.ExitStack() as held:  # several runs may share one report dir (several cores, NFS)
            try:
                held.enter_context(output_lock(unit_dir(units_root, unit), "study run"))
            except InputError as e:
                if names:
                    raise
                print(f"skipped {unit.name}: {e}")
                continue
            if not names and unit_state(units_root, unit) == "done":  # finished meanwhile by another run
                print(f"skipped {unit.name}: done meanwhile")
                continue
            print(f"unit {unit.name}: about {estimate:.0f} min", flush=True)
            result = run_unit(study, unit, all_units, units_root, work, data, model)
            print(f"unit {unit.name}: done in {result['seconds']['total'] / 60:.1f} min", flush=True)
            ran += 1
    print(f"{ran} unit(s) run")
    return 0


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.study", description="Which batching to train "
                                     "with? The study in units: plan, run, report.")
    parser.add_argument("study", help="a study file, e.g. studies/me5-small-cpu.toml")
    parser.add_argument("--quick", action="store_true", help="the smoke variant: few steps, few languages")
    parser.add_argument("--model", help="start model for the recipe and the untuned baseline (default: the recipe's)")
    parser.add_argument("--work-dir", type=Path, help="scratch: models, indexes, runs (default work/study-<name>)")
    parser.add_argument("--report-dir", type=Path, help="report and units (default reports/<name>[-quick])")
    parser.add_argument("--data-dir")
    parser.add_argument("--topic-sets", action="append", metavar="FILE",
                        help="a topic-set file of your own (TOML/JSON; repeatable): its sets can be study datasets")
    sub = parser.add_subparsers(dest="action", required=True)
    plan = sub.add_parser("plan", help="units, state and estimated minutes")
    plan.add_argument("--names", action="store_true", help="unit names only, one a line (for job arrays)")
    run = sub.add_parser("run", help="run units until the time is spent")
    run.add_argument("--units", nargs="+", metavar="NAME", help="these units only (done ones are run again)")
    run.add_argument("--for-minutes", type=float, metavar="M", help="start no unit that would end after M minutes")
    rep = sub.add_parser("report", help="the report from the finished units alone")
    rep.add_argument("--beside", type=Path, metavar="REPORT_JSON", help="another study's report.json, quoted "
                     "beside this one's answer (e.g. reports/me5-small-cpu/report.json)")
    imp = sub.add_parser("import", help="copy finished units from another checkout (e.g. a study worktree) here")
    imp.add_argument("source", type=Path, metavar="DIR", help="its reports/<study>/units (or reports/<study>)")
    args = parser.parse_args(argv)
    minutes = getattr(args, "for_minutes", None)
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):  # nan passes every comparison
        raise InputError(f"--for-minutes {minutes}: must be a finite number of minutes above 0")
    tp.register_topic_sets(args.topic_sets)
    tp.use_data_dir(args.data_dir)  # before the study file: a data dir's topic-sets.toml names datasets too
    study = Study.load(args.study, args.quick, args.data_dir)
    suffix = "-quick" if study.quick else ""
    work = args.work_dir or work_dir() / "work" / f"study-{study.name}{suffix}"
    report_dir = args.report_dir or work_dir() / "reports" / f"{study.name}{suffix}"
    units_root = report_dir / "units"
    if args.model:
        check_start_model(args.model, "--model")
    if args.action == "report":
        with output_lock(report_dir, "study report"):  # one writer: two reports would swap files in turn
            path = assemble(study, units_root, report_dir, args.data_dir, args.beside)
        print(f"report: {path}")
        return 0
    if args.action == "import":
        names = import_units(study, args.source, units_root, args.data_dir)
        print(f"{len(names)} unit(s) imported" + (f"; now: python -m pyserini_hybrid.study {args.study} report"
                                                   if names else ""))
        return 0
    if args.action == "run":
        check_same_design(study, units_root, args.data_dir)
    with output_lock(work, "study"):  # one writer per work directory (its caches)
        metas = study_metas(study, work, args.data_dir)
        rows, rate = plan_rows(study, units_root, metas)
        if args.action == "plan":
            show_plan(study, rows, rate, args.names)
            if not args.names:
                show_power(units_root.parent, rows)
            return 0
        return run_units(study, (rows, metas), args.units, args.for_minutes, units_root, work, args.data_dir,
                         args.model)


if __name__ == "__main__":
    sys.exit(main())
