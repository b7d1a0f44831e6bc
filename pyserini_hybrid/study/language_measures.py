"""Language-preference measures on the multilingual pool, beside rank distance (beyond the paper).

- ``own@10`` and ``en@10``: the share of a pool query's first 10 candidates that are in the query's own
  language, and in English, averaged over queries and then over query languages. A system without language
  preference gives each language its share of the pool's relevant candidates; a biased one fills the top with
  its favourite (Roy et al. 2020, LAReQA, discuss the same "language bias" with rank-based views).
- ``rank correlation``: Spearman's rho between the pool rankings of the translations of one question, averaged
  over the language pairs that hold it, then over pairs (dense systems only: it needs every candidate's score).
  1 = the ranking does not depend on the query's language.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def language_measures(ranks: pd.DataFrame, top: pd.DataFrame | None, rho: pd.DataFrame | None,
                      langs: list[str], depth: int) -> dict:
    out: dict = {}
    if top is not None and len(top):
        q_lang = top["query_id"].str.split("-", n=1).str[0]
        tops = top["top"].fillna("").str.split(",")
        own = [sum(t == x for t in ts) / 10 for ts, x in zip(tops, q_lang)]
        en = [sum(t == "en" for t in ts) / 10 for ts in tops]
        frame = pd.DataFrame({"lang": q_lang, "own": own, "en": en})
        frame = frame[frame["lang"].isin(langs)]
        by = frame.groupby("lang")[["own", "en"]].mean()
        out["own@10"] = float(by["own"].mean())
        out["en@10"] = float(by.drop(index="en", errors="ignore")["en"].mean()) if len(by) > 1 else None
    if rho is not None and len(rho):
        pairs = rho.groupby(["lang_a", "lang_b"])["spearman"].mean()
        out["rank correlation"] = float(np.mean(pairs.to_numpy()))
    return out
