"""Language-preference measures on the multilingual pool, beside rank distance (beyond the paper).

- ``own@10`` and ``en@10``: the share of a pool query's first 10 candidates that are in the query's own
  language, and in English, averaged over queries and then over query languages. A system without language
  preference gives each language its share of the pool's relevant candidates; a biased one fills the top with
  its favourite (Roy et al. 2020, LAReQA, discuss the same "language bias" with rank-based views).
- ``rank correlation``: Spearman's rho between the pool rankings of the translations of one question, averaged
  over the language pairs that hold it, then over pairs (dense systems only: it needs every candidate's score).
  1 = the ranking does not depend on the query's language.
- ``PEER@10``, ``PEER@100``: the probability that relevant candidates of every language have equal expected
  rank in the top k (Yang et al., SIGIR 2024), computed by its authors' ir-measures provider
  (``peer-measure``), not a copy of its formula; 1 = no language is ranked ahead of another.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.files import write_json
from ..data import topic_sets as tp

PEER_CUTOFFS = (10, 100)
FILLER = "~"  # the language of a run's non-relevant places: weight 0, so which candidate sat there is irrelevant


def peer_inputs(ranks: pd.DataFrame, langs: list[str], most: int) -> tuple[list, list, dict]:
    """Qrels, run and docid -> language for ``peer-measure`` from the pool's recorded ranks alone: each relevant
    candidate at its recorded rank (if within ``most``), non-relevant fillers at the other places up to the last
    of them. With PEER's weights {0: 0, 1: 1} only the relevant candidates' places count, so this gives what the
    full run gives. One filler is judged 0 per query: peer-measure 0.0.1 keys its groups by the judged grades
    and fails on a retrieved document of an unjudged grade."""
    from ir_measures import Qrel, ScoredDoc

    pool = ranks[ranks["target"] == tp.POOL]
    qrels, run, mapping = [], [], {}
    # docids are shared by every query (a query's qrels and run are its own): the language map stays a few
    # hundred entries, which peer-measure hashes with each measure
    for qid, sub in pool.groupby("query_id", sort=True):
        if qid.split("-", 1)[0] not in langs:
            continue
        places, seen = {}, {}
        for doc, rank in zip(sub["doc_id"], sub["rank"]):
            lang = doc.split("-", 1)[0]
            seen[lang] = seen.get(lang, -1) + 1
            name = mapping_key = f"{lang}|{seen[lang]}"
            mapping[mapping_key] = lang
            qrels.append(Qrel(qid, name, 1))
            if rank == rank and rank <= most:
                places[int(rank)] = name
        for i in range(1, max(places, default=1) + 1):
            name = places.get(i) or f"{FILLER}{i}"
            mapping.setdefault(name, FILLER)
            run.append(ScoredDoc(qid, name, float(-i)))
        mapping[f"{FILLER}0"] = FILLER
        qrels.append(Qrel(qid, f"{FILLER}0", 0))
    return qrels, run, mapping


def _remember_kruskal(module) -> None:
    """peer-measure's own test, computed once per distinct input: a study scores ~10^4 pool queries per run at
    two cutoffs and most queries' groups repeat (at @10 most relevant candidates are beyond the cutoff), so
    calling it for each would add minutes to every report. The value is always the package's."""
    if getattr(module.kruskal, "remembered", False):
        return
    original, memo = module.kruskal, {}

    def kruskal(*samples):
        key = tuple(tuple(None if r != r else r for r in s) for s in samples)  # NaN -> None: hashable, equal
        if key not in memo:
            memo[key] = original(*samples)
        return memo[key]

    kruskal.remembered = True
    module.kruskal = kruskal


def peer_at(ranks: pd.DataFrame, langs: list[str], cutoffs=PEER_CUTOFFS) -> dict:
    """{"PEER@k": mean over query languages of the mean over their pool queries} (None without pool queries).
    A query whose test peer-measure leaves undefined (NaN: its ranks, with the package's rank for candidates not
    retrieved, all equal) is left out of the mean rather than making it NaN."""
    import ir_measures.util

    if not hasattr(ir_measures.util, "flatten_measures"):
        # peer-measure 0.0.1 calls ir_measures.util.flatten_measures, which ir-measures 0.4 removed; for plain
        # measures (no MultiMeasures, as here) it was the set of them
        ir_measures.util.flatten_measures = set
    import peer_measure

    _remember_kruskal(peer_measure)
    qrels, run, mapping = peer_inputs(ranks, langs, max(cutoffs))
    if not qrels:
        return {f"PEER@{k}": None for k in cutoffs}
    measures = [peer_measure.PEER(weights={0: 0.0, 1: 1.0}, lang_mapping=mapping) @ k for k in cutoffs]
    rows = [(m.query_id, str(m.measure), m.value) for m in peer_measure._provider.iter_calc(measures, qrels, run)]
    frame = pd.DataFrame(rows, columns=["query_id", "measure", "value"])
    frame["lang"] = frame["query_id"].str.split("-", n=1).str[0]
    by = frame.groupby(["measure", "lang"])["value"].mean().groupby(level=0).mean()
    return {f"PEER@{k}": float(by[str(m)]) for k, m in zip(cutoffs, measures)}


class PeerCache:
    """PEER values of recorded ranks files, by the file's sha256, the languages, cutoffs and peer-measure's
    version. peer-measure is slow over a study's pools (docs/study.md has the cost), so
    ``report`` keeps what it computed beside the report (``peer.json``) and reads it back for an unchanged file,
    computing anything else. Content-addressed, so a stale entry cannot be read."""

    def __init__(self, path: Path | None):
        from importlib.metadata import version

        self.path, self.version, self.used = path, version("peer-measure"), {}
        try:
            kept = json.loads(path.read_text(encoding="utf-8")) if path else {}
        except (OSError, ValueError):
            kept = {}
        same = kept.get("peer-measure") == self.version and kept.get("cutoffs") == list(PEER_CUTOFFS)
        self.kept = kept.get("values", {}) if same else {}

    def values(self, path: Path, ranks: pd.DataFrame, langs: list[str]) -> dict:
        key = f"{hashlib.sha256(path.read_bytes()).hexdigest()}:{','.join(langs)}"
        self.used[key] = self.kept.get(key) or peer_at(ranks, langs)
        return self.used[key]

    def save(self) -> None:
        if self.path and self.used:
            write_json(self.path, {"peer-measure": self.version, "cutoffs": list(PEER_CUTOFFS),
                                   "values": dict(sorted(self.used.items()))})


def language_measures(ranks: pd.DataFrame, top: pd.DataFrame | None, rho: pd.DataFrame | None,
                      langs: list[str], depth: int, peer: dict | None = None) -> dict:
    out: dict = dict(peer) if peer is not None else peer_at(ranks, langs)
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
