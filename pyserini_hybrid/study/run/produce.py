"""Run one unit of the study and write its result directory (``reports/<study>/units/<unit>/``).

Models, indexes and run files go to the work directory (a scratch disk: they are never committed); the
result directory gets only what ``report`` needs: the recorded ranks (``records``), the training card and
log, the exported weights' sha256, timings, the machine and the design fingerprint. ``unit.json`` is written
last, so its presence means the unit is complete.
"""

from __future__ import annotations

import gzip
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...core.files import PROJECT_ROOT, atomic_write, sha256, write_json
from ...core.trec import read_topics, write_topics
from ...data import topic_sets as tp
from ...data.convert import convert
from ...data.perturb import perturb_topics
from ...retrieval.bm25 import run_bm25
from ...retrieval.dense import run_dense
from ...retrieval.fusion import run_fusion
from ...train import recipe as rc
from ...train.merge import merge_models
from .. import records
from ..config import BM25, UNTUNED, Study, slug
from ..cost import unit_steps, unit_texts
from ..provenance import fingerprint, git_commit, machine, study_values
from ..recipes import unit_recipe
from ..sections import lr_grid
from ..units import UNIT_FILE, Unit, selection_choice, unit_dir
from ..verify import HASHES, file_hashes
from .collect import portable_card
from .training import model_dir, train_timed


def copy_gz(src: Path, dst: Path) -> None:
    with open(src, "rb") as f, open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as g:
        shutil.copyfileobj(f, g)


def model_record(d: Path) -> dict:
    return {"sha256": sha256(d / "model.safetensors")}


def perturbed_topics(study: Study, work: Path, dataset: str, kind: str, langs: list[str], metas: dict,
                     topics_dir: Path) -> Path:
    """A topics dir whose ``langs`` topics are perturbed (``data.perturb``), everything else linked."""
    seed = int(study.adversarial.seed)
    adv = work / "topics-adversarial" / kind
    dst = adv / dataset
    if (dst / "meta.json").is_file():
        return adv
    parallel = {x: read_topics(tp.topics_path(dataset, x, topics_dir)) for x in langs}
    parallel = {x: {q.split("-", 1)[1]: t for q, t in v.items()} for x, v in parallel.items()}
    tmp = adv / f".{dataset}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    changed = {f"topics.{x}.tsv" for x in langs} | {tp.topics_path(dataset, "all", topics_dir).name}
    for item in (topics_dir / dataset).iterdir():  # corpus, qrels, meta and other languages' topics shared
        if item.name not in changed:
            (tmp / item.name).symlink_to(item.resolve())
    for x in langs:
        topics = read_topics(tp.topics_path(dataset, x, topics_dir))
        write_topics(tmp / f"topics.{x}.tsv", perturb_topics(topics, x, kind, parallel=parallel, seed=seed))
    with atomic_write(tmp / tp.topics_path(dataset, "all", topics_dir).name) as f:
        for x in metas[dataset]["languages"]:
            f.write((tmp / f"topics.{x}.tsv").read_text(encoding="utf-8"))
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return adv


@dataclass(frozen=True)
class Evaluated:
    """One evaluated run to record: the system and model that made it, what it ran on, and its files."""
    system: str
    seed: int
    budget: int
    dataset: str
    langs: list
    tag: str
    run_dir: Path
    topics_dir: Path
    dense: dict | None      # the dense run's facts; None: BM25 or fusion (no full ranking)
    seconds: float
    spearman: bool = False  # also record the rank correlation of the pool's translations


class Recorder:
    """Writes one evaluated run's records into the result dir and lists it for ``unit.json``."""

    def __init__(self, out: Path, hits: int):
        self.out, self.hits = out, hits
        self.entries: list[dict] = []

    def record(self, run: Evaluated) -> None:
        t0 = time.time()
        stem = f"{slug(run.system)}.{run.budget}.{run.dataset}.{run.tag}"
        inputs = records.dense_inputs(run.dense, run.dataset, run.langs, run.topics_dir) if run.dense else None
        ranks, checks = records.relevant_ranks(run.dataset, run.run_dir, run.langs, run.topics_dir, self.hits, inputs)
        files = {"ranks": f"{stem}.ranks.tsv.gz"}
        records.write_ranks(ranks, self.out / files["ranks"])
        ntrex = tp.dataset_spec(run.dataset)["format"] == "ntrex"
        top = records.pool_top(run.run_dir, ntrex=ntrex)
        if len(top):
            files["top"] = f"{stem}.top.tsv.gz"
            records.write_tsv_gz(top, self.out / files["top"])
        if run.spearman and inputs and tp.POOL in inputs["indexes"]:
            files["spearman"] = f"{stem}.spearman.tsv.gz"
            records.write_tsv_gz(records.parallel_spearman(inputs, run.langs, ntrex), self.out / files["spearman"])
        self.entries.append({"system": run.system, "seed": run.seed, "budget": run.budget, "dataset": run.dataset,
                             "languages": run.langs, "tag": run.tag, "depth": self.hits,
                             "full_ranks": run.dense is not None, "files": files, "checks": checks,
                             "seconds": {"run": round(run.seconds, 1), "record": round(time.time() - t0, 1)}})


@dataclass(frozen=True)
class UnitRun:
    """What every step of one unit's run shares."""
    study: Study
    unit: Unit
    work: Path
    topics_dir: Path      # the clean converted topics
    metas: dict           # dataset -> its conversion's meta
    data: str | None
    recorder: Recorder
    log: Callable
    start_model: str      # the untuned model (its path): the baselines' dense row and every model's start


def topics_for(ctx: UnitRun, dataset: str, langs: list[str], tag: str) -> Path:
    """The topics an evaluation runs on: clean, or perturbed by the tag's kind (``adv-<kind>``)."""
    if tag in ("clean", "adv-clean"):
        return ctx.topics_dir
    return perturbed_topics(ctx.study, ctx.work, dataset, tag[4:], langs, ctx.metas, ctx.topics_dir)


def evaluate_model(ctx: UnitRun, system: str, seed: int, dirs: dict) -> None:
    """Every evaluation of a unit for one model (``dirs``: budget -> model dir), fused with BM25 where planned."""
    study, unit, work = ctx.study, ctx.unit, ctx.work
    runs = work / "runs" / unit.name
    for e in unit.evaluations:
        budget, dataset, langs, tag = e["budget"], e["dataset"], e["languages"], e["tag"]
        where = topics_for(ctx, dataset, langs, tag)
        d = runs / slug(system) / str(budget) / dataset / tag
        ctx.log(f"[{unit.name}] dense {system} @{budget} {dataset} {tag} ({' '.join(langs)})")
        t0 = time.time()
        info = run_dense(dataset, d, str(dirs[budget]), langs, hits=study.hits, index_root=work / "indexes" / "dense",
                         topics_dir=where, data=ctx.data, precision=study.precision)
        final = tag == "clean" and budget == study.steps
        ctx.recorder.record(Evaluated(system, seed, budget, dataset, langs, tag, d, where, info, time.time() - t0,
                                      spearman=final))
        if unit.fusion and final:
            t0 = time.time()
            bm25 = work / "runs" / "bm25" / dataset / "clean"
            run_bm25(dataset, bm25, langs, hits=study.hits, index_root=work / "indexes" / "bm25",
                     topics_dir=ctx.topics_dir, data=ctx.data)
            f = runs / f"fusion-{slug(system)}" / dataset
            run_fusion(dataset, d, bm25, f, study.fusion, depth=study.hits)
            ctx.recorder.record(Evaluated(f"BM25+{system}", seed, budget, dataset, langs, tag, f, ctx.topics_dir,
                                          None, time.time() - t0))


def run_selection(ctx: UnitRun, model: str | None, seconds: dict) -> tuple[dict, float]:
    """Train the unit's batching with every setting of [selection]; returns its part of ``unit.json`` and the
    step seconds of attempts before this run."""
    study, unit = ctx.study, ctx.unit
    base = unit_recipe(study, unit, None, model)
    tried, earlier = {}, 0.0
    for lr, tau in lr_grid(study.selection, base.train.lr, base.train.temperature):
        recipe = rc.with_changes(base, train={"steps": int(study.selection.steps), "lr": float(lr),
                                              "temperature": float(tau)})
        label = f"lr={lr:g} tau={tau:g}"
        ctx.log(f"[{unit.name}] train {label}")
        d = model_dir(ctx.work, f"selection {unit.batching} {label}", unit.seed, recipe)
        card, wall, before = train_timed(recipe, d, ctx.data)
        seconds[f"train {label}"] = round(wall, 1)
        earlier += before
        v = card.get("validation_retrieval") or {}
        scores = [v.get(k) for k in ("val_mo", "val_cr", "val_mul")]
        tried[label] = {"lr": float(lr), "temperature": float(tau), **v,
                        "mean": float(sum(scores) / 3) if None not in scores else None,
                        "model": model_record(d), "train_seconds": card["seconds"], "precision": card.get("precision")}
        copy_gz(d / "train-log.jsonl", ctx.recorder.out / f"train-log.{slug(label)}.jsonl.gz")
    return {"selection": tried, "recipe": base.to_dict()}, earlier


def run_baselines(ctx: UnitRun, start_sha: str) -> dict:
    """BM25 on every planned evaluation, then the untuned model (and its fusion); its part of ``unit.json``."""
    study = ctx.study
    for e in ctx.unit.evaluations:
        dataset, langs, tag = e["dataset"], e["languages"], e["tag"]
        where = topics_for(ctx, dataset, langs, tag)
        t0 = time.time()
        b = ctx.work / "runs" / "bm25" / dataset / tag  # the clean one is the run fusion reuses
        run_bm25(dataset, b, langs, hits=study.hits, index_root=ctx.work / "indexes" / "bm25", topics_dir=where,
                 data=ctx.data)
        ctx.recorder.record(Evaluated(BM25, 0, e["budget"], dataset, langs, tag, b, where, None, time.time() - t0))
    evaluate_model(ctx, UNTUNED, 0, {study.steps: ctx.start_model})
    return {"models": {UNTUNED: {"sha256": start_sha}}}


def run_training(ctx: UnitRun, choice: dict | None, model: str | None, seconds: dict) -> tuple[dict, float]:
    """Train the unit's model with the selection's ``choice``, evaluate every budget's export; returns its part
    of ``unit.json`` and the step seconds of attempts before this run."""
    unit, out = ctx.unit, ctx.recorder.out
    recipe = unit_recipe(ctx.study, unit, choice, model)
    d = model_dir(ctx.work, unit.label, unit.seed, recipe)
    ctx.log(f"[{unit.name}] train {unit.label} seed {unit.seed} ({recipe.train.steps} steps) -> {d.name}")
    card, wall, earlier = train_timed(recipe, d, ctx.data)
    seconds["train"] = round(wall, 1)
    dirs = {b: d / "budgets" / f"step-{b:06d}" for b in recipe.train.export_steps}
    dirs[recipe.train.steps] = d
    evaluate_model(ctx, unit.label, unit.seed, dirs)
    write_json(out / "training-card.json", portable_card(card, PROJECT_ROOT))  # no machine path in a unit
    copy_gz(d / "train-log.jsonl", out / "train-log.jsonl.gz")
    return {"recipe": recipe.to_dict(), "selection_choice": choice,
            "models": {str(b): model_record(p) for b, p in sorted(dirs.items())},
            "train_seconds": card["seconds"], "precision": card.get("precision")}, earlier


def run_merge(ctx: UnitRun, choice: dict | None, model: str | None, seconds: dict) -> tuple[dict, float]:
    """The unit's batching's model (its main unit's recipe: found finished in the work dir, else trained),
    averaged in weight space with the start model (``train merge``) and evaluated; returns its part of
    ``unit.json`` and the step seconds of attempts before this run."""
    study, unit, out = ctx.study, ctx.unit, ctx.recorder.out
    recipe = unit_recipe(study, unit, choice, model)
    d = model_dir(ctx.work, unit.batching, unit.seed, recipe)  # the main unit's directory
    ctx.log(f"[{unit.name}] train {unit.batching} seed {unit.seed} ({recipe.train.steps} steps, or found) -> {d.name}")
    card, wall, earlier = train_timed(recipe, d, ctx.data)
    seconds["train"] = round(wall, 1)
    weight = float(study.merge.weight)
    merged = d.parent / f"{d.name}-merge-{weight:g}"
    t0 = time.time()
    merge_card = merge_models(d, Path(ctx.start_model), merged, weight)
    seconds["merge"] = round(time.time() - t0, 1)
    evaluate_model(ctx, unit.label, unit.seed, {study.steps: merged})
    write_json(out / "training-card.json", portable_card(card, PROJECT_ROOT))
    copy_gz(d / "train-log.jsonl", out / "train-log.jsonl.gz")
    return {"recipe": recipe.to_dict(), "selection_choice": choice,
            "models": {str(study.steps): model_record(merged)}, "fine_tuned": model_record(d),
            "merge": {"weight": weight, "formula": merge_card["formula"], "start_sha256": merge_card["start"]["sha256"]},
            "train_seconds": card["seconds"], "precision": card.get("precision")}, earlier


def provenance(ctx: UnitRun, start_sha: str) -> dict:
    """Where the unit's numbers came from: its fingerprint, design, commit and machine."""
    study = ctx.study
    return {"evaluations": ctx.recorder.entries, "fingerprint": fingerprint(study, start_sha, ctx.data),
            "design": study_values(study),  # compared field by field once other code can't recompute the hash
            "commit": git_commit(), "machine": machine(study.precision)}


def cost(ctx: UnitRun, seconds: dict, earlier: float) -> dict:
    """What the unit cost, every earlier training attempt counted (``seconds["total"]``: this run's)."""
    train_s = sum(v for k, v in seconds.items() if k.startswith("train"))
    return {"steps": unit_steps(ctx.study, ctx.unit), "texts": unit_texts(ctx.unit, ctx.metas),
            "train_seconds": round(train_s + earlier, 1), "eval_seconds": round(seconds["total"] - train_s, 1),
            "machine_seconds": round(seconds["total"] + earlier, 1), "earlier_train_seconds": round(earlier, 1)}


def run_unit(study: Study, unit: Unit, units: list[Unit], units_root: Path, work: Path, data: str | None = None,
             model: str | None = None, log=print) -> dict:
    """Run ``unit`` (training resumes from the work dir's checkpoints) and write its result directory."""
    from ...models.encoder import resolve_start  # torch: loaded when a unit runs

    t_start = time.time()
    out = unit_dir(units_root, unit)
    out.mkdir(parents=True, exist_ok=True)
    (out / UNIT_FILE).unlink(missing_ok=True)
    topics_dir = work / "topics"
    metas = {d: convert(d, data, topics_dir, quiet=True) for d in sorted({e["dataset"] for e in unit.evaluations})}
    start = resolve_start(model or rc.load(study.recipe).model.name)
    start_sha = sha256(Path(start) / "model.safetensors")
    ctx = UnitRun(study, unit, work, topics_dir, metas, data, Recorder(out, study.hits), log, start)
    seconds: dict = {}
    earlier = 0.0  # training step seconds of attempts before this run (train_timed)
    result = {"unit": unit.to_dict(), "study": study.name, "quick": study.quick}
    if unit.kind == "selection":
        part, earlier = run_selection(ctx, model, seconds)
    elif unit.kind == "baselines":
        part = run_baselines(ctx, start_sha)
    else:
        choice = selection_choice(study, units_root, units)
        if study.selection and choice is None:
            raise RuntimeError(f"{unit.name}: the selection units are not all done")
        trainer = run_merge if unit.kind == "merge" else run_training
        part, earlier = trainer(ctx, choice, model, seconds)
        if unit.part or unit.kind == "merge":  # the model's own unit counted its training (this run's wall counts)
            earlier = 0.0
    result.update({**part, **provenance(ctx, start_sha)})
    seconds["total"] = round(time.time() - t_start, 1)
    result.update({"seconds": seconds, "cost": cost(ctx, seconds, earlier)})
    result[HASHES] = file_hashes(out)  # import and report verify them: a changed rank must not pass silently
    write_json(out / UNIT_FILE, result)  # last: its presence means done
    return result
