"""The study: which batching to train with? One command, from one recipe, seeds and step budget.

    python -m pyserini_hybrid.study studies/me5-small-cpu.toml [--quick] [--model DIR]

Trains X-X-mono, X-Y and hybrid(α) (every seed), and hybrid on subsets of the training languages; runs
them, untuned multilingual-e5-small, BM25 and BM25+dense fusion through the same Pyserini-based paths as
the user-facing commands (``dense.run_dense``, ``bm25.run_bm25``, ``fusion.run_fusion``); evaluates with
``evaluate``; tests hybrid against each baseline over queries (paired randomisation); answers the
robustness questions (unseen languages, distant and low-resource pairs, perturbed queries, training-
language diversity); and writes ``reports/<name>[-quick]/report.md`` with its tables, plots and
``report.json`` — every number in the report is read from that JSON, never typed.

Everything is cached by content (models by recipe fingerprint, indexes by model and data, runs by their
``run-meta.json``, evaluations by the run's meta), so a re-run or an added system costs only what
changed, and a killed study resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from ..core.files import atomic_write, load_json, sha256
from ..data import topic_sets as tp
from ..data.convert import convert
from .config import BM25, UNTUNED, Study
from .ledger import Timer
from .report import write_report
from .tables import (
    curves_table,
    diversity_table,
    grouped_table,
    headline,
    lang_subset,
    macro,
    macro_keys,
    main_table,
    miracl_table,
    native_table,
    slug,
    sweep_table,
    validation_curves,
)
from .training import train_models

# ---------------------------------------------------------------------------------------------
# Runs and evaluation (cached)


def evaluate_cached(dataset: str, run_dir: Path, langs: list[str], topics_dir: Path) -> tuple:
    """(results, per-query table, run dir), the evaluation recomputed only when the run-meta changed."""
    from ..evaluate.measures import evaluate_run_dir
    from ..evaluate.render import write_outputs

    key = hashlib.sha256((run_dir / "run-meta.json").read_bytes() + json.dumps(langs).encode()).hexdigest()[:16]
    out = run_dir / "eval"
    if (out / "key.txt").is_file() and (out / "key.txt").read_text().strip() == key:
        result = load_json(out / "results.json")
    else:
        result = evaluate_run_dir(dataset, run_dir, langs, topics_dir)
        (out / "key.txt").unlink(missing_ok=True)
        write_outputs(result, out, run_dir.parent.name)
        (out / "key.txt").write_text(key)
        result = load_json(out / "results.json")
    per_query = pd.read_csv(out / "per-query.tsv", sep="\t", dtype={"query_id": str})
    return result, per_query, run_dir


def dense_jobs(study: Study, trained: dict, metas: dict, untuned: str) -> list[tuple]:
    """(label, seed, model dir, dataset, languages) of every dense run the report needs."""
    jobs = []
    largest = study.steps
    for dataset in study.datasets:
        langs = lang_subset(dataset, study, metas)
        curve = [x for x in study.curve_languages.get(dataset, langs) if x in langs] or langs
        jobs.append((UNTUNED, 0, untuned, dataset, langs))
        for label, seed, dirs in trained["runs"]:
            main = label in study.variants
            if dataset == "miracl-mini":
                first = study.seeds[:study.miracl_seeds]
                if (main and seed in first) or label.endswith("+native") or (
                        label.startswith("hybrid [") and dataset in (study.diversity_datasets or [dataset])):
                    jobs.append((label, seed, str(dirs[largest]), dataset, langs))
                continue
            if label.startswith("hybrid [") and study.diversity_datasets is not None \
                    and dataset not in study.diversity_datasets:
                continue
            jobs.append((label, seed, str(dirs[largest]), dataset, langs))
            if main:  # the budget curves, on the curve languages (the largest budget too, for one scale)
                for budget, path in sorted(dirs.items()):
                    if budget != largest or curve != langs:
                        jobs.append((f"{label} @{budget}", seed, str(path), dataset, curve))
    return jobs


def system_runs(study: Study, work: Path, jobs: list[tuple], metas: dict, topics_dir: Path, data: str | None,
                timer: Timer, log, tag: str = "clean", fusion_of: tuple = (UNTUNED, "hybrid")) -> dict:
    """{(system, seed, dataset): (result, per-query, run dir)} for BM25, every dense job and its fusion."""
    from ..retrieval.bm25 import run_bm25
    from ..retrieval.dense import run_dense
    from ..retrieval.fusion import run_fusion

    out: dict = {}
    runs = work / "runs" / tag
    idx = work / "indexes"
    for dataset in sorted({j[3] for j in jobs}):
        langs = lang_subset(dataset, study, metas)
        bm25_dir = runs / "bm25" / dataset
        with timer(f"{tag}: BM25 runs"):
            run_bm25(dataset, bm25_dir, langs, hits=study.hits, index_root=idx / "bm25", topics_dir=topics_dir, data=data)
        with timer(f"{tag}: evaluation"):
            out[(BM25, 0, dataset)] = evaluate_cached(dataset, bm25_dir, langs, topics_dir)
        for label, seed, path, _, job_langs in [j for j in jobs if j[3] == dataset]:
            d = runs / "dense" / f"{slug(label)}-{seed}" / dataset
            log(f"[{tag}] dense {label} seed {seed} on {dataset} ({' '.join(job_langs)})")
            with timer(f"{tag}: dense runs"):
                run_dense(dataset, d, path, job_langs, hits=study.hits, index_root=idx / "dense",
                          topics_dir=topics_dir, data=data)
            with timer(f"{tag}: evaluation"):
                out[(label, seed, dataset)] = evaluate_cached(dataset, d, job_langs, topics_dir)
            if label in fusion_of and job_langs == langs:
                f = runs / f"fusion-{study.fusion}" / f"{slug(label)}-{seed}" / dataset
                with timer(f"{tag}: fusion runs"):
                    run_fusion(dataset, d, bm25_dir, f, study.fusion, depth=study.hits)
                with timer(f"{tag}: evaluation"):
                    out[(f"BM25+{label}", seed, dataset)] = evaluate_cached(dataset, f, langs, topics_dir)
    return out


def adversarial(study: Study, work: Path, jobs: list[tuple], metas: dict, topics_dir: Path, data: str | None,
                timer: Timer, log, results: dict | None = None) -> dict:
    """Perturbed topics of the chosen languages; mAP drop of each system against its clean runs (the main
    runs in ``results`` when they cover exactly these languages, else clean runs of these languages)."""
    from ..core.trec import read_topics, write_topics
    from ..data.perturb import perturb_topics

    a = study.adversarial
    dataset, langs, seed = a["dataset"], a.get("languages", []), int(a.get("seed", 0))
    langs = [x for x in langs if x in metas[dataset]["languages"]]
    if len(langs) < 2:
        return {}
    sub = Study(**{**study.__dict__, "datasets": [dataset], "languages": langs})
    jobs = [(label, seed, path, d, langs) for label, seed, path, d, _ in jobs
            if d == dataset and (label == UNTUNED or (label in study.variants and seed == study.seeds[0]))]
    wanted = [(BM25, 0, dataset)] + [(label, seed, dataset) for label, seed, *_ in jobs]
    if results and set(langs) == set(lang_subset(dataset, study, metas)) and all(k in results for k in wanted):
        clean = {k: results[k] for k in wanted}  # the same runs: same topics, languages, depth and models
    else:
        clean = system_runs(sub, work, jobs, metas, topics_dir, data, timer, log, tag="adv-clean", fusion_of=())
    parallel = {x: read_topics(tp.topics_path(dataset, x, topics_dir)) for x in langs}
    parallel = {x: {q.split("-", 1)[1]: t for q, t in v.items()} for x, v in parallel.items()}
    table = {}
    for kind in a.get("kinds", []):
        adv = work / "topics-adversarial" / kind
        src = topics_dir / dataset
        dst = adv / dataset
        if not (dst / "meta.json").is_file():
            tmp = adv / f".{dataset}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            changed = {f"topics.{x}.tsv" for x in langs} | {tp.topics_path(dataset, "all", topics_dir).name}
            for item in src.iterdir():  # corpus, qrels, meta and other languages' topics shared
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
        noisy = system_runs(sub, work, jobs, metas, adv, data, timer, log, tag=f"adv-{kind}", fusion_of=())
        groups = macro_keys(dataset, langs)
        for key in sorted(noisy):
            row = table.setdefault(f"{kind}: {key[0]}", {})
            for g, keys in groups.items():
                before, after = macro(clean[key][0], keys, "AP"), macro(noisy[key][0], keys, "AP")
                if before is not None and after is not None:
                    row[f"{g} clean"] = {"mean": before}
                    row[f"{g} perturbed"] = {"mean": after}
                    row[f"{g} drop"] = {"mean": before - after}
    return table


# ---------------------------------------------------------------------------------------------
# The study


def relative(path, *roots: Path) -> str:
    """A path as the report may print it: relative to the project or the study cache, never the machine's."""
    path = Path(path).resolve()
    for root, name in roots:
        if path.is_relative_to(root.resolve()):
            return f"{name}/{path.relative_to(root.resolve())}" if name else str(path.relative_to(root.resolve()))
    return path.name


def run_study(study: Study, work: Path, report_dir: Path, data: str | None = None, model: str | None = None,
              log=print) -> dict:
    from ..core.files import PROJECT_ROOT

    timer = Timer(ledger=work / "wall-seconds.json")
    t0 = time.time()
    topics_dir = work / "topics"
    roots = ((work, "<cache>"), (PROJECT_ROOT, ""))
    with timer("topics"):
        metas = {d: convert(d, data, topics_dir, quiet=True)
                 for d in sorted(set(study.datasets) | ({study.adversarial["dataset"]} if study.adversarial else set()))}
    with timer("training"):
        trained = train_models(study, work, data, model, log)  # model None: the recipe's own start
    if model is None:  # the untuned baseline is the recipe's start model
        from ..models.encoder import resolve_start

        model = resolve_start(trained["base"].model.name)
    jobs = dense_jobs(study, trained, metas, str(model))
    with timer("clean runs"):
        results = system_runs(study, work, jobs, metas, topics_dir, data, timer, log)
    systems = [BM25, UNTUNED, *study.variants, f"BM25+{UNTUNED}", "BM25+hybrid"]
    weights = Path(model) / "model.safetensors"
    report = {"study": relative(study.source, *roots), "quick": study.quick, "seeds": study.seeds,
              "budgets": study.budgets, "steps": study.steps, "hits": study.hits, "fusion": study.fusion,
              "systems": systems, "training_data": study.training_data,
              "recipe": trained["base"].to_dict(), "selection": trained["selection"],
              "start_model": {"path": relative(model, *roots), "sha256": sha256(weights)[:16] if weights.is_file() else None},
              "tables": {}, "models": {},
              "commands": {f"{k[0]} ({k[2]})": [c.replace(str(work.resolve()), "<cache>").replace(
                  str(PROJECT_ROOT.resolve()) + "/", "") for c in load_json(v[2] / "run-meta.json").get("commands", [])]
                           for k, v in sorted(results.items()) if k[1] in (0, study.seeds[0]) and "@" not in k[0]}}
    report["tables"]["main"] = main_table(study, results, metas, systems)
    report["headline"] = headline(study, report["tables"]["main"])
    report["tables"]["miracl"] = miracl_table(study, results, metas, systems + [
        f"{n} +native" for n in study.native_variants])
    report["tables"]["curves"] = curves_table(study, results, metas)
    report["tables"]["sweep"] = sweep_table(study, results, metas)
    report["tables"]["native"] = native_table(study, results, metas)
    report["tables"]["validation"] = validation_curves(trained, study)
    with timer("robustness"):
        report["tables"]["unseen"] = grouped_table(study, results, metas, trained, "unseen")
        report["tables"]["distance"] = grouped_table(study, results, metas, trained, "distance")
        report["tables"]["diversity"] = diversity_table(study, results, metas, trained)
    if study.adversarial:
        with timer("adversarial"):
            report["tables"]["adversarial"] = adversarial(study, work, jobs, metas, topics_dir, data, timer, log,
                                                         results)
    for label, seed, dirs in trained["runs"]:
        d = dirs[max(dirs)]
        card = load_json(d / "training-card.json")
        report["models"][f"{label} seed {seed}"] = {
            "dir": relative(d, *roots), "sha256": sha256(d / "model.safetensors")[:16],
            "train_seconds": card["seconds"], "steps": card["steps"], "precision": card.get("precision"),
            "realised_alpha": card["batches"]["realised_alpha"], "drawn_datasets": card["batches"].get("datasets"),
            "drawn_languages": card["batches"].get("languages"), "train_pairs": card["train_pairs"],
            "validation_retrieval": card.get("validation_retrieval"), "budgets": sorted(dirs)}
    report["data"] = {label: load_json(dirs[max(dirs)] / "training-card.json")["data"]
                      for label, seed, dirs in trained["runs"] if seed == study.seeds[0]}
    report["seconds"] = {**timer.seconds, "total": round(time.time() - t0, 1)}
    every = timer.totals()
    report["seconds_all_invocations"] = {**every, "sum": round(sum(every.values()), 1)}
    # the ledger only sees trainings it was running for (a cached one costs it nothing); the cards saw them all
    report["train_seconds_all_models"] = round(sum(m["train_seconds"] for m in report["models"].values()), 1)
    write_report(report, study, results, metas, report_dir)
    return report
