"""The measures of one run against its qrels (ir-measures, per query), the paper's macro averages (Mo, Cr,
Mul) and rank distance: pure functions of data frames, shared by the run evaluator (``measures``), NTREX's
(``bitext``) and the study's measures from recorded ranks (``ranks``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.trec import ranked
from ..data import topic_sets as tp

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


def query_language(qid: str, languages: list[str], fallback: str) -> str:
    head = qid.split("-", 1)[0]
    return head if head in languages else fallback


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
