"""The study's numbers: macro averages per cell over seeds, tests of hybrid against each baseline, and the
tables of the report (main, MIRACL, grouped pairs, diversity) and its computed headline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import topic_sets as tp
from .config import BM25, LAREQA, UNTUNED, Study, slug  # noqa: F401 (slug: re-exported)

# ---------------------------------------------------------------------------------------------
# Numbers: per-query series, macro averages, significance


def lang_subset(dataset: str, study: Study, metas: dict, only: list[str] | None = None) -> list[str]:
    langs = [x for x in metas[dataset]["languages"] if not study.languages or x in study.languages]
    return [x for x in langs if not only or x in only]


def macro_keys(dataset: str, langs: list[str]) -> dict[str, list[str]]:
    if dataset in LAREQA:
        return {"Mo": [f"{x}-{x}" for x in langs], "Cr": [f"{x}-{y}" for x in langs for y in langs if x != y],
                "Mul": [f"{x}-{tp.POOL}" for x in langs]}
    return {"all": [f"{x}-{x}" for x in langs]}


def macro(result: dict, settings: list[str], measure: str) -> float | None:
    vals = [result["settings"][k][measure] for k in settings if k in result["settings"]]
    return float(np.mean(vals)) if vals else None


def unit_values(per_query: pd.DataFrame, settings: list[str], measure: str) -> pd.Series:
    """Per-(setting, query) values over the given settings, indexed (setting, query_id): paired across systems."""
    sub = per_query[per_query["setting"].isin(settings)]
    return pd.Series(sub[measure].to_numpy(), index=pd.MultiIndex.from_arrays([sub["setting"], sub["query_id"]]))


def question_cluster(dataset: str, query_id: str) -> str:
    """The unit of independence: LAReQA qids are ``<lang>-<source id>``, and the translations of one question
    (every language, every setting) are one cluster; a MIRACL query is its own."""
    return query_id.split("-", 1)[1] if dataset in LAREQA and "-" in query_id else query_id


def compare(results: dict, system: str, baseline: str, dataset: str, settings: list[str], measure: str) -> dict | None:
    """``system`` minus ``baseline`` on the macro average the table shows, seeds as a level of variance and
    translation-linked queries as one cluster (``evaluate.significance.compare_systems``)."""
    from ..evaluate.significance import compare_systems

    def seeds_of(name):
        return [unit_values(results[k][1], settings, measure) for k in sorted(results) if k[0] == name and k[2] == dataset]
    a, b = seeds_of(system), seeds_of(baseline)
    if not a or not b:
        return None
    frame = pd.concat(a + b, axis=1, join="inner")  # units every seed of both systems has
    if frame.empty:
        return None
    values = frame.to_numpy().T
    units = frame.index
    clusters = [question_cluster(dataset, q) for q in units.get_level_values(1)]
    return compare_systems(values[:len(a)], values[len(a):], units.get_level_values(0).to_numpy(), clusters)


def test_fields(test: dict | None) -> dict:
    """What a table cell keeps of a test of hybrid against its row: difference, 95 % CI, p."""
    if not test:
        return {"p_vs_hybrid": None, "diff_hybrid_minus": None, "ci_hybrid_minus": None}
    return {"p_vs_hybrid": test["p"], "diff_hybrid_minus": test["diff"],
            "ci_hybrid_minus": [test["ci_low"], test["ci_high"]], "test_df": test["df"],
            "seed_var_estimable": test["seed_var_estimable"]}


def cell(results: dict, name: str, dataset: str, settings: list[str], measure: str) -> dict | None:
    vals = [macro(results[k][0], settings, measure) for k in sorted(results) if k[0] == name and k[2] == dataset]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
            "seeds": len(vals), "values": vals}


def main_table(study: Study, results: dict, metas: dict, systems: list[str]) -> dict:
    """XQuAD-R / MLQA-R: mAP for Mo, Cr, Mul (+ R@1, R@10, rank distance), p vs hybrid."""
    table = {}
    for dataset in [d for d in LAREQA if d in study.datasets]:
        langs = lang_subset(dataset, study, metas)
        groups = macro_keys(dataset, langs)
        for name in systems:
            row = table.setdefault(name, {})
            for g, keys in groups.items():
                for measure in ("AP", "R@1", "R@10"):
                    c = cell(results, name, dataset, keys, measure)
                    if c is None:
                        continue
                    if name != "hybrid" and measure == "AP":
                        test = compare(results, "hybrid", name, dataset, keys, measure)
                        c.update(test_fields(test))
                    row[f"{dataset} {g} {measure}"] = c
            rd = [results[k][0].get("rank_distance", {}).get("macro") for k in sorted(results)
                  if k[0] == name and k[2] == dataset]
            rd = [x for x in rd if x is not None]
            if rd:
                row[f"{dataset} rank distance"] = {"mean": float(np.mean(rd)), "seeds": len(rd),
                                                   "sd": float(np.std(rd, ddof=1)) if len(rd) > 1 else None}
    return table


def headline(study: Study, main: dict) -> dict:
    """Significant wins and losses of hybrid against X-X-mono and X-Y over the Mo/Cr/Mul mAP cells, with
    Holm-Bonferroni over that whole family (every cell against every baseline), and rank distances: the
    one-sentence answer the README quotes, computed, never typed. The Holm-adjusted p goes into each cell."""
    from ..evaluate.significance import holm

    out = {"cells": 0, "alpha": 0.05, "correction": "holm", "against": {}, "rank_distance": {}}
    cells = [(d, g) for d in LAREQA if d in study.datasets for g in ("Mo", "Cr", "Mul")]
    out["cells"] = len(cells)
    bases = [v for v in study.variants if v != "hybrid"]
    family = {(b, d, g): (main.get(b, {}).get(f"{d} {g} AP") or {}).get("p_vs_hybrid")
              for b in bases for d, g in cells}
    adjusted = holm(family)
    for base in bases:
        won = lost = 0
        for d, g in cells:
            c = main.get(base, {}).get(f"{d} {g} AP") or {}
            c["p_holm"] = adjusted[(base, d, g)]
            if c["p_holm"] is not None and c["p_holm"] < out["alpha"]:
                won += c["diff_hybrid_minus"] > 0
                lost += c["diff_hybrid_minus"] < 0
        out["against"][base] = {"significant_wins": int(won), "significant_losses": int(lost)}
    out["tests"] = sum(p is not None for p in family.values())
    for name in study.variants:
        for d in LAREQA:
            c = main.get(name, {}).get(f"{d} rank distance")
            if c:
                out["rank_distance"].setdefault(d, {})[name] = c["mean"]
    return out


def headline_sentence(h: dict) -> str:
    parts = [f"{v['significant_wins']} significant wins and {v['significant_losses']} losses against {k}"
             for k, v in h["against"].items()]
    text = (f"**Headline.** Over the {h['cells']} Mo/Cr/Mul mAP averages, hybrid batches have "
            + " and ".join(parts) + f" (seed- and question-clustered test, Holm-adjusted over {h.get('tests', 0)} tests, "
            f"p < {h['alpha']}; the rest are within noise)")
    rd = [f"{d}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()) for d, row in h["rank_distance"].items()]
    return text + ("; mean rank distance (language bias, lower is less) " + "; ".join(rd) if rd else "") + "."


def miracl_table(study: Study, results: dict, metas: dict, systems: list[str]) -> dict:
    if "miracl-mini" not in study.datasets:
        return {}
    langs = lang_subset("miracl-mini", study, metas)
    table = {}
    for name in systems:
        row = table.setdefault(name, {})
        for measure in ("nDCG@10", "R@100", "RR@10"):
            keys = [f"{x}-{x}" for x in langs]
            c = cell(results, name, "miracl-mini", keys, measure)
            if c is None:
                continue
            if name != "hybrid":
                test = compare(results, "hybrid", name, "miracl-mini", keys, measure)
                c.update(test_fields(test))
            row[f"{measure} (mean of {len(langs)})"] = c
    return table


def pair_groups(kind: str, langs: list[str], trained: set[str]) -> dict[str, list[str]]:
    """Settings of a LAReQA set grouped by a property of the (query, candidate) language pair."""
    from ..data.languages import resource_group, same_family, same_script

    groups: dict[str, list[str]] = {}
    for x in langs:
        for y in langs:
            if kind == "unseen":
                seen = (x in trained) + (y in trained)
                label = {2: "both seen", 1: "one seen", 0: "neither seen"}[seen] + (" (mono)" if x == y else " (cross)")
                groups.setdefault(label, []).append(f"{x}-{y}")
            elif x != y:
                groups.setdefault("same script" if same_script(x, y) else "different script", []).append(f"{x}-{y}")
                groups.setdefault("same family" if same_family(x, y) else "different family", []).append(f"{x}-{y}")
                groups.setdefault(f"resource {resource_group(x, y)}", []).append(f"{x}-{y}")
    return groups


def trained_languages(trained: dict, label: str) -> set[str]:
    """The languages a variant's batches actually drew (its first run's card): X-Y never sees a
    monolingual-only language, so "seen" is per variant."""
    from ..core.files import load_json

    for name, _, dirs in trained["runs"]:
        if name == label:
            drawn = load_json(dirs[max(dirs)] / "training-card.json")["batches"].get("languages") or {}
            return {x for pair in drawn for x in pair.split("-")}
    return set()


def grouped_table(study: Study, results: dict, metas: dict, trained: dict, kind: str) -> dict:
    """Settings grouped by a property of the language pair; for ``unseen`` the groups are per variant (the
    languages it trained on), so each variant's rows hold only that variant."""
    out = {}
    for dataset in [d for d in LAREQA if d in study.datasets]:
        langs = lang_subset(dataset, study, metas)
        names = [BM25, UNTUNED, *study.variants]
        for name in (study.variants if kind == "unseen" else [None]):
            seen = trained_languages(trained, name) if name else set()
            for label, keys in pair_groups(kind, langs, seen).items():
                row = out.setdefault(f"{dataset}: {label}" + (f" [{name}: {'+'.join(sorted(seen))}]" if name else ""),
                                     {"settings": len(keys)})
                for system in ([BM25, UNTUNED, name] if name else names):
                    c = cell(results, system, dataset, keys, "AP")
                    if c is None:
                        continue
                    if system != "hybrid" and system in study.variants:
                        c.update(test_fields(compare(results, "hybrid", system, dataset, keys, "AP")))
                    row[system] = c
    return out


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
        log = dirs[max(dirs)] / "train-log.jsonl"
        for line in log.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r.get("val_mo") is not None:
                step = out.setdefault(label, {}).setdefault(str(r["step"]), {})
                for k in ("val_mo", "val_cr", "val_mul"):
                    step.setdefault(k, []).append(r[k])
    return out


def diversity_table(study: Study, results: dict, metas: dict, trained: dict) -> dict:
    names = [n for n, _, _ in trained["runs"] if n.startswith("hybrid [")] + ["hybrid"]
    table = {}
    for name in names:  # subsets, then all training languages; the main hybrid row says which those are
        label = name if name.startswith("hybrid [") else f"hybrid [{'+'.join(sorted(trained_languages(trained, name)))}]"
        row = table.setdefault(label, {})
        for dataset in [d for d in LAREQA if d in study.datasets]:
            for g, keys in macro_keys(dataset, lang_subset(dataset, study, metas)).items():
                c = cell({k: v for k, v in results.items() if k[1] == study.seeds[0]}, name, dataset, keys, "AP")
                if c:
                    row[f"{dataset} {g} AP"] = {"mean": c["values"][0], "seeds": 1}
        if "miracl-mini" in study.datasets:
            keys = [f"{x}-{x}" for x in lang_subset("miracl-mini", study, metas)]
            c = cell({k: v for k, v in results.items() if k[1] == study.seeds[0]}, name, "miracl-mini", keys, "RR@10")
            if c:
                row["miracl-mini RR@10"] = {"mean": c["values"][0], "seeds": 1}
    return table
