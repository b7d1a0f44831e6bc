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

import argparse
import hashlib
import json
import shutil
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import recipe as rc
from . import topics as tp
from .errors import InputError, cli
from .files import PROJECT_ROOT, atomic_write, load_json, sha256, write_json

LAREQA = ("xquad-r", "mlqa-r")
UNTUNED, BM25 = "mE5-small", "BM25"


@dataclass
class Study:
    name: str
    recipe: Path
    seeds: list
    steps: int
    datasets: list
    languages: list
    hits: int
    fusion: str
    samples: int
    variants: dict
    diversity: list
    adversarial: dict
    extra_seeds_on: list | None = None     # datasets where seeds after the first are run (None: all)
    diversity_datasets: list | None = None  # datasets the diversity models are run on (None: all)
    quick: bool = False
    source: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, quick: bool = False) -> "Study":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: study file not found")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"{path}: not a TOML study file ({e})") from None
        known = {"study", "variants", "diversity", "adversarial", "quick"}
        if set(raw) - known:
            raise InputError(f"{path}: unknown section(s) {', '.join(sorted(set(raw) - known))}")
        s = raw.get("study", {})
        try:
            study = cls(name=s["name"], recipe=PROJECT_ROOT / s["recipe"] if not Path(s["recipe"]).is_absolute()
                        else Path(s["recipe"]), seeds=list(s["seeds"]), steps=int(s["steps"]),
                        datasets=list(s["datasets"]), languages=list(s.get("languages", [])),
                        hits=int(s.get("hits", 1000)), fusion=s.get("fusion", "rrf"),
                        samples=int(s.get("significance_samples", 10000)),
                        variants={k: float(v) for k, v in raw.get("variants", {}).items()},
                        diversity=[list(x) for x in raw.get("diversity", {}).get("sets", [])],
                        adversarial=dict(raw.get("adversarial", {})), source=str(path),
                        extra_seeds_on=list(s["extra_seeds_on"]) if "extra_seeds_on" in s else None,
                        diversity_datasets=list(raw["diversity"]["datasets"])
                        if "datasets" in raw.get("diversity", {}) else None)
        except KeyError as e:
            raise InputError(f"{path}: [study] needs {e}") from None
        for key, names in (("[study] datasets", study.datasets), ("[study] extra_seeds_on", study.extra_seeds_on),
                           ("[diversity] datasets", study.diversity_datasets)):
            unknown = sorted(set(names or []) - set(tp.manifest()))
            if unknown:
                raise InputError(f"{path}: {key}: unknown dataset(s) {', '.join(unknown)} "
                                 f"(choose from {', '.join(tp.manifest())})")
        if "hybrid" not in study.variants or not study.seeds:
            raise InputError(f"{path}: [variants] must include \"hybrid\" and [study] at least one seed")
        for name, alpha in study.variants.items():
            if not 0.0 <= alpha <= 1.0:
                raise InputError(f"{path}: variant {name!r}: alpha must lie in [0, 1], got {alpha}")
        from .pairs import SOURCES

        parallel = [set(s["files"]) for s in SOURCES.values() if s["parallel"]]
        for langs in study.diversity + [list(x) for x in raw.get("quick", {}).get("diversity", [])]:
            if study.variants["hybrid"] < 1.0 and not any(len(p & set(langs)) >= 2 for p in parallel):
                raise InputError(f"{path}: diversity set {langs}: X-Y batches need two languages of a parallel "
                                 f"dataset ({'; '.join(', '.join(sorted(p)) for p in parallel)})")
        if quick:
            q = raw.get("quick", {})
            study.quick = True
            study.steps = int(q.get("steps", 3))
            study.seeds = list(q.get("seeds", study.seeds[:2]))
            study.datasets = list(q.get("datasets", study.datasets))
            study.languages = list(q.get("languages", study.languages))
            study.hits = int(q.get("hits", study.hits))
            study.samples = int(q.get("significance_samples", 999))
            study.diversity = [list(x) for x in q.get("diversity", study.diversity[:1])]
            if study.adversarial:
                a = study.adversarial
                a["languages"] = list(q.get("adversarial_languages", a.get("languages", [])))
                a["kinds"] = list(q.get("adversarial_kinds", a.get("kinds", [])))
        return study


class Timer:
    """Wall time per stage. With a ledger (a JSON file in the cache) every finished innermost block is also
    added to totals that outlive the process, so a study run in pieces (killed, resumed) can still say what
    all its pieces cost; a block cut short by a kill is not counted. Only innermost blocks go to the ledger,
    so its entries add up without counting a stage twice."""

    def __init__(self, ledger: Path | None = None):
        self.seconds: dict[str, float] = {}
        self.ledger = ledger
        self._open: list[list[bool]] = []  # per open block: [has an inner block]

    def totals(self) -> dict[str, float]:
        return load_json(self.ledger) if self.ledger is not None and self.ledger.is_file() else {}

    def __call__(self, name: str):
        timer = self

        class _Block:
            def __enter__(self):
                if timer._open:
                    timer._open[-1][0] = True
                timer._open.append([False])
                self.t = time.time()

            def __exit__(self, *exc):
                dt = time.time() - self.t
                has_inner = timer._open.pop()[0]
                timer.seconds[name] = round(timer.seconds.get(name, 0.0) + dt, 1)
                if timer.ledger is not None and not has_inner:
                    totals = timer.totals()
                    totals[name] = round(totals.get(name, 0.0) + dt, 1)
                    timer.ledger.parent.mkdir(parents=True, exist_ok=True)
                    write_json(timer.ledger, totals)
        return _Block()


# ---------------------------------------------------------------------------------------------
# Training


def train_models(study: Study, work: Path, data: str | None, model: str | None, log) -> dict:
    """{system: [(seed, model dir), ...]} for every variant and seed, and the diversity models."""
    from .trainer import train

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
    from .evaluate import evaluate_run_dir, write_outputs

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


def lang_subset(dataset: str, study: Study, metas: dict, only: list[str] | None = None) -> list[str]:
    langs = [x for x in metas[dataset]["languages"] if not study.languages or x in study.languages]
    return [x for x in langs if not only or x in only]


def system_runs(study: Study, work: Path, trained: dict, metas: dict, topics_dir: Path, data: str | None,
                model: str | None, timer: Timer, log, tag: str = "clean", only: list[str] | None = None,
                datasets: list[str] | None = None, systems: set | None = None) -> dict:
    """{(system, seed, dataset): (result, per-query)} for BM25, untuned, every trained model and fusion."""
    from .bm25 import run_bm25
    from .dense import run_dense
    from .fusion import run_fusion

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
            d = runs / "dense" / f"{_slug(name)}-{seed}" / dataset
            log(f"[{tag}] dense {name} seed {seed} on {dataset} ({' '.join(langs)})")
            with timer(f"{tag}: dense runs"):
                run_dense(dataset, d, path, langs, hits=study.hits, index_root=idx / "dense", topics_dir=topics_dir,
                          data=data)
            with timer(f"{tag}: evaluation"):
                out[(name, seed, dataset)] = evaluate_cached(dataset, d, langs, topics_dir)
            if name in (UNTUNED, "hybrid") and systems is None:
                f = runs / f"fusion-{study.fusion}" / f"{_slug(name)}-{seed}" / dataset
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


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()


# ---------------------------------------------------------------------------------------------
# Numbers: per-query series, macro averages, significance


def macro_keys(dataset: str, langs: list[str]) -> dict[str, list[str]]:
    if dataset in LAREQA:
        return {"Mo": [f"{x}-{x}" for x in langs], "Cr": [f"{x}-{y}" for x in langs for y in langs if x != y],
                "Mul": [f"{x}-{tp.POOL}" for x in langs]}
    return {"all": [f"{x}-{x}" for x in langs]}


def series(per_query: pd.DataFrame, settings: list[str], measure: str) -> pd.Series:
    """Per-query values over the given settings, keyed 'setting|query' (paired across systems)."""
    sub = per_query[per_query["setting"].isin(settings)]
    return pd.Series(sub[measure].to_numpy(), index=sub["setting"] + "|" + sub["query_id"])


def macro(result: dict, settings: list[str], measure: str) -> float | None:
    vals = [result["settings"][k][measure] for k in settings if k in result["settings"]]
    return float(np.mean(vals)) if vals else None


def compare(results: dict, system: str, baseline: str, dataset: str, settings: list[str], measure: str,
            samples: int) -> dict | None:
    """Paired randomisation over queries: per-query means over seeds of each system."""
    from .significance import paired_randomization, seed_mean

    def seeds_of(name):
        return [results[k][1] for k in sorted(results) if k[0] == name and k[2] == dataset]
    a, b = seeds_of(system), seeds_of(baseline)
    if not a or not b:
        return None
    sa = seed_mean([series(t, settings, measure) for t in a])
    sb = seed_mean([series(t, settings, measure) for t in b])
    if len(sa) == 0:
        return None
    return paired_randomization(sa, sb, samples=samples, seed=0)


def cell(results: dict, name: str, dataset: str, settings: list[str], measure: str) -> dict | None:
    vals = [macro(results[k][0], settings, measure) for k in sorted(results) if k[0] == name and k[2] == dataset]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
            "seeds": len(vals), "values": vals}


# ---------------------------------------------------------------------------------------------
# The study


def run_study(study: Study, work: Path, report_dir: Path, data: str | None = None, model: str | None = None,
              log=print) -> dict:
    timer = Timer(ledger=work / "wall-seconds.json")
    t0 = time.time()
    topics_dir = work / "topics"
    with timer("topics"):
        metas = {d: tp.convert(d, data, topics_dir, quiet=True)
                 for d in sorted(set(study.datasets) | ({study.adversarial["dataset"]} if study.adversarial else set()))}
    with timer("training"):
        trained = train_models(study, work, data, model, log)  # model None: the recipe's own start
    if model is None:  # the untuned baseline is the recipe's start model
        from .modeling import resolve_start

        model = resolve_start(trained["base"].model.name)
    with timer("clean runs"):
        results = system_runs(study, work, trained, metas, topics_dir, data, model, timer, log)
    systems = [BM25, UNTUNED, *study.variants, f"BM25+{UNTUNED}", "BM25+hybrid"]
    weights = Path(model) / "model.safetensors"
    report = {"study": study.source, "quick": study.quick, "seeds": study.seeds, "steps": study.steps,
              "hits": study.hits, "fusion": study.fusion, "samples": study.samples, "systems": systems,
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


def main_table(study: Study, results: dict, metas: dict, systems: list[str]) -> dict:
    """XQuAD-R / MLQA-R: mAP for Mo, Cr, Mul (+ R@1, R@10, rank distance), p vs hybrid."""
    table = {}
    for dataset in [d for d in LAREQA if d in study.datasets]:
        langs = lang_subset(dataset, study, metas)
        groups = macro_keys(dataset, langs)
        for name in systems:
            row = table.setdefault(name, {})
            for g, keys in groups.items():
                for measure in ("AP", "R@1", "R@10"):
                    c = cell(results, name, dataset, keys, measure)
                    if c is None:
                        continue
                    if name != "hybrid" and measure == "AP":
                        test = compare(results, "hybrid", name, dataset, keys, measure, study.samples)
                        c["p_vs_hybrid"] = test["p"] if test else None
                        c["diff_hybrid_minus"] = test["diff"] if test else None
                    row[f"{dataset} {g} {measure}"] = c
            rd = [results[k][0].get("rank_distance", {}).get("macro") for k in sorted(results)
                  if k[0] == name and k[2] == dataset]
            rd = [x for x in rd if x is not None]
            if rd:
                row[f"{dataset} rank distance"] = {"mean": float(np.mean(rd)), "seeds": len(rd),
                                                   "sd": float(np.std(rd, ddof=1)) if len(rd) > 1 else None}
    return table


def headline(study: Study, main: dict) -> dict:
    """Significant wins and losses of hybrid against X-X-mono and X-Y over the Mo/Cr/Mul mAP cells, and
    rank distances: the one-sentence answer the README quotes, computed, never typed."""
    out = {"cells": 0, "alpha": 0.05, "against": {}, "rank_distance": {}}
    cells = [(d, g) for d in LAREQA if d in study.datasets for g in ("Mo", "Cr", "Mul")]
    out["cells"] = len(cells)
    for base in [v for v in study.variants if v != "hybrid"]:
        won = lost = 0
        for d, g in cells:
            c = main.get(base, {}).get(f"{d} {g} AP") or {}
            if c.get("p_vs_hybrid") is not None and c["p_vs_hybrid"] < out["alpha"]:
                won += c["diff_hybrid_minus"] > 0
                lost += c["diff_hybrid_minus"] < 0
        out["against"][base] = {"significant_wins": int(won), "significant_losses": int(lost)}
    for name in study.variants:
        for d in LAREQA:
            c = main.get(name, {}).get(f"{d} rank distance")
            if c:
                out["rank_distance"].setdefault(d, {})[name] = c["mean"]
    return out


def headline_sentence(h: dict) -> str:
    parts = [f"{v['significant_wins']} significant wins and {v['significant_losses']} losses against {k}"
             for k, v in h["against"].items()]
    text = (f"**Headline.** Over the {h['cells']} Mo/Cr/Mul mAP averages, hybrid batches have "
            + " and ".join(parts) + f" (paired randomisation, p < {h['alpha']}; the rest are within noise)")
    rd = [f"{d}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()) for d, row in h["rank_distance"].items()]
    return text + ("; mean rank distance (language bias, lower is less) " + "; ".join(rd) if rd else "") + "."


def miracl_table(study: Study, results: dict, metas: dict, systems: list[str]) -> dict:
    if "miracl-mini" not in study.datasets:
        return {}
    langs = lang_subset("miracl-mini", study, metas)
    table = {}
    for name in systems:
        row = table.setdefault(name, {})
        for measure in ("nDCG@10", "R@100", "RR@10"):
            keys = [f"{x}-{x}" for x in langs]
            c = cell(results, name, "miracl-mini", keys, measure)
            if c is None:
                continue
            if name != "hybrid":
                test = compare(results, "hybrid", name, "miracl-mini", keys, measure, study.samples)
                c["p_vs_hybrid"] = test["p"] if test else None
            row[f"{measure} (mean of {len(langs)})"] = c
    return table


def pair_groups(kind: str, langs: list[str], trained: set[str]) -> dict[str, list[str]]:
    """Settings of a LAReQA set grouped by a property of the (query, candidate) language pair."""
    from .languages import resource_group, same_family, same_script

    groups: dict[str, list[str]] = {}
    for x in langs:
        for y in langs:
            if kind == "unseen":
                seen = (x in trained) + (y in trained)
                label = {2: "both seen", 1: "one seen", 0: "neither seen"}[seen] + (" (mono)" if x == y else " (cross)")
                groups.setdefault(label, []).append(f"{x}-{y}")
            elif x != y:
                groups.setdefault("same script" if same_script(x, y) else "different script", []).append(f"{x}-{y}")
                groups.setdefault("same family" if same_family(x, y) else "different family", []).append(f"{x}-{y}")
                groups.setdefault(f"resource {resource_group(x, y)}", []).append(f"{x}-{y}")
    return groups


def grouped_table(study: Study, results: dict, metas: dict, trained: dict, kind: str) -> dict:
    all_training = trained["base"].data.languages or _training_languages()
    out = {}
    for dataset in [d for d in LAREQA if d in study.datasets]:
        langs = lang_subset(dataset, study, metas)
        for label, keys in pair_groups(kind, langs, set(all_training)).items():
            row = out.setdefault(f"{dataset}: {label}", {"settings": len(keys)})
            for name in (BM25, UNTUNED, *study.variants):
                c = cell(results, name, dataset, keys, "AP")
                if c is None:
                    continue
                if name != "hybrid":
                    test = compare(results, "hybrid", name, dataset, keys, "AP", study.samples)
                    c["p_vs_hybrid"] = test["p"] if test else None
                row[name] = c
    return out


def _training_languages() -> list[str]:
    from .pairs import SOURCES

    return sorted({x for s in SOURCES.values() for x in s["files"]})


def diversity_table(study: Study, results: dict, metas: dict, trained: dict) -> dict:
    names = [n for n in trained["models"] if n.startswith("hybrid [")] + ["hybrid"]
    table = {}
    for name in names:  # 2, 4, then all training languages; the main hybrid row says which those are
        label = name if name.startswith("hybrid [") else f"hybrid [{'+'.join(_training_languages())}]"
        row = table.setdefault(label, {})
        for dataset in [d for d in LAREQA if d in study.datasets]:
            for g, keys in macro_keys(dataset, lang_subset(dataset, study, metas)).items():
                c = cell(results, name, dataset, keys, "AP")
                if c:
                    row[f"{dataset} {g} AP"] = {"mean": c["values"][0], "seeds": 1}
        if "miracl-mini" in study.datasets:
            keys = [f"{x}-{x}" for x in lang_subset("miracl-mini", study, metas)]
            c = cell(results, name, "miracl-mini", keys, "RR@10")
            if c:
                row["miracl-mini RR@10"] = {"mean": c["values"][0], "seeds": 1}
    return table


def adversarial(study: Study, work: Path, trained: dict, metas: dict, topics_dir: Path, data: str | None,
                model: str, timer: Timer, log) -> dict:
    """Perturbed topics of the chosen languages; mAP drop of each system against its clean runs."""
    from .perturb import perturb_topics, read_topics, write_topics

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
                write_topics(perturb_topics(topics, x, kind, parallel=parallel, seed=seed), tmp / f"topics.{x}.tsv")
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
# Report


def fmt(c: dict | None, digits: int = 4) -> str:
    if not c:
        return "–"
    text = f"{c['mean']:.{digits}f}"
    if c.get("sd") is not None:
        text += f" ± {c['sd']:.{digits}f}"
    return text


def fmt_p(c: dict | None) -> str:
    from .significance import format_p, stars

    if not c or c.get("p_vs_hybrid") is None:
        return "–"
    return f"{format_p(c['p_vs_hybrid'])}{stars(c['p_vs_hybrid'])}"


def table_md(rows: dict, columns: list[str], with_p: bool = True, digits: int = 4) -> list[str]:
    head = "| system | " + " | ".join(c + (" | p" if with_p else "") for c in columns) + " |"
    lines = [head, "|---|" + "---:|" * (len(columns) * (2 if with_p else 1))]
    for name, row in rows.items():
        cells = []
        for c in columns:
            cells.append(fmt(row.get(c), digits))
            if with_p:
                cells.append(fmt_p(row.get(c)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_report(report: dict, study: Study, results: dict, metas: dict, report_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluate import heatmap

    report_dir.mkdir(parents=True, exist_ok=True)
    write_json(report_dir / "report.json", report)
    t = report["tables"]
    L = [f"# Study: {study.name}{' (quick smoke run)' if study.quick else ''}", "",
         f"X-X-mono, X-Y and hybrid(α = {study.variants['hybrid']}) batches fine-tuned from the same recipe "
         f"(`{Path(study.recipe).name}`), {study.steps} steps, seeds {', '.join(map(str, study.seeds))}; runs "
         f"{study.hits} deep; fusion = {study.fusion}. Every number below is read from `report.json`, written "
         "by the command that made this report.", "",
         "```bash", f"python -m pyserini_hybrid.study {Path(study.source).relative_to(PROJECT_ROOT) if Path(study.source).is_relative_to(PROJECT_ROOT) else study.source}"
         + (" --quick" if study.quick else ""), "```", "",
         f"Start model: `{report['start_model']['path']}` (weights sha256 {report['start_model']['sha256']}).", "",
         "Means over training seeds (± sample standard deviation); p: paired randomisation test over queries "
         f"({report['samples']:,} sign flips) of hybrid against that row, on per-query values averaged over seeds; "
         "* p < 0.05, ** p < 0.01, *** p < 0.001. A difference without a star may well be noise."
         + (f" Seeds after the first were run on {', '.join(study.extra_seeds_on) or 'no dataset'} only "
            "(`extra_seeds_on`); elsewhere a trained row is its first seed (no ±)."
            if study.extra_seeds_on is not None else ""), "",
         headline_sentence(report["headline"]), "",
         "**The paper's numbers are not beside ours**: the paper's Table 1 values are not available offline here, "
         "and its backbones (XLM-R, LaBSE) and training data differ from ours (multilingual-e5-small, SQuAD "
         "translations and native QA sets), so absolute numbers would not be comparable anyway.", ""]
    main = t["main"]
    for dataset in [d for d in LAREQA if d in study.datasets]:
        cols = [f"{dataset} {g} AP" for g in ("Mo", "Cr", "Mul")]
        L += [f"## {dataset}: mAP (Table 1 layout)", ""] + table_md(main, cols) + [""]
        cols = [f"{dataset} {g} {m}" for g in ("Mo", "Cr", "Mul") for m in ("R@1", "R@10")] + [f"{dataset} rank distance"]
        L += [f"{dataset}: R@1, R@10 and rank distance (lower = less language bias)", ""] + \
            table_md(main, cols, with_p=False) + [""]
    if t.get("miracl"):
        cols = list(next(iter(t["miracl"].values())).keys())
        L += ["## MIRACL-mini (monolingual; mean over languages)", ""] + table_md(t["miracl"], cols) + [""]
    plots = []
    for name in ("hybrid", UNTUNED):
        for dataset in [d for d in LAREQA if d in study.datasets]:
            key = next((k for k in sorted(results) if k[0] == name and k[2] == dataset), None)
            if key:
                png = heatmap(results[key][0], report_dir / f"heatmap-{_slug(name)}-{dataset}.png", "AP",
                              f"mAP X→Y, {name} (seed {key[1]}) on {dataset}")
                if png:
                    plots.append(png.name)
    if plots:
        L += ["## X→Y mAP heatmaps", ""] + [f"![{p}]({p})" for p in plots] + [""]
    for section, title, what in (("unseen", "Unseen languages",
                                  "Settings grouped by whether the query and candidate languages occur in the training data."),
                                 ("distance", "Distant and low-resource pairs",
                                  "Cross-lingual settings grouped by script, language family (top level) and resource "
                                  "class (Joshi et al. 2020; `topics/languages.tsv`).")):
        rows = t.get(section) or {}
        if rows:
            names = [n for n in (BM25, UNTUNED, *study.variants)]
            L += [f"## {title}", "", what, "", "| group | settings | " + " | ".join(f"{n} | p" for n in names) + " |",
                  "|---|---:|" + "---:|" * (2 * len(names))]
            for label, row in rows.items():
                L.append(f"| {label} | {row['settings']} | " + " | ".join(f"{fmt(row.get(n))} | {fmt_p(row.get(n))}"
                                                                          for n in names) + " |")
            png = _bar_plot(rows, names, report_dir / f"{section}.png", f"{title}: mean mAP", plt)
            L += ["", f"![{png.name}]({png.name})", ""]
    if t.get("adversarial"):
        cols = sorted({c for r in t["adversarial"].values() for c in r})
        L += ["## Adversarial queries", "", f"Topics of {', '.join(study.adversarial.get('languages', []))} perturbed "
              "(typos: character noise; strip_marks: diacritics and tone marks removed; code_switch: the first half "
              "of the query, then the second half of its parallel question in another of these languages, drawn "
              "per query); mAP on clean and perturbed topics (first seed). Where the spliced language is the "
              "candidate language, code-switching helps cross-lingual retrieval: read its Cr column with care.", ""] + \
            table_md(t["adversarial"], cols, with_p=False) + [""]
        drops = {k: {c: v for c, v in r.items() if c.endswith("drop")} for k, r in t["adversarial"].items()}
        png = _bar_plot(drops, sorted({c for r in drops.values() for c in r}), report_dir / "adversarial.png",
                        "mAP drop under perturbation", plt, nested=False)
        L += [f"![{png.name}]({png.name})", ""]
    if t.get("diversity"):
        cols = sorted({c for r in t["diversity"].values() for c in r})
        L += ["## Training-language diversity", "", "Hybrid trained on subsets of the training languages, same "
              "steps, first seed" + (f", run on {', '.join(study.diversity_datasets)}" if study.diversity_datasets
                                     else "") + ".", ""] + table_md(t["diversity"], cols, with_p=False) + [""]
        png = _bar_plot(t["diversity"], cols, report_dir / "diversity.png", "Training-language diversity", plt,
                        nested=False)
        L += [f"![{png.name}]({png.name})", ""]
    L += ["## Models, data and time", "", "| model | sha256 (16) | exported step | best val. loss | realised α | train s |",
          "|---|---|---:|---:|---:|---:|"]
    for name, m in report["models"].items():
        L.append(f"| {name} | `{m['sha256']}` | {m['exported_step']} | {m['best_val_loss']:.4f} | "
                 f"{m['realised_alpha']:.2f} | {m['train_seconds']:.1f} |")
    data = report["data"]
    if data:
        L += ["", f"Training pairs after filtering: {data.get('pairs_total')} "
              f"({', '.join(f'{k} {v}' for k, v in data.get('pairs', {}).items())}); dropped as XQuAD paragraphs: "
              f"{sum(data.get('dropped_xquad', {}).values())}."]
    L += ["", "Wall time (s) of the invocation that wrote this report (work found in the caches costs "
          "almost nothing): " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."]
    every = report.get("seconds_all_invocations") or {}
    if every:
        L += ["", "Wall time (s) summed over every invocation on this cache (`wall-seconds.json`; innermost "
              "stages only, so they add up; a stage cut short by a kill is not counted): "
              + ", ".join(f"{k} {v}" for k, v in every.items()) + ". Training, from the model cards (the "
              f"train s column above, whichever invocation trained them): {report['train_seconds_all_models']} s "
              "in all."]
    L += [""]
    L += ["## Commands", "", "Every run went through Pyserini's CLI; the commands of each system's runs (first "
          "seed) as recorded in their `run-meta.json`:", ""]
    for name, commands in report["commands"].items():
        L += [f"<details><summary>{name}: {len(commands)} commands</summary>", "", "```bash", *commands, "```",
              "</details>", ""]
    path = report_dir / "report.md"
    with atomic_write(path) as f:
        f.write("\n".join(L))
    return path


def _bar_plot(rows: dict, columns: list[str], path: Path, title: str, plt, nested: bool = True) -> Path:
    labels = list(rows)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 4))
    width = 0.8 / max(1, len(columns))
    for j, c in enumerate(columns):
        vals = [(rows[k].get(c) or {}).get("mean", np.nan) if isinstance(rows[k].get(c), dict) else np.nan
                for k in labels]
        ax.bar(np.arange(len(labels)) + j * width, vals, width, label=c)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.study", description=__doc__.split("\n")[0])
    parser.add_argument("study", help="a study file, e.g. studies/me5-small-cpu.toml")
    parser.add_argument("--quick", action="store_true", help="the smoke variant: few steps, few languages")
    parser.add_argument("--model", help="start model for the recipe and the untuned baseline (default: the recipe's)")
    parser.add_argument("--work-dir", type=Path, help="caches (default work/study-<name>[-quick])")
    parser.add_argument("--report-dir", type=Path, help="report (default reports/<name>[-quick])")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    study = Study.load(args.study, args.quick)
    suffix = "-quick" if study.quick else ""
    work = args.work_dir or PROJECT_ROOT / "work" / f"study-{study.name}{suffix}"
    report_dir = args.report_dir or PROJECT_ROOT / "reports" / f"{study.name}{suffix}"
    run_study(study, work, report_dir, args.data_dir, args.model)
    print(f"report: {report_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
