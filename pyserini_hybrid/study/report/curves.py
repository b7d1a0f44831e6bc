"""The report's curves: budget curves, the alpha sweep, the +native ablation and the validation curves read
from the units' training logs."""

from __future__ import annotations

import gzip
import json

import numpy as np
from scipy import stats

from ..config import LAREQA, Study
from .tables import cell, lang_subset, macro_keys, pooled_seed_variance


def _metric_cells(results: dict, name: str, dataset: str, langs: list[str], pool: bool = True) -> dict:
    """Mo/Cr/Mul mAP and rank distance of one system on ``langs``' settings. ``pool=False`` leaves out the
    pool measures (Mul, rank distance): they depend on which languages' candidates the pool held."""
    row = {}
    for g, keys in macro_keys(dataset, langs).items():
        if g == "Mul" and not pool:
            continue
        c = cell(results, name, dataset, keys, "AP")
        if c:
            row[f"{dataset} {g} AP"] = c
    rd = [results[k][0].get("rank_distance", {}).get("macro") for k in sorted(results)
          if k[0] == name and k[2] == dataset] if pool else []
    rd = [x for x in rd if x is not None]
    if rd:
        row[f"{dataset} rank distance"] = {"mean": float(np.mean(rd)), "values": rd, "seeds": len(rd),
                                           "sd": float(np.std(rd, ddof=1)) if len(rd) > 1 else None}
    return row


def curves_table(study: Study, results: dict, metas: dict) -> dict:
    """{variant: {budget: cells}} on each curve dataset's curve languages: Mo/Cr/Mul mAP and rank distance
    after each budget of steps, over the seeds (every seed's value kept for the band).

    Only a dataset named in ``curve_languages`` has a curve (the others were evaluated at the largest budget
    only, and no budget stands in for another). The largest budget was evaluated on all the dataset's
    languages: its Mo and Cr settings on the curve languages are the very runs a curve evaluation would make
    (one collection per language), but its multilingual pool held every language's candidates, so Mul and rank
    distance there are not on the curve's pool and are left out (``_pool_left_out``) unless both language sets
    are the same."""
    out: dict = {}
    for dataset in [d for d in LAREQA if d in study.datasets and d in study.curve_languages]:
        langs = lang_subset(dataset, study, metas)
        curve = [x for x in study.curve_languages[dataset] if x in langs]
        if not curve:
            continue
        for name in study.variants:
            for budget in study.budgets:
                label, pool = f"{name} @{budget}", True
                if not any(k[0] == label and k[2] == dataset for k in results):
                    if budget != study.steps:
                        continue  # not evaluated (yet): never the largest budget's numbers under a smaller one
                    label, pool = name, set(curve) == set(langs)
                cells = _metric_cells(results, label, dataset, curve, pool)
                if cells:
                    out.setdefault(name, {}).setdefault(str(budget), {}).update(cells)
                if not pool:
                    out.setdefault("_pool_left_out", {})[dataset] = budget
        out.setdefault("_languages", {})[dataset] = curve
    return out


def sweep_table(study: Study, results: dict, metas: dict) -> dict:
    """{alpha: cells} at the largest budget: the pure batchings, hybrid and the [sweep] alphas; for each α
    between 0 and 1 its distance from the straight line between α = 0 and α = 1 (``<cell> vs line``) with a
    95 % seed-level interval: the between-seed variance pooled over the batchings (the sweep alphas have one
    seed, so their own is not estimable), scaled by each point's number of seeds. Test questions are shared by
    every point, so the seed level is the variance that matters here; query sampling is not in the interval."""
    names = {alpha: name for name, alpha in study.variants.items()}
    names.update({float(a): f"alpha={a}" for a in study.sweep.alphas})
    out = {}
    for alpha in sorted(names):
        row = {"system": names[alpha]}
        for dataset in [d for d in LAREQA if d in study.datasets]:
            row.update(_metric_cells(results, names[alpha], dataset, lang_subset(dataset, study, metas)))
        out[f"{alpha:g}"] = row
    lo, hi = out.get("0"), out.get("1")
    if not lo or not hi:
        return out
    for dataset in [d for d in LAREQA if d in study.datasets]:
        for g, keys in macro_keys(dataset, lang_subset(dataset, study, metas)).items():
            key = f"{dataset} {g} AP"
            if key not in lo or key not in hi:
                continue
            pooled = pooled_seed_variance(results, list(study.variants), dataset, keys, "AP")
            for a, row in out.items():
                if not 0 < float(a) < 1 or key not in row:
                    continue
                x = float(a)
                line = (1 - x) * lo[key]["mean"] + x * hi[key]["mean"]
                c = {"mean": row[key]["mean"] - line, "sd": None, "seeds": row[key]["seeds"]}
                if pooled:
                    se = (pooled["var"] * (1 / row[key]["seeds"] + (1 - x) ** 2 / lo[key]["seeds"]
                                           + x ** 2 / hi[key]["seeds"])) ** 0.5
                    t = float(stats.t.ppf(0.975, pooled["df"]))
                    c.update({"ci": [c["mean"] - t * se, c["mean"] + t * se], "seed_df": pooled["df"]})
                row[f"{key} vs line"] = c
    return out


def native_table(study: Study, results: dict, metas: dict) -> dict:
    """The +native ablation: each batching with and without the native monolingual sets, the same seeds."""
    if not study.native.datasets:
        return {}
    seeds = set(study.native_seeds)
    out = {}
    for name in study.native_variants:
        for label in (name, f"{name} +native"):
            sub = {k: v for k, v in results.items() if k[0] != label or k[1] in seeds}
            row = {}
            for dataset in [d for d in LAREQA if d in study.datasets]:
                row.update(_metric_cells(sub, label, dataset, lang_subset(dataset, study, metas)))
            if "miracl-mini" in study.datasets:
                keys = [f"{x}-{x}" for x in lang_subset("miracl-mini", study, metas)]
                c = cell(sub, label, "miracl-mini", keys, "RR@10")
                if c:
                    row["miracl-mini RR@10"] = c
            out[label] = row
    return out


def validation_curves(trained: dict, study: Study) -> dict:
    """{variant: {step: {val_mo, val_cr, val_mul: [per seed]}}} from the training logs (held-out training
    groups): the numbers recipe settings are chosen on."""
    out: dict = {}
    for label, seed, dirs in trained["runs"]:
        if label not in study.variants:
            continue
        with gzip.open(dirs[max(dirs)] / "train-log.jsonl.gz", "rt", encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for r in lines:
            if r.get("val_mo") is not None:
                step = out.setdefault(label, {}).setdefault(str(r["step"]), {})
                for k in ("val_mo", "val_cr", "val_mul"):
                    step.setdefault(k, []).append(r[k])
    return out
