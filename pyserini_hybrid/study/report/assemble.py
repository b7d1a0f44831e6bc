"""``study FILE report``: the report from the finished units' result files alone.

No model, index or run file is read: every measure is recomputed from the recorded ranks
(``evaluate.ranks``), the models' facts come from the copied training cards and logs. Units with different
design fingerprints are never mixed (one line naming the unit and the differing part); a grid with units
missing gives a report marked partial, with no headline.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import InputError
from ...core.files import PROJECT_ROOT, data_dir, load_json
from ...data import topic_sets as tp
from ...data import convert as conversion  # looked up when called: a test gives a quicker one
from ...evaluate.ranks import rank_distance_from_ranks, result_from_ranks
from ..config import BM25, LAREQA, UNTUNED, Study
from ..fingerprints import check_fingerprints
from ..language_measures import PeerCache, language_measures
from ..records import read_ranks, read_tsv_gz
from ..units import plan_units, read_unit, selection_choice, unit_dir
from ..verify import check_depth, check_design, check_unit_files, warn_unverified
from .curves import curves_table, native_table, sweep_table, validation_curves
from .headline import answer, headline
from .beside import beside_table, load_beside
from .bitext_tables import NTREX, diversity_ntrex, ntrex_groups, ntrex_result, ntrex_table
from .merge_tables import merge_table
from .tables import (adversarial_table, diversity_table, grouped_table, lang_subset, language_table, main_table,
                     miracl_table)
from .write import write_report

FULL_RANKING = 10**9  # a depth beyond any recorded rank: AP then ranks every candidate (LAReQA's mAP)


def system_label(entry: dict, study: Study) -> str:
    label = entry["system"]
    if entry["budget"] != study.steps:
        label = f"{label} @{entry['budget']}"
    return label


def load_results(study: Study, units_root: Path, done: list[tuple], metas: dict,
                 peer=None) -> tuple[dict, dict, dict]:
    """({(system, seed, dataset): (result, per-query, None)} of the clean evaluations on each dataset's full
    language set or the curve languages, {tag: {same}} of the adversarial ones, {(system, seed, dataset):
    language measures}); ``peer``: a ``language_measures.PeerCache`` (None: PEER computed afresh)."""
    clean, adversarial, lang = {}, {}, {}
    for unit, result in done:
        root = unit_dir(units_root, unit)
        for e in result["evaluations"]:
            dataset = e["dataset"]
            lareqa, ntrex = metas[dataset]["format"] == "lareqa", metas[dataset]["format"] == NTREX
            ranks = read_ranks(root / e["files"]["ranks"])
            check_depth(unit.name, e, ranks)  # an edited depth would silently move every censored rank
            # AP over every recorded rank: the full ranking where the unit has one (dense runs), AP@depth where
            # candidates beyond the depth are unranked (BM25, fusion); rank distance keeps the depth's rule
            if ntrex:  # P@1, MRR@10, nDCG@10 within the depth; the pool read to depth - 1
                res, per = ntrex_result(ranks, e["depth"], e["languages"])
            else:
                res, per = result_from_ranks(ranks, FULL_RANKING, lareqa, e["languages"])
            res["depth"], res["ap_full_ranking"] = e["depth"], bool(ranks["rank"].notna().all())
            if "rank_distance" in res and not ntrex:
                res["rank_distance"] = rank_distance_from_ranks(ranks, e["depth"], e["languages"])
            key = (system_label(e, study), e["seed"], dataset)
            if e["tag"] == "clean":
                clean[key] = (res, per, None)
                if (lareqa or ntrex) and e["budget"] == study.steps:
                    top = read_tsv_gz(root / e["files"]["top"]) if "top" in e["files"] else None
                    rho = read_tsv_gz(root / e["files"]["spearman"]) if "spearman" in e["files"] else None
                    ranks_file = root / e["files"]["ranks"]
                    lang[key] = language_measures(ranks, top, rho, e["languages"], e["depth"],
                                                  peer.values(ranks_file, ranks, e["languages"]) if peer else None)
            else:
                adversarial.setdefault(e["tag"], {})[key] = (res, per, None)
    return clean, adversarial, lang


TRAINED = ("main", "sweep", "native", "diversity", "merge")  # the unit kinds that make a model


def trained_from_units(done: list[tuple], units_root: Path) -> dict:
    """{"runs": [(label, seed, {budget: unit dir})]} for the tables that read cards and logs."""
    runs = []
    for unit, result in done:
        if unit.kind in TRAINED and not unit.part:  # a split-off part: the same model
            d = unit_dir(units_root, unit)
            runs.append((unit.label, unit.seed, {int(b): d for b in result["models"]}))
    return {"runs": runs}


@dataclass(frozen=True)
class Finished:
    """The study's planned units and what the report reads from the finished ones."""
    units: list          # every planned unit
    done: list           # [(unit, its unit.json)] of the finished ones
    metas: dict          # dataset -> its conversion's meta (qrels, languages, counts)
    fingerprint: dict    # the one design fingerprint they share
    clusters: dict       # dataset -> {question id: paragraph cluster}
    results: dict        # clean evaluations (``load_results``)
    adversarial: dict    # perturbed ones
    lang: dict           # language-preference measures


def read_finished(study: Study, units_root: Path, report_dir: Path, data: str | None) -> Finished:
    """The finished units, checked (files, design, fingerprint), and every measure recomputed from their ranks."""
    unverified = check_unit_files(units_root) if units_root.is_dir() else []  # first: cheap, before any work
    with tempfile.TemporaryDirectory() as tmp:  # converted topics: qrels, languages and counts (data only)
        names = study.evaluated_datasets
        metas = {d: conversion.convert(d, data, Path(tmp), quiet=True) for d in sorted(names)}
        units = plan_units(study, metas)
        done = [(u, r) for u in units for r in [read_unit(units_root, u)] if r]
        if not done:
            raise InputError(f"{units_root}: no finished unit of study {study.name} (run: python -m "
                             f"pyserini_hybrid.study {study.source} run)")
        check_design(study, done, units, units_root)
        fp = check_fingerprints(done)
        warn_unverified([u for u in unverified if u in {x.name for x, _ in done}], study)
        clusters = paragraph_clusters(study, data, Path(tmp), metas)
        peer = PeerCache(report_dir / "peer.json")
        results, adversarial, lang = load_results(study, units_root, done, metas, peer)
        peer.save()
    return Finished(units, done, metas, fp, clusters, results, adversarial, lang)


def report_tables(study: Study, f: Finished, trained: dict, systems: list[str], partial: bool) -> tuple[dict, dict]:
    """Every table of the report, and the headline (None for a partial grid) drawn from the main table."""
    results, metas, clusters = f.results, f.metas, f.clusters
    merges = [f"{n} +merge" for n in study.merge_variants]  # first seed: intervals over questions only
    t = {"main": main_table(study, results, metas, systems + merges, clusters)}
    top = None if partial else headline(study, t["main"])
    t["miracl"] = miracl_table(study, results, metas, systems + [f"{n} +native" for n in study.native_variants]
                               + merges, clusters)
    t["curves"] = curves_table(study, results, metas)
    t["sweep"] = sweep_table(study, results, metas)
    t["native"] = native_table(study, results, metas)
    t["validation"] = validation_curves(trained, study)
    t["unseen"] = grouped_table(study, results, metas, trained, "unseen", clusters)
    t["distance"] = grouped_table(study, results, metas, trained, "distance", clusters)
    t["diversity"] = diversity_table(study, results, metas, trained)
    if merges:  # (none in the first study: its report.json stays as committed)
        t["merge"] = merge_table(study, results, metas)
    ntrex = ntrex_table(study, results, metas, systems + merges)
    if ntrex:  # (a study without NTREX has no such keys: the first study's report.json stays as committed)
        t["ntrex"], t["ntrex_groups"] = ntrex, ntrex_groups(study, results, metas, trained)
        diversity_ntrex(t["diversity"], results, metas, study, trained)  # the diversity curve on NTREX
    t["language"] = language_table(study, f.lang)
    if study.adversarial:
        t["adversarial"] = adversarial_table(study, results, f.adversarial, metas)
    return t, top


def unit_rows(done: list[tuple]) -> dict:
    """Each finished unit's machine, commit and minutes."""
    out = {}
    for unit, result in done:
        m = result.get("machine", {})
        out[unit.name] = {"kind": unit.kind, "cpu": m.get("cpu"), "family": m.get("family"), "model": m.get("model"),
                          "flags": m.get("flags"), "precision": m.get("precision"), "commit": result.get("commit"),
                          "minutes": round(result["cost"]["machine_seconds"] / 60, 1),
                          "train_minutes": round(result["cost"]["train_seconds"] / 60, 1)}
    return out


def model_rows(study: Study, done: list[tuple], units_root: Path) -> dict:
    """Each trained model's facts, from its unit's training card."""
    out = {}
    for unit, result in done:
        if unit.kind in TRAINED and not unit.part:  # a split-off part: the same model
            card = load_json(unit_dir(units_root, unit) / "training-card.json")
            out[f"{unit.label} seed {unit.seed}"] = {
                "unit": unit.name, "sha256": result["models"][str(study.steps)]["sha256"][:16],
                "train_seconds": card["seconds"], "steps": card["steps"], "precision": card.get("precision"),
                "realised_alpha": card["batches"]["realised_alpha"], "drawn_datasets": card["batches"].get("datasets"),
                "drawn_languages": card["batches"].get("languages"), "train_pairs": card["train_pairs"],
                "validation_retrieval": card.get("validation_retrieval"),
                "budgets": sorted(int(b) for b in result["models"])}
    return out


def assemble(study: Study, units_root: Path, report_dir: Path, data: str | None = None,
             beside: Path | None = None) -> Path:
    """report.json, report.md, answer.md and the plots in ``report_dir`` from the units in ``units_root``;
    ``beside``: another study's report.json, quoted beside this one's answer (``report.beside``)."""
    other = load_beside(beside) if beside else None  # first: a wrong path costs no work
    f = read_finished(study, units_root, report_dir, data)
    finished = {u.name for u, _ in f.done}
    missing = [u.name for u in f.units if u.name not in finished]
    trained = trained_from_units(f.done, units_root)
    systems = [BM25, UNTUNED, *study.variants, f"BM25+{UNTUNED}", "BM25+hybrid"]
    tables, top = report_tables(study, f, trained, systems, bool(missing))
    report = {"study": relative_source(study), "quick": study.quick, "partial": bool(missing),
              "missing_units": missing, "seeds": study.seeds, "budgets": study.budgets, "steps": study.steps,
              "hits": study.hits, "fusion": study.fusion, "precision": study.precision, "systems": systems,
              "training_data": study.training_data, "fingerprint": f.fingerprint,
              "selection": selection_choice(study, units_root, f.units),
              "selection_units": {u.batching: r["selection"] for u, r in f.done if u.kind == "selection"},
              "tables": tables, "models": model_rows(study, f.done, units_root), "units": unit_rows(f.done),
              "headline": top}
    report["data"] = {u.label: load_json(unit_dir(units_root, u) / "training-card.json")["data"]
                      for u, r in f.done if u.kind in ("main", "native", "diversity") and u.seed == study.seeds[0]}
    if NTREX in f.metas:  # what the NTREX section says of the set
        report["ntrex_meta"] = {"languages": len([x for x in lang_subset(NTREX, study, f.metas) if x != "en"]),
                                "lines": f.metas[NTREX].get("lines")}
    report["machine_hours"] = round(sum(r["cost"]["machine_seconds"] for _, r in f.done) / 3600, 2)
    if other:  # (no key without --beside: the first study's report.json stays as committed)
        report["beside"] = beside_table(report, *other)
    report["answer"] = answer(report)
    return write_report(report, study, f.results, f.metas, report_dir)


def relative_source(study: Study) -> str:
    """The study file as the report prints it: relative to the project, never a path of this machine."""
    path = Path(study.source).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else path.name


def paragraph_clusters(study: Study, data: str | None, topics_dir: Path, metas: dict) -> dict:
    """{dataset: {question id (without language): cluster}}: the unit of independence. XQuAD-R's ~5 questions
    of one paragraph share its candidate sentences, so they are one cluster (with all their translations);
    MLQA-R's questions of one context likewise; a MIRACL query is its own. Read from the source data."""
    out = {}
    for dataset in [d for d in study.datasets if d in LAREQA]:
        files = {x: data_dir(data) / v["file"] for x, v in tp.dataset_spec(dataset, data)["languages"].items()}
        cluster = {}
        # English first: it holds every question, and its (article, paragraph) names the paragraph of every
        # translation (MLQA-R's other languages hold 2-4 of a context's questions each)
        for x in sorted(files, key=lambda x: (x != "en", x)):
            if not files[x].is_file():
                continue
            for a, article in enumerate(json.loads(files[x].read_text(encoding="utf-8"))["data"]):
                for p, para in enumerate(article["paragraphs"]):
                    for qa in para["qas"]:
                        cluster.setdefault(qa["id"], f"{x}:{a}:{p}")
        out[dataset] = cluster
    return out
