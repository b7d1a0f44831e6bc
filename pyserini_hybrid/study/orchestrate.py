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
from ..train import recipe as rc
from .config import BM25, UNTUNED, Study
from .ledger import Timer
from .report import write_report
from .tables import (
    diversity_table,
    grouped_table,
    headline,
    lang_subset,
    macro,
    macro_keys,
    main_table,
    miracl_table,
    slug,
)

# ---------------------------------------------------------------------------------------------
# Training


def train_models(study: Study, work: Path, data: str | None, model: str | None, log) -> dict:
    """{system: [(seed, model dir), ...]} for every variant and seed, and the diversity models."""
    from ..train.loop import train

    base = rc.load(study.recipe)
    changes = {"train": {"steps": study.steps}}
    if model:
        changes["model"] = {"name": str(model)}
    base = rc.with_changes(base, **changes)
    trained_langs = base.data.languages
    jobs = []
    for name, alpha in study.variants.items():
        for seed in study.seeds:
            jobs.append((name, seed, rc.with_changes(base, train={"alpha": alpha, "seed": seed})))
    for langs in study.diversity:
        jobs.append((f"hybrid [{'+'.join(langs)}]", study.seeds[0],
                     rc.with_changes(base, train={"alpha": study.variants["hybrid"], "seed": study.seeds[0]},
                                     data={"languages": list(langs)})))
    models: dict[str, list] = {}
    for i, (name, seed, recipe) in enumerate(jobs, 1):
        out = work / "models" / f"{name.replace(' ', '').replace('[', '-').replace(']', '').replace('+', '-')}" \
                                f"-seed{seed}-{recipe.fingerprint()}"
        log(f"[train {i}/{len(jobs)}] {name} seed {seed} -> {out.name}")
        train(recipe, out, data, quiet=True)
        models.setdefault(name, []).append((seed, out))
    return {"models": models, "trained_languages": trained_langs, "base": base}


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


def system_runs(study: Study, work: Path, trained: dict, metas: dict, topics_dir: Path, data: str | None,
                model: str | None, timer: Timer, log, tag: str = "clean", only: list[str] | None = None,
                datasets: list[str] | None = None, systems: set | None = None) -> dict:
    """{(system, seed, dataset): (result, per-query)} for BM25, untuned, every trained model and fusion."""
    from ..retrieval.bm25 import run_bm25
    from ..retrieval.dense import run_dense
    from ..retrieval.fusion import run_fusion

    out: dict = {}
    runs = work / "runs" / tag
    idx = work / "indexes"
    dense_models = [(UNTUNED, 0, model)] + [(name, seed, str(d)) for name, items in trained["models"].items()
                                             for seed, d in items]
    if systems is not None:
        dense_models = [m for m in dense_models if (m[0], m[1]) in systems or m[0] in systems]
    for dataset in datasets or study.datasets:
        langs = lang_subset(dataset, study, metas, only)
        models = [m for m in dense_models if runs_on(study, m[0], m[1], dataset)]
        if not langs:
            continue
        bm25_dir = runs / "bm25" / dataset
        with timer(f"{tag}: BM25 runs"):
            run_bm25(dataset, bm25_dir, langs, hits=study.hits, index_root=idx / "bm25", topics_dir=topics_dir, data=data)
        with timer(f"{tag}: evaluation"):
            out[(BM25, 0, dataset)] = evaluate_cached(dataset, bm25_dir, langs, topics_dir)
        for name, seed, path in models:
            d = runs / "dense" / f"{slug(name)}-{seed}" / dataset
            log(f"[{tag}] dense {name} seed {seed} on {dataset} ({' '.join(langs)})")
            with timer(f"{tag}: dense runs"):
                run_dense(dataset, d, path, langs, hits=study.hits, index_root=idx / "dense", topics_dir=topics_dir,
                          data=data)
            with timer(f"{tag}: evaluation"):
                out[(name, seed, dataset)] = evaluate_cached(dataset, d, langs, topics_dir)
            if name in (UNTUNED, "hybrid") and systems is None:
                f = runs / f"fusion-{study.fusion}" / f"{slug(name)}-{seed}" / dataset
                with timer(f"{tag}: fusion runs"):
                    run_fusion(dataset, d, bm25_dir, f, study.fusion, depth=study.hits)
                with timer(f"{tag}: evaluation"):
                    out[(f"BM25+{name}", seed, dataset)] = evaluate_cached(dataset, f, langs, topics_dir)
    return out


def runs_on(study: Study, name: str, seed: int, dataset: str) -> bool:
    """Whether a model is run on a dataset: the study file may spend the second seed and the diversity
    models only where their tables need them (MIRACL-mini's 21k passages cost the most to encode)."""
    if name.startswith("hybrid ["):
        return study.diversity_datasets is None or dataset in study.diversity_datasets
    if name != UNTUNED and seed != study.seeds[0]:
        return study.extra_seeds_on is None or dataset in study.extra_seeds_on
    return True




def adversarial(study: Study, work: Path, trained: dict, metas: dict, topics_dir: Path, data: str | None,
                model: str, timer: Timer, log) -> dict:
    """Perturbed topics of the chosen languages; mAP drop of each system against its clean runs."""
    from ..core.trec import read_topics, write_topics
    from ..data.perturb import perturb_topics

    a = study.adversarial
    dataset, langs, seed = a["dataset"], a.get("languages", []), int(a.get("seed", 0))
    langs = [x for x in langs if x in metas[dataset]["languages"]]
    if len(langs) < 2:
        return {}
    systems = {BM25, UNTUNED, *[(n, study.seeds[0]) for n in study.variants]}
    sub = Study(**{**study.__dict__, "datasets": [dataset], "languages": langs})
    clean = system_runs(sub, work, trained, metas, topics_dir, data, model, timer, log, tag="adv-clean",
                        systems=systems)
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
        noisy = system_runs(sub, work, trained, metas, adv, data, model, timer, log, tag=f"adv-{kind}",
                            systems=systems)
        groups = macro_keys(dataset, langs)
        for key in sorted(noisy):
            name = key[0] if key[0] in (BM25, UNTUNED) else key[0]
            row = table.setdefault(f"{kind}: {name}", {})
            for g, keys in groups.items():
                before, after = macro(clean[key][0], keys, "AP"), macro(noisy[key][0], keys, "AP")
                if before is not None and after is not None:
                    row[f"{g} clean"] = {"mean": before}
                    row[f"{g} perturbed"] = {"mean": after}
                    row[f"{g} drop"] = {"mean": before - after}
    return table


# ---------------------------------------------------------------------------------------------
# The study


def run_study(study: Study, work: Path, report_dir: Path, data: str | None = None, model: str | None = None,
              log=print) -> dict:
    timer = Timer(ledger=work / "wall-seconds.json")
    t0 = time.time()
    topics_dir = work / "topics"
    with timer("topics"):
        metas = {d: convert(d, data, topics_dir, quiet=True)
                 for d in sorted(set(study.datasets) | ({study.adversarial["dataset"]} if study.adversarial else set()))}
    with timer("training"):
        trained = train_models(study, work, data, model, log)  # model None: the recipe's own start
    if model is None:  # the untuned baseline is the recipe's start model
        from ..models.encoder import resolve_start

        model = resolve_start(trained["base"].model.name)
    with timer("clean runs"):
        results = system_runs(study, work, trained, metas, topics_dir, data, model, timer, log)
    systems = [BM25, UNTUNED, *study.variants, f"BM25+{UNTUNED}", "BM25+hybrid"]
    weights = Path(model) / "model.safetensors"
    report = {"study": study.source, "quick": study.quick, "seeds": study.seeds, "steps": study.steps,
              "hits": study.hits, "fusion": study.fusion, "systems": systems,
              "start_model": {"path": str(model), "sha256": sha256(weights)[:16] if weights.is_file() else None},
              "tables": {}, "models": {},
              "commands": {f"{k[0]} ({k[2]})": load_json(v[2] / "run-meta.json").get("commands", [])
                           for k, v in sorted(results.items()) if k[1] in (0, study.seeds[0])}}
    report["tables"]["main"] = main_table(study, results, metas, systems)
    report["headline"] = headline(study, report["tables"]["main"])
    report["tables"]["miracl"] = miracl_table(study, results, metas, systems)
    with timer("robustness"):
        report["tables"]["unseen"] = grouped_table(study, results, metas, trained, "unseen")
        report["tables"]["distance"] = grouped_table(study, results, metas, trained, "distance")
        report["tables"]["diversity"] = diversity_table(study, results, metas, trained)
    if study.adversarial:
        with timer("adversarial"):
            report["tables"]["adversarial"] = adversarial(study, work, trained, metas, topics_dir, data, model, timer, log)
    first = next(d for items in trained["models"].values() for _, d in items)
    report["data"] = load_json(first / "training-card.json")["data"]  # the variants share these (diversity models use subsets)
    for name, items in trained["models"].items():
        for seed, d in items:
            card = load_json(d / "training-card.json")
            report["models"][f"{name} seed {seed}"] = {
                "dir": str(d), "sha256": sha256(d / "model.safetensors")[:16], "train_seconds": card["seconds"],
                "realised_alpha": card["batches"]["realised_alpha"], "best_val_loss": card["best_val_loss"],
                "exported_step": card["exported_step"]}
    report["seconds"] = {**timer.seconds, "total": round(time.time() - t0, 1)}
    every = timer.totals()
    report["seconds_all_invocations"] = {**every, "sum": round(sum(every.values()), 1)}
    # the ledger only sees trainings it was running for (a cached one costs it nothing); the cards saw them all
    report["train_seconds_all_models"] = round(sum(m["train_seconds"] for m in report["models"].values()), 1)
    write_report(report, study, results, metas, report_dir)
    return report
