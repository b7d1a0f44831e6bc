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

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import load_json
from ..core.trec import ranked, read_qrels_frame, read_run, read_topics
from ..data import topic_sets as tp
from ..data.corpus import candidate_hashes, docid_hash

MEASURES = ["AP", "R@1", "R@10", "nDCG@10", "R@100", "RR@10"]
MACROS = ("Mo", "Cr", "Mul")


def per_query(run: pd.DataFrame, qrels: pd.DataFrame, measures=MEASURES) -> pd.DataFrame:
    """One row per query *in the qrels* and one column per measure; queries absent from the run get 0."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    names = {m: str(m) for m in parsed}
    run = ranked(run[run["query_id"].isin(set(qrels["query_id"]))])
    run = up_to_last_relevant(run, qrels)
    # ir_measures' providers break score ties differently (pytrec_eval: docid descending, the msmarco
    # provider behind RR@10: ascending); strictly decreasing scores from one ranking make them agree
    run = run.assign(score=-run["rank"].astype(float))
    rows = {}
    if len(run):
        for r in ir_measures.iter_calc(parsed, qrels, run[["query_id", "doc_id", "score"]]):
            rows.setdefault(r.query_id, {})[names[r.measure]] = r.value
    qids = sorted(set(qrels.loc[qrels["relevance"] > 0, "query_id"]))
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(index=qids, columns=list(measures)).fillna(0.0)
    table.index.name = "query_id"
    return table


def up_to_last_relevant(run: pd.DataFrame, qrels: pd.DataFrame) -> pd.DataFrame:
    """Each query's ranking cut after its last retrieved relevant candidate (its first row if none).

    Exact for every measure we report: AP, R@k, nDCG@k and RR@k only sum over relevant candidates at
    their ranks, and the ranks before the cut are unchanged. A 1,000-deep dense run of XQuAD-R is 13M
    lines with its relevant candidate near the top, so ir_measures then reads thousands of lines, not
    millions (it converts every line to Python objects)."""
    rel = qrels.loc[qrels["relevance"] > 0, ["query_id", "doc_id"]]
    hit = run[["query_id", "doc_id", "rank"]].merge(rel, on=["query_id", "doc_id"], how="inner")
    last = hit.groupby("query_id")["rank"].max()
    cut = run["query_id"].map(last).fillna(1)
    return run[run["rank"] <= cut]


def rank_distance(run: pd.DataFrame, qrels: pd.DataFrame, depth: int) -> pd.DataFrame:
    """Per query: max - min rank of its relevant candidates (missing ones at depth + 1).

    Undefined (NaN) for a query with fewer than two relevant candidates, or with all of them missing
    from the run: a distance of 0 there would read as "no language bias". Written with pandas rather
    than as an ir_measures ``define_byquery`` measure because it needs the run's depth for missing
    candidates, which a per-query measure cannot see.
    """
    rel = qrels[qrels["relevance"] > 0][["query_id", "doc_id"]]
    merged = rel.merge(ranked(run)[["query_id", "doc_id", "rank"]], on=["query_id", "doc_id"], how="left")
    return distance_per_query(merged, depth)


def distance_per_query(merged: pd.DataFrame, depth: int) -> pd.DataFrame:
    """``rank_distance`` from one row per relevant candidate (query_id, rank; NaN: not in the run)."""
    merged = merged.copy()
    merged["missing"] = merged["rank"].isna() | (merged["rank"] > depth)
    merged["rank"] = merged["rank"].where(~merged["missing"], depth + 1)
    g = merged.groupby("query_id")
    out = pd.DataFrame({"rank_distance": (g["rank"].max() - g["rank"].min()).astype(float),
                        "missing": g["missing"].sum(), "relevant": g.size()})
    undefined = (out["relevant"] < 2) | (out["missing"] == out["relevant"])
    out.loc[undefined, "rank_distance"] = np.nan
    return out


def run_meta(run_dir: Path) -> dict:
    """The run directory's ``run-meta.json`` ({} when there is none), its fields' types checked."""
    path = run_dir / "run-meta.json"
    if not path.is_file():
        return {}
    meta = load_json(path)  # malformed or truncated: one line naming the file
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object")
    hits, langs = meta.get("hits"), meta.get("languages")
    if hits is not None and (isinstance(hits, bool) or not isinstance(hits, int) or hits < 1):
        raise InputError(f"{path}: 'hits' must be a positive integer, got {hits!r}")
    if langs is not None and (not isinstance(langs, list) or not all(isinstance(x, str) for x in langs)):
        raise InputError(f"{path}: 'languages' must be a list of language codes, got {langs!r}")
    return meta


def run_depth(run_dir: Path) -> int | None:
    """The depth the runs were made with (run-meta.json's hits), if recorded."""
    return run_meta(run_dir).get("hits") or None


def query_language(qid: str, languages: list[str], fallback: str) -> str:
    head = qid.split("-", 1)[0]
    return head if head in languages else fallback


def checked_run(path: Path, known: set[str], dataset: str, target: str, meta: dict, topics_dir: Path | None,
                meta_depth: int | None) -> tuple[pd.DataFrame, int]:
    """The run file read and checked (its qids topics of the set, its docids the target's candidates, no
    deeper than run-meta.json says), and its deepest query's hits."""
    run = read_run(path)
    _check_run_matches(path, run, known, dataset)
    _check_run_candidates(path, run, dataset, target, meta, topics_dir)
    deepest = int(run.groupby("query_id").size().max()) if len(run) else 0
    if meta_depth and deepest > meta_depth:
        raise InputError(f"{path}: a query has {deepest} hits but run-meta.json says the runs are {meta_depth} "
                         "deep (written by two commands at once, or edited?); make the runs again")
    return run, deepest


def _check_run_matches(path: Path, run: pd.DataFrame, known_qids: set[str], dataset: str) -> None:
    qids = set(run["query_id"])
    stray = sorted(qids - known_qids)
    if stray:
        raise InputError(f"{path}: {len(stray)} of {len(qids)} query ids are not {dataset} topics "
                         f"(e.g. {stray[0]!r}); was it made from other topics?")


def _check_run_candidates(path: Path, run: pd.DataFrame, dataset: str, target: str, meta: dict,
                          topics_dir: Path | None) -> None:
    """Every docid of the run is a candidate of its target (``<Y>.trec``: Y's corpus, ``pool.trec``: all of
    the set's), checked by hash against the conversion's ``docids/<lang>.npy`` (the corpus where missing)."""
    langs = meta["languages"] if target == tp.POOL else [target]
    known = np.unique(np.concatenate([
        candidate_hashes(tp.corpus_dir(dataset, x, "sentence", topics_dir), tp.docids_path(dataset, x, topics_dir))
        for x in langs]))
    docs = pd.unique(run["doc_id"])
    hashes = np.fromiter((docid_hash(str(d)) for d in docs), dtype=np.int64, count=len(docs))
    pos = np.searchsorted(known, hashes).clip(max=max(len(known) - 1, 0))
    stray = np.flatnonzero(known[pos] != hashes) if len(known) else np.arange(len(docs))
    if len(stray):
        where = "the multilingual pool" if target == tp.POOL else f"the {target} corpus"
        raise InputError(f"{path}: {len(stray)} of {len(docs)} docids are not {dataset} candidates in {where} "
                         f"(e.g. {str(docs[stray[0]])!r}); is it the run of another language, or of other data?")


def _languages(dataset: str, run_dir: Path, languages, warnings: list[str]) -> list[str]:
    """The languages to evaluate: given, else run-meta.json's, else those with a run file (said so); a
    chosen language without its run file is said too, since its settings are then missing."""
    if languages:
        chosen, source = list(languages), "--languages"
    elif run_meta(run_dir).get("languages"):
        chosen, source = run_meta(run_dir)["languages"], "run-meta.json"
    else:
        chosen, source = None, ""
    langs = tp.check_languages(dataset, chosen)
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
    meta = tp.load_meta(dataset, topics_dir, data)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    warnings: list[str] = []
    langs = _languages(dataset, run_dir, languages, warnings)
    known = set()
    for lang in meta["languages"]:
        known |= set(read_topics(tp.topics_path(dataset, lang, topics_dir)))
    if meta["format"] == "ntrex":
        from .bitext import evaluate_bitext

        return evaluate_bitext(dataset, meta, run_dir, langs, known, topics_dir, depth, warnings, model)
    targets = [y for y in langs if (run_dir / f"{y}.trec").is_file()]
    if meta["format"] == "lareqa" and (run_dir / f"{tp.POOL}.trec").is_file():
        targets.append(tp.POOL)
    if not targets:
        raise InputError(f"{run_dir}: no run files for {dataset} (expected <lang>.trec, e.g. {langs[0]}.trec)")

    settings, per_query_tables = {}, {}
    meta_depth = run_depth(run_dir)
    if depth is not None and meta_depth and depth > meta_depth:  # rank distance would count misses too deep
        raise InputError(f"--depth {depth}: the runs in {run_dir} are only {meta_depth} deep (run-meta.json)")
    depth, rank_distances = depth or meta_depth or 0, None
    # one run in memory at a time: a 1,000-deep XQuAD-R run is 13M lines, about a minute each on 2 cores
    for target in tqdm(targets, desc=f"evaluate {run_dir.parent.name}/{run_dir.name}", unit="run"):
        path = run_dir / f"{target}.trec"
        run, deepest = checked_run(path, known, dataset, target, meta, topics_dir, meta_depth)
        if not meta_depth:
            depth = max(depth, deepest)
        query_langs = langs if meta["format"] == "lareqa" else [target]
        qrel_files = {x: tp.qrels_path(dataset, x, target, topics_dir) for x in query_langs}
        qrel_files = {x: p for x, p in qrel_files.items() if p.is_file()}
        if not qrel_files:
            continue
        qrels = read_qrels_frame(list(qrel_files.values()))
        if target == tp.POOL:  # the pool holds only the evaluated languages' candidates
            qrels = qrels[qrels["doc_id"].str.split("-", n=1).str[0].isin(langs)]
        if not set(run["query_id"]) & set(qrels["query_id"]):
            raise InputError(f"{path}: no query of the run has {dataset} qrels for candidates in {target} "
                             "(run and topics do not match)")
        table = per_query(run, qrels)
        table["lang"] = [query_language(q, langs, target) for q in table.index]
        present = set(run["query_id"])
        for x in qrel_files:
            sub = table[table["lang"] == x]
            key = f"{x}-{target}"
            settings[key] = {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub)),
                             "queries_without_hits": int(sum(q not in present for q in sub.index))}
            per_query_tables[key] = sub.drop(columns="lang")
        if target == tp.POOL:
            rank_distances = rank_distance(run, qrels, depth)  # the pool is the last target
        del run

    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    result = {"dataset": dataset, "run_dir": str(run_dir), "depth": depth, "measures": MEASURES,
              "languages": langs, "settings": settings, "macro": macro_averages(settings, langs),
              "warnings": warnings}
    if rank_distances is not None:
        result["rank_distance"] = rank_distance_summary(rank_distances, langs, depth)
    result["per_query"] = per_query_tables
    return result


def rank_distance_summary(rd: pd.DataFrame, langs: list[str], depth: int) -> dict:
    """``rank_distance``'s per-query table as results.json has it: per query language, macro, counts."""
    rd = rd.assign(lang=[query_language(q, langs, "") for q in rd.index])
    defined = rd.dropna(subset=["rank_distance"])
    per_lang = {x: float(defined.loc[defined["lang"] == x, "rank_distance"].mean())
                for x in langs if (defined["lang"] == x).any()}
    return {
        "per_language": per_lang, "macro": float(np.mean(list(per_lang.values()))) if per_lang else None,
        "relevant_missing_from_run": int(rd["missing"].sum()), "relevant_total": int(rd["relevant"].sum()),
        "queries": int(len(defined)), "queries_undefined": int(len(rd) - len(defined)),
        "note": f"relevant candidates missing from the run are counted at rank {depth + 1} (depth + 1); "
                "queries with fewer than two relevant candidates, or none of them in the run, are left out",
    }


def macro_averages(settings: dict, langs: list[str]) -> dict:
    groups = {"Mo": [f"{x}-{x}" for x in langs],
              "Cr": [f"{x}-{y}" for x in langs for y in langs if x != y],
              "Mul": [f"{x}-{tp.POOL}" for x in langs]}
    out = {}
    for name, keys in groups.items():
        keys = [k for k in keys if k in settings]
        if keys:
            out[name] = {m: float(np.mean([settings[k][m] for k in keys])) for m in MEASURES}
            out[name]["settings"] = len(keys)
    return out


# ---------------------------------------------------------------------------------------------
# Output: JSON, Markdown, heatmap
