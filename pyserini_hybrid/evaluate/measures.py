"""Evaluation with ir-measures: per-setting measures, the paper's macro averages, and rank distance.

A *run directory* holds one TREC run per candidate language (``<Y>.trec``, all query languages in it)
and, for LAReQA sets, ``pool.trec`` against the multilingual pool. Every retrieval system we ship
(BM25, dense, fusion) writes that layout, so one evaluator serves them all.

- X->Y setting: run ``<Y>.trec`` restricted to the queries of language X that have qrels X-Y.
- Mo = mean over X of X->X; Cr = mean over X != Y of X->Y; Mul = mean over X of X->pool.
- Rank distance (language bias, on the pool): per query, max rank - min rank over its relevant
  candidates (one per language holding the question); mean over queries, macro-averaged over X.
- Queries with qrels but no line in the run score 0 (ir-measures, like trec_eval, would skip them);
  a relevant candidate missing from a run of depth d counts at rank d + 1. Both are reported.
- A run must belong to its setting: its qids are topics of the set, its docids candidates of its
  language (``<Y>.trec``: Y's corpus; ``pool.trec``: every language's), else one line says which file:
  ``en.trec`` copied over ``de.trec`` would otherwise score German 0 with no word.

NTREX-128 (bitext retrieval: X->en, en->X and the pool) is evaluated by ``bitext`` with these checks and
definitions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..core.errors import InputError
from ..core.trec import read_qrels_frame, read_topics
from ..data import topic_sets as tp
from ..data.convert import load_meta
from .bitext import evaluate_bitext
from .run_files import RunDir, depths, run_meta
from .scoring import (  # noqa: F401  (re-exported: the measures' public home since the first release)
    MACROS,
    MEASURES,
    distance_per_query,
    macro_averages,
    per_query,
    query_language,
    rank_distance,
    rank_distance_summary,
)


def _languages(dataset: str, run_dir: Path, languages, meta: dict, warnings: list[str]) -> list[str]:
    """The languages to evaluate: given, else run-meta.json's, else those with a run file (said so); a
    chosen language without its run file is said too, since its settings are then missing."""
    if languages:
        chosen, source = list(languages), "--languages"
    elif run_meta(run_dir).get("languages"):
        chosen, source = run_meta(run_dir)["languages"], "run-meta.json"
    else:
        chosen, source = None, ""
    langs = tp.check_languages(dataset, chosen, meta)
    present = [x for x in langs if (run_dir / f"{x}.trec").is_file()]
    if chosen is None and present and len(present) < len(langs):
        warnings.append(f"{run_dir}: no run-meta.json and run files for {len(present)} of {len(langs)} "
                        f"{dataset} languages; evaluating {', '.join(present)} only "
                        f"(no runs for {', '.join(x for x in langs if x not in present)})")
        return present
    missing = [x for x in langs if x not in present]
    if missing and present:
        warnings.append(f"{run_dir}: no run file for {', '.join(missing)} (languages from {source or 'the dataset'}); "
                        "their candidate-side settings are missing from the averages")
    return langs


def evaluate_run_dir(dataset: str, run_dir: Path, languages=None, topics_dir: Path | None = None,
                     depth: int | None = None, data: str | Path | None = None, model: Path | None = None) -> dict:
    """Measures for every setting whose run file exists in ``run_dir``; ``result["warnings"]`` says what
    was left out (also printed). ``model``: NTREX's seen/unseen grouping reads its training card (default:
    the model run-meta.json names)."""
    if depth is not None and depth < 1:
        raise InputError(f"--depth {depth}: must be a positive number of hits")
    meta = load_meta(dataset, topics_dir, data)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    warnings: list[str] = []
    langs = _languages(dataset, run_dir, languages, meta, warnings)
    known = set()
    for lang in meta["languages"]:
        known |= set(read_topics(tp.topics_path(dataset, lang, topics_dir)))
    runs = RunDir(dataset, meta, run_dir, langs, known, topics_dir, warnings)
    if meta["format"] == "ntrex":
        return evaluate_bitext(runs, depth, model)
    return _evaluate_lareqa_or_monolingual(runs, depth)


def _evaluate_lareqa_or_monolingual(runs: RunDir, depth: int | None) -> dict:
    dataset, run_dir, langs = runs.dataset, runs.path, runs.languages
    targets = [y for y in langs if (run_dir / f"{y}.trec").is_file()]
    if runs.meta["format"] == "lareqa" and (run_dir / f"{tp.POOL}.trec").is_file():
        targets.append(tp.POOL)
    if not targets:
        raise InputError(f"{run_dir}: no run files for {dataset} (expected <lang>.trec, e.g. {langs[0]}.trec)")
    depth, meta_depth = depths(run_dir, depth)
    settings, per_query_tables, rank_distances = {}, {}, None
    # one run in memory at a time: a 1,000-deep XQuAD-R run has millions of lines
    for target in tqdm(targets, desc=f"evaluate {run_dir.parent.name}/{run_dir.name}", unit="run"):
        run, deepest = runs.checked(target, meta_depth)
        if not meta_depth:
            depth = max(depth, deepest)
        qrels = _target_qrels(runs, target, run)
        if qrels is None:
            continue
        _score_target(runs, target, run, qrels, settings, per_query_tables)
        if target == tp.POOL:
            rank_distances = rank_distance(run, qrels, depth)  # the pool is the last target
        del run

    for w in runs.warnings:
        print(f"warning: {w}", file=sys.stderr)
    result = {"dataset": dataset, "run_dir": str(run_dir), "depth": depth, "measures": MEASURES,
              "languages": langs, "settings": settings, "macro": macro_averages(settings, langs),
              "warnings": runs.warnings}
    if rank_distances is not None:
        result["rank_distance"] = rank_distance_summary(rank_distances, langs, depth)
    result["per_query"] = per_query_tables
    return result


def _qrel_files(runs: RunDir, target: str) -> dict:
    """Query language -> its qrels file against ``target``'s candidates, for those that exist."""
    query_langs = runs.languages if runs.meta["format"] == "lareqa" else [target]
    files = {x: tp.qrels_path(runs.dataset, x, target, runs.topics_dir) for x in query_langs}
    return {x: p for x, p in files.items() if p.is_file()}


def _target_qrels(runs: RunDir, target: str, run: pd.DataFrame) -> pd.DataFrame | None:
    """The qrels of ``target``'s settings (None: it has none); a run none of whose queries has them is one
    line (run and topics do not match)."""
    files = _qrel_files(runs, target)
    if not files:
        return None
    qrels = read_qrels_frame(list(files.values()))
    if target == tp.POOL:  # the pool holds only the evaluated languages' candidates
        qrels = qrels[qrels["doc_id"].str.split("-", n=1).str[0].isin(runs.languages)]
    if not set(run["query_id"]) & set(qrels["query_id"]):
        raise InputError(f"{runs.path / f'{target}.trec'}: no query of the run has {runs.dataset} qrels for "
                         f"candidates in {target} (run and topics do not match)")
    return qrels


def _score_target(runs: RunDir, target: str, run: pd.DataFrame, qrels: pd.DataFrame, settings: dict,
                  tables: dict) -> None:
    """The X->target settings' mean measures (into ``settings``) and per-query tables (into ``tables``)."""
    table = per_query(run, qrels)
    table["lang"] = [query_language(q, runs.languages, target) for q in table.index]
    present = set(run["query_id"])
    for x in _qrel_files(runs, target):
        sub = table[table["lang"] == x]
        key = f"{x}-{target}"
        settings[key] = {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub)),
                         "queries_without_hits": int(sum(q not in present for q in sub.index))}
        tables[key] = sub.drop(columns="lang")


# ---------------------------------------------------------------------------------------------
# Output: JSON, Markdown, heatmap
