"""NTREX-128's evaluation: bitext retrieval X->en, en->X and the multilingual pool, grouped by language.

Run files as for every set (``evaluate.measures``): ``en.trec`` holds every X->en search, ``<X>.trec`` the
en->X one, ``pool.trec`` every language's sentences against all the chosen languages' candidates.

- Per setting: P@1 (bitext accuracy), RR@10 (its mean is MRR@10) and nDCG@10, from the ranks of the relevant
  candidates (``ranks.per_query_from_ranks``, equal to ir-measures on the run). A query's relevant candidates
  are its aligned line in the candidate language, plus any line there with exactly that text (``data.ntrex``);
  in the pool, in every evaluated language but its own. The pool ranking drops the query's own sentence (the
  candidate whose docid is its qid), so a pool run of depth d is read to depth d - 1.
- Macro averages: ``X-en`` over X != en, ``en-X`` over the same, ``Mul`` over every language against the pool;
  rank distance on the pool (``measures.rank_distance``'s definition), and the share of each pool query's
  first 10 candidates in its own language and in English (own@10, en@10: mean per query, then per query
  language; en@10 leaves English queries out), as the study defines them on its records.
- The same averages grouped by a property of X: resource class, script, family (``data/languages.tsv``), and
  seen/unseen: whether the model's training card (``training-card.json``) lists X among the languages its
  batches drew. BM25 has no card; a model without one (the untuned default) has no fine-tuning languages, so
  every language counts as unseen, and the result says where that came from.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import load_json
from ..core.trec import ranked
from ..data import topic_sets as tp
from ..data.languages import GROUPINGS, group_of
from ..data.ntrex import canonical
from .ranks import per_query_from_ranks
from .run_files import RunDir, depths, run_meta
from .scoring import distance_per_query, rank_distance_summary

MEASURES = ["P@1", "RR@10", "nDCG@10"]
DIRECTIONS = ("X-en", "en-X", "Mul")


def evaluate_bitext(runs: RunDir, depth: int | None, model: Path | None = None) -> dict:
    """NTREX's settings (X->en, en->X, the pool) with their macro averages, language shares and groups."""
    dataset, meta, run_dir, langs, warnings = runs.dataset, runs.meta, runs.path, runs.languages, runs.warnings
    plan = tp.searches(meta, langs)
    targets = [t for t in plan if (run_dir / f"{t}.trec").is_file()]
    if not targets:
        raise InputError(f"{run_dir}: no run files for {dataset} (expected <lang>.trec, e.g. en.trec)")
    depth, meta_depth = depths(run_dir, depth)
    settings, tables, result = {}, {}, {}
    for target in tqdm(targets, desc=f"evaluate {run_dir.parent.name}/{run_dir.name}", unit="run"):
        run, deepest = runs.checked(target, meta_depth)
        depth = depth if meta_depth else max(depth, deepest)
        run = run[_language(run["query_id"]).isin(plan[target]).to_numpy()]
        cut = depth
        if target == tp.POOL:  # the query's own sentence is a candidate of the pool, and no answer
            run, cut = run[run["query_id"] != run["doc_id"]], depth - 1
        run = ranked(run)
        run = run[run["rank"] <= cut]
        ranks, qids = relevant_ranks(run, target, plan[target], langs, meta)
        per = per_query_from_ranks(ranks, cut, lareqa=True, measures=MEASURES)
        present = set(run["query_id"])
        for key, sub in per.groupby("setting", sort=False):
            settings[key] = {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub)),
                             "queries_without_hits": int(sum(q not in present for q in sub["query_id"]))}
            tables[key] = sub.set_index("query_id")[MEASURES]
        if target == tp.POOL:
            result["rank_distance"] = rank_distance_summary(distance_per_query(ranks, cut), langs, cut)
            result["rank_distance"]["note"] += f"; the query's own sentence taken out, so the pool is read to {cut}"
            result["rank_distance"]["counted_at"] = cut + 1
            result["language_share"] = language_shares(run, langs, meta["pivot"])
        del run
    trained = training_languages(run_dir, model, warnings)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return {"dataset": dataset, "run_dir": str(run_dir), "depth": depth, "measures": MEASURES, "languages": langs,
            "pivot": meta["pivot"], "settings": settings, "macro": macro(settings, langs, meta["pivot"]),
            **result, "groups": grouped(settings, langs, meta["pivot"], trained), "training_languages": trained,
            "warnings": warnings, "per_query": tables}


def _language(ids: pd.Series) -> pd.Series:
    """The language of ``<lang>-<line>`` ids, split once per distinct id (a run has 8 M lines, 82 k ids)."""
    codes, uniques = pd.factorize(ids)
    langs = pd.Series(uniques, dtype=object).str.split("-", n=1).str[0].to_numpy(dtype=object)
    return pd.Series(langs[codes], index=ids.index, dtype=object)


def _parse(ids) -> tuple[np.ndarray, np.ndarray]:
    """Language codes and 1-based lines of ``<lang>-<line>`` ids."""
    parts = pd.Series(ids, dtype=object).str.split("-", n=1, expand=True)
    return parts[0].to_numpy(dtype=object), parts[1].astype(int).to_numpy()


def relevant_ranks(run: pd.DataFrame, target: str, query_langs: list[str], langs: list[str],
                   meta: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per relevant candidate of every query of ``query_langs`` against ``target`` (query_id, target,
    rank: NaN where the run lacks it, rel), and the queries' ids; from the alignment, on integer codes (a pool
    run of the default subset is 8 M lines with 3.3 M relevant candidates)."""
    n = meta["lines"]
    doc_langs = list(langs) if target == tp.POOL else [target]
    canon = np.concatenate([canonical(meta, y) for y in doc_langs])  # language y's lines at y's offset
    offset = {y: i * (n + 1) for i, y in enumerate(doc_langs)}
    hit = np.zeros(len(run), dtype=bool)
    if len(run):
        q, q_ids = pd.factorize(run["query_id"])
        d, d_ids = pd.factorize(run["doc_id"])
        (q_lang, q_line), (d_lang, d_line) = _parse(q_ids), _parse(d_ids)
        base = np.array([offset.get(y, -1) for y in d_lang], dtype=np.int64)[d]
        hit = (base >= 0) & (d_lang[d] != q_lang[q])
        hit[hit] = canon[base[hit] + d_line[d][hit]] == canon[base[hit] + q_line[q][hit]]
    found = pd.DataFrame({"query_id": run["query_id"].to_numpy()[hit],
                          "rank": run["rank"].to_numpy()[hit].astype(float)})
    sizes = {}  # per language, per line: how many of its lines carry that line's text
    for y in doc_langs:
        c = canonical(meta, y)
        sizes[y] = np.bincount(c, minlength=n + 1)[c]
    total = np.sum(list(sizes.values()), axis=0)
    qids = np.concatenate([np.array([f"{x}-{i}" for i in range(1, n + 1)], dtype=object) for x in query_langs])
    want = np.concatenate([(total - sizes.get(x, 0))[1:] for x in query_langs])
    have = found.groupby("query_id").size().reindex(qids, fill_value=0).to_numpy()
    missing = pd.DataFrame({"query_id": np.repeat(qids, want - have), "rank": np.nan})
    ranks = pd.concat([found, missing], ignore_index=True).assign(target=target, rel=1)
    return ranks, qids


def language_shares(run: pd.DataFrame, langs: list[str], pivot: str) -> dict:
    """own@10 and en@10 of a ranked pool run (its queries' own sentences already out)."""
    top = run[run["rank"] <= 10]
    q, d = _language(top["query_id"]), _language(top["doc_id"])
    frame = pd.DataFrame({"query_id": top["query_id"], "lang": q, "own": (q == d) / 10, "en": (d == pivot) / 10})
    per_query = frame.groupby(["lang", "query_id"])[["own", "en"]].sum()
    by = per_query.groupby(level="lang").mean()
    by = by[by.index.isin(langs)]
    en = by.drop(index=pivot, errors="ignore")["en"]
    return {"own@10": float(by["own"].mean()) if len(by) else None, "en@10": float(en.mean()) if len(en) else None,
            "per_language": {x: {"own@10": float(r["own"]), "en@10": float(r["en"])} for x, r in by.iterrows()},
            "note": "share of each pool query's first 10 candidates in its own language / in English, mean per "
                    "query, then per query language (en@10 without English queries)"}


def _setting(x: str, direction: str, pivot: str) -> str:
    return {"X-en": f"{x}-{pivot}", "en-X": f"{pivot}-{x}", "Mul": f"{x}-{tp.POOL}"}[direction]


def _means(settings: dict, keys: list[str]) -> dict | None:
    keys = [k for k in keys if k in settings]
    if not keys:
        return None
    return {**{m: float(np.mean([settings[k][m] for k in keys])) for m in MEASURES}, "settings": len(keys)}


def macro(settings: dict, langs: list[str], pivot: str) -> dict:
    out = {d: _means(settings, [_setting(x, d, pivot) for x in langs if d == "Mul" or x != pivot])
           for d in DIRECTIONS}
    return {d: v for d, v in out.items() if v}


def grouped(settings: dict, langs: list[str], pivot: str, trained: dict | None) -> dict:
    """{grouping: {group: {languages, X-en, en-X, Mul}}}: macro averages over the languages X of each group
    (resource class, script, family; seen/unseen where the runs have a model)."""
    kinds = {g: (lambda x, g=g: group_of(x, g)) for g in GROUPINGS}
    if trained is not None:
        seen = set(trained["languages"])
        kinds["training"] = lambda x: "seen" if x in seen else "unseen"
    out = {}
    for kind, label_of in kinds.items():
        buckets: dict[str, list[str]] = {}
        for x in langs:
            buckets.setdefault(label_of(x), []).append(x)
        out[kind] = {label: {"languages": xs, **{d: v for d in DIRECTIONS if (v := _means(
                         settings, [_setting(x, d, pivot) for x in xs if d == "Mul" or x != pivot]))}}
                     for label, xs in sorted(buckets.items())}
    return out


def training_languages(run_dir: Path, model: Path | None, warnings: list[str]) -> dict | None:
    """The languages the runs' model trained on: its ``training-card.json`` (the languages its batches drew;
    else those with training pairs). A model without a card is untuned: none. None: no model (BM25)."""
    meta = run_meta(run_dir)
    if model is None and str(meta.get("system", "")).startswith("fusion"):
        meta = run_meta(Path((meta.get("inputs") or {}).get("dense", "")))
    model = model or meta.get("model")
    if not model:
        return None
    model = Path(model)
    if not model.is_dir():
        warnings.append(f"{model}: the runs' model directory is not here; no seen/unseen grouping (--model DIR)")
        return None
    if (model / "training-card.json").is_file():
        card = load_json(model / "training-card.json")
        drawn = (card.get("batches") or {}).get("languages") or {}
        langs = {x for pair in drawn for x in pair.split("-")} or \
            {k.split("/")[-1] for k, v in ((card.get("data") or {}).get("pairs") or {}).items() if v}
        return {"model": str(model), "languages": sorted(langs),
                "source": "training-card.json: the languages its training batches drew"}
    config = load_json(model / "pyserini_hybrid.json") if (model / "pyserini_hybrid.json").is_file() else {}
    what = config.get("source") or "pyserini_hybrid.json names no source"
    return {"model": str(model), "languages": [],
            "source": f"no training-card.json: untuned ({what}), so no fine-tuning languages and every language "
                      "counts as unseen"}
