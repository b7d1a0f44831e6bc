"""The report's curves: budget curves, the alpha sweep, the +native ablation and the validation curves read
from the units' training logs."""

from __future__ import annotations

import numpy as np

from .config import LAREQA, Study
from .tables import cell, lang_subset, macro_keys


def _metric_cells(results: dict, name: str, dataset: str, langs: list[str]) -> dict:
    row = {}
    for g, keys in macro_keys(dataset, langs).items():
        c = cell(results, name, dataset, keys, "AP")
        if c:
            row[f"{dataset} {g} AP"] = c
    rd = [results[k][0].get("rank_distance", {}).get("macro") for k in sorted(results)
          if k[0] == name and k[2] == dataset]
    rd = [x for x in rd if x is not None]
    if rd:
        row[f"{dataset} rank distance"] = {"mean": float(np.mean(rd)), "values": rd, "seeds": len(rd),
                                           "sd": float(np.std(rd, ddof=1)) if len(rd) > 1 else None}
    return row


def curves_table(study: Study, results: dict, metas: dict) -> dict:
    """{variant: {budget: cells}} on each dataset's curve languages: Mo/Cr/Mul mAP and rank distance after
    each budget of steps, over the seeds (every seed's value kept for the band)."""
    out: dict = {}
    for dataset in [d for d in LAREQA if d in study.datasets]:
        langs = lang_subset(dataset, study, metas)
        curve = [x for x in study.curve_languages.get(dataset, langs) if x in langs] or langs
        for name in study.variants:
            for budget in study.budgets:
                label = f"{name} @{budget}"
                if not any(k[0] == label and k[2] == dataset for k in results):
                    label = name  # the largest budget on all languages is the curve's last point
                cells = _metric_cells(results, label, dataset, curve)
                out.setdefault(name, {}).setdefault(str(budget), {}).update(cells)
        out.setdefault("_languages", {})[dataset] = curve
    return out


def sweep_table(study: Study, results: dict, metas: dict) -> dict:
    """{alpha: cells} at the largest budget: the pure batchings, hybrid and the [sweep] alphas."""
    names = {alpha: name for name, alpha in study.variants.items()}
    names.update({float(a): f"alpha={a}" for a in study.sweep.get("alphas", [])})
    out = {}
    for alpha in sorted(names):
        row = {"system": names[alpha]}
        for dataset in [d for d in LAREQA if d in study.datasets]:
            row.update(_metric_cells(results, names[alpha], dataset, lang_subset(dataset, study, metas)))
        out[f"{alpha:g}"] = row
    return out


def native_table(study: Study, results: dict, metas: dict) -> dict:
    """The +native ablation: each batching with and without the native monolingual sets, the same seeds."""
    if not study.native.get("datasets"):
        return {}
    seeds = set(study.native.get("seeds", study.seeds[:1]))
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
    import json

    out: dict = {}
    for label, seed, dirs in trained["runs"]:
        if label not in study.variants:
            continue
        import gzip

        with gzip.open(dirs[max(dirs)] / "train-log.jsonl.gz", "rt", encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for r in lines:
            if r.get("val_mo") is not None:
                step = out.setdefault(label, {}).setdefault(str(r["step"]), {})
                for k in ("val_mo", "val_cr", "val_mul"):
                    step.setdefault(k, []).append(r[k])
    return out
