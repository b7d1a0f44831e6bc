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
from .. import records
from ..config import BM25, UNTUNED, Study, slug
from ..cost import unit_steps, unit_texts
from ..provenance import fingerprint, git_commit, machine, study_values
from ..recipes import unit_recipe
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
    seed = int(study.adversarial.get("seed", 0))
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


class Recorder:
    """Writes one evaluated run's records into the result dir and lists it for ``unit.json``."""

    def __init__(self, out: Path, study: Study, topics_dir: Path, log):
        self.out, self.study, self.topics_dir, self.log = out, study, topics_dir, log
        self.entries: list[dict] = []

    def record(self, system: str, seed: int, budget: int, dataset: str, langs: list[str], tag: str,
               run_dir: Path, topics_dir: Path, dense: dict | None, seconds: float, spearman: bool = False) -> None:
        t0 = time.time()
        stem = f"{slug(system)}.{budget}.{dataset}.{tag}"
        inputs = records.dense_inputs(dense, dataset, langs, topics_dir) if dense else None
        ranks, checks = records.relevant_ranks(dataset, run_dir, langs, topics_dir, self.study.hits, inputs)
        files = {"ranks": f"{stem}.ranks.tsv.gz"}
        records.write_ranks(ranks, self.out / files["ranks"])
        top = records.pool_top(run_dir)
        if len(top):
            files["top"] = f"{stem}.top.tsv.gz"
            records.write_tsv_gz(top, self.out / files["top"])
        if spearman and inputs and tp.POOL in inputs["indexes"]:
            files["spearman"] = f"{stem}.spearman.tsv.gz"
            records.write_tsv_gz(records.parallel_spearman(inputs, langs), self.out / files["spearman"])
        self.entries.append({"system": system, "seed": seed, "budget": budget, "dataset": dataset,
                             "languages": langs, "tag": tag, "depth": self.study.hits,
                             "full_ranks": dense is not None, "files": files, "checks": checks,
                             "seconds": {"run": round(seconds, 1), "record": round(time.time() - t0, 1)}})


def evaluate_model(study: Study, unit: Unit, system: str, seed: int, dirs: dict, work: Path, topics_dir: Path,
                   metas: dict, data: str | None, rec: Recorder, log) -> None:
    """Every evaluation of a unit for one model (``dirs``: budget -> model dir)."""
    runs = work / "runs" / unit.name
    for e in unit.evaluations:
        budget, dataset, langs, tag = e["budget"], e["dataset"], e["languages"], e["tag"]
        where = topics_dir if tag in ("clean", "adv-clean") else \
            perturbed_topics(study, work, dataset, tag[4:], langs, metas, topics_dir)
        d = runs / slug(system) / str(budget) / dataset / tag
        log(f"[{unit.name}] dense {system} @{budget} {dataset} {tag} ({' '.join(langs)})")
        t0 = time.time()
        info = run_dense(dataset, d, str(dirs[budget]), langs, hits=study.hits, index_root=work / "indexes" / "dense",
                         topics_dir=where, data=data, precision=study.precision)
        rec.record(system, seed, budget, dataset, langs, tag, d, where, info, time.time() - t0,
                   spearman=tag == "clean" and budget == study.steps)
        if unit.fusion and tag == "clean" and budget == study.steps:
            t0 = time.time()
            bm25 = work / "runs" / "bm25" / dataset / "clean"
            run_bm25(dataset, bm25, langs, hits=study.hits, index_root=work / "indexes" / "bm25",
                     topics_dir=topics_dir, data=data)
            f = runs / f"fusion-{slug(system)}" / dataset
            run_fusion(dataset, d, bm25, f, study.fusion, depth=study.hits)
            rec.record(f"BM25+{system}", seed, budget, dataset, langs, tag, f, topics_dir, None, time.time() - t0)


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
    seconds: dict = {}
    earlier = 0.0  # training step seconds of attempts before this run (train_timed)
    rec = Recorder(out, study, topics_dir, log)
    result = {"unit": unit.to_dict(), "study": study.name, "quick": study.quick}

    if unit.kind == "selection":
        base = unit_recipe(study, unit, None, model)
        tried = {}
        for lr in study.selection.get("lr", [base.train.lr]):
            for tau in study.selection.get("temperature", [base.train.temperature]):
                recipe = rc.with_changes(base, train={"steps": int(study.selection["steps"]), "lr": float(lr),
                                                      "temperature": float(tau)})
                label = f"lr={lr:g} tau={tau:g}"
                log(f"[{unit.name}] train {label}")
                d = model_dir(work, f"selection {unit.batching} {label}", unit.seed, recipe)
                card, wall, before = train_timed(recipe, d, data)
                seconds[f"train {label}"] = round(wall, 1)
                earlier += before
                v = card.get("validation_retrieval") or {}
                scores = [v.get(k) for k in ("val_mo", "val_cr", "val_mul")]
                tried[label] = {"lr": float(lr), "temperature": float(tau), **v,
                                "mean": float(sum(scores) / 3) if None not in scores else None,
                                "model": model_record(d), "train_seconds": card["seconds"],
                                "precision": card.get("precision")}
                copy_gz(d / "train-log.jsonl", out / f"train-log.{slug(label)}.jsonl.gz")
        result["selection"] = tried
        result["recipe"] = base.to_dict()
    elif unit.kind == "baselines":
        for e in unit.evaluations:
            dataset, langs, tag = e["dataset"], e["languages"], e["tag"]
            where = topics_dir if tag in ("clean", "adv-clean") else \
                perturbed_topics(study, work, dataset, tag[4:], langs, metas, topics_dir)
            t0 = time.time()
            b = work / "runs" / "bm25" / dataset / tag if tag != "clean" or langs != metas[dataset]["languages"] \
                else work / "runs" / "bm25" / dataset / "clean"
            run_bm25(dataset, b, langs, hits=study.hits, index_root=work / "indexes" / "bm25", topics_dir=where,
                     data=data)
            rec.record(BM25, 0, e["budget"], dataset, langs, tag, b, where, None, time.time() - t0)
        evaluate_model(study, unit, UNTUNED, 0, {study.steps: start}, work, topics_dir, metas, data, rec, log)
        result["models"] = {UNTUNED: {"sha256": start_sha}}
    else:
        choice = selection_choice(study, units_root, units)
        if study.selection and choice is None:
            raise RuntimeError(f"{unit.name}: the selection units are not all done")
        recipe = unit_recipe(study, unit, choice, model)
        d = model_dir(work, unit.label, unit.seed, recipe)
        log(f"[{unit.name}] train {unit.label} seed {unit.seed} ({recipe.train.steps} steps) -> {d.name}")
        card, wall, earlier = train_timed(recipe, d, data)
        seconds["train"] = round(wall, 1)
        dirs = {b: d / "budgets" / f"step-{b:06d}" for b in recipe.train.export_steps}
        dirs[recipe.train.steps] = d
        evaluate_model(study, unit, unit.label, unit.seed, dirs, work, topics_dir, metas, data, rec, log)
        write_json(out / "training-card.json", portable_card(card, PROJECT_ROOT))  # no machine path in a unit
        copy_gz(d / "train-log.jsonl", out / "train-log.jsonl.gz")
        result.update({"recipe": recipe.to_dict(), "selection_choice": choice,
                       "models": {str(b): model_record(p) for b, p in sorted(dirs.items())},
                       "train_seconds": card["seconds"], "precision": card.get("precision")})
    result["evaluations"] = rec.entries
    result["fingerprint"] = fingerprint(study, start_sha, data)
    result["design"] = study_values(study)  # compared field by field once other code can't recompute the hash
    result["commit"] = git_commit()
    result["machine"] = machine(study.precision)
    seconds["total"] = round(time.time() - t_start, 1)
    result["seconds"] = seconds
    train_s = sum(v for k, v in seconds.items() if k.startswith("train"))
    result["cost"] = {"steps": unit_steps(study, unit), "texts": unit_texts(unit, metas),
                      "train_seconds": round(train_s + earlier, 1),
                      "eval_seconds": round(seconds["total"] - train_s, 1),
                      "machine_seconds": round(seconds["total"] + earlier, 1),
                      "earlier_train_seconds": round(earlier, 1)}
    result[HASHES] = file_hashes(out)  # import and report verify them: a changed rank must not pass silently
    write_json(out / UNIT_FILE, result)  # last: its presence means done
    return result
