"""Measures from the ranks of the relevant candidates alone (a study unit's records), with no run file.

Every measure we report sums over relevant candidates at their ranks, so the ranks are enough:
    AP      = (1/R) * sum over retrieved relevant, i-th by rank, of i / rank_i
    R@k     = |{relevant with rank <= k}| / R
    RR@10   = 1 / (rank of the first relevant) if it is <= 10, else 0
    P@1     = 1 if a relevant candidate is at rank 1, else 0 (NTREX's bitext accuracy)
    nDCG@10 = sum_{rank <= 10} g / log2(rank + 1) / (the same over the ideal order of the grades)
with R the number of relevant candidates in the qrels and only ranks within the run's depth counted, so the
values equal ir-measures (trec_eval's definitions, linear gain) on the run; ``tests/test_study_units.py``
checks that against ``evaluate_run_dir``. Written here rather than by feeding ir-measures a synthetic run
because a unit has no run to feed it, and the closed forms are a few lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import topic_sets as tp
from .scoring import MEASURES, macro_averages


def _query_language(qids: pd.Series) -> pd.Series:
    return qids.str.split("-", n=1).str[0]


def per_query_from_ranks(ranks: pd.DataFrame, depth: int, lareqa: bool, measures=MEASURES) -> pd.DataFrame:
    """One row per (setting, query) with the columns of ``measures`` (of ``MEASURES`` and P@1; + setting,
    query_id). ``lareqa``: the setting is the query's language and the target, else the target twice."""
    df = ranks.copy()
    df["setting"] = (_query_language(df["query_id"]) if lareqa else df["target"]) + "-" + df["target"]
    r = df["rank"].to_numpy(dtype=float)
    r = np.where(np.isnan(r) | (r > depth), np.inf, r)
    df["r"] = r
    df = df.sort_values(["setting", "query_id", "r"], kind="stable", ignore_index=True)
    g = df.groupby(["setting", "query_id"], sort=True)
    df["R"] = g["r"].transform("size")
    df["i"] = g.cumcount() + 1
    hit = np.isfinite(df["r"].to_numpy())
    rr = df["r"].to_numpy()
    gain = df["rel"].to_numpy(dtype=float)
    out = pd.DataFrame({"setting": df["setting"], "query_id": df["query_id"]})
    out["AP"] = np.where(hit, df["i"] / np.where(hit, rr, 1), 0.0) / df["R"]
    for k in (1, 10, 100):
        out[f"R@{k}"] = (rr <= k) / df["R"]
    out["RR@10"] = np.where((df["i"] == 1) & (rr <= 10), 1.0 / np.where(hit, rr, 1), 0.0)
    out["P@1"] = (rr == 1).astype(float)
    out["dcg"] = np.where(rr <= 10, gain / np.log2(np.where(hit, rr, 1) + 1), 0.0)
    # ideal DCG: the grades in decreasing order at ranks 1..10
    ideal = df.assign(gain=gain).sort_values(["setting", "query_id", "gain"], ascending=[True, True, False],
                                             kind="stable")
    pos = ideal.groupby(["setting", "query_id"]).cumcount() + 1
    ideal = ideal.assign(idcg=np.where(pos <= 10, ideal["gain"] / np.log2(pos + 1), 0.0))
    idcg = ideal.groupby(["setting", "query_id"])["idcg"].sum()
    per = out.groupby(["setting", "query_id"], sort=True).sum(numeric_only=True)
    per["nDCG@10"] = np.where(idcg.reindex(per.index) > 0, per["dcg"] / idcg.reindex(per.index), 0.0)
    per = per.drop(columns="dcg").reset_index()
    return per[["setting", "query_id", *measures]]


def rank_distance_from_ranks(ranks: pd.DataFrame, depth: int, langs: list[str]) -> dict | None:
    """Language bias on the pool: per query, max - min rank over its relevant candidates (one per language
    holding the question), over every pool query with at least two relevant candidates, the same queries for
    every system. Full ranks where the unit has them (dense); beyond the depth of a run without a full ranking
    (BM25, fusion) a candidate counts at depth + 1, said in the result."""
    pool = ranks[ranks["target"] == tp.POOL]
    if pool.empty:
        return None
    r = pool["rank"].to_numpy(dtype=float)
    censored = np.isnan(r)
    pool = pool.assign(r=np.where(censored, depth + 1, r), censored=censored)
    g = pool.groupby("query_id")
    per = pd.DataFrame({"d": g["r"].max() - g["r"].min(), "n": g.size(), "censored": g["censored"].sum()})
    per = per[per["n"] >= 2]
    per["lang"] = _query_language(per.index.to_series())
    by_lang = {x: float(per.loc[per["lang"] == x, "d"].mean()) for x in langs if (per["lang"] == x).any()}
    return {"per_language": by_lang, "macro": float(np.mean(list(by_lang.values()))) if by_lang else None,
            "queries": int(len(per)), "censored_candidates": int(per["censored"].sum()),
            "full_ranks": bool(not censored.any()),
            "note": "from full rankings" if not censored.any() else
                    f"relevant candidates beyond depth {depth} (no full ranking) counted at {depth + 1}"}


def result_from_ranks(ranks: pd.DataFrame, depth: int, lareqa: bool, langs: list[str]) -> tuple[dict, pd.DataFrame]:
    """(result, per-query table) in the shape ``evaluate_run_dir`` gives: settings with their mean measures,
    Mo/Cr/Mul macro averages and rank distance."""
    per = per_query_from_ranks(ranks, depth, lareqa)
    settings = {}
    for key, sub in per.groupby("setting", sort=True):
        settings[key] = {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub))}
    result = {"depth": depth, "languages": langs, "settings": settings,
              "macro": macro_averages(settings, langs) if lareqa else {}}
    rd = rank_distance_from_ranks(ranks, depth, langs) if lareqa else None
    if rd is not None:
        result["rank_distance"] = rd
    return result, per
