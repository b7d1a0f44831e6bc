"""The study's numbers: macro averages per cell over seeds, tests of hybrid against each baseline, and the
tables of the report (main, MIRACL, grouped pairs, diversity) and its computed headline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ...core.files import load_json
from ...data import topic_sets as tp
from ...data.languages import resource_group, same_family, same_script
from ...evaluate.significance import compare_systems
from ..config import BM25, LAREQA, UNTUNED, Study

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


def question_cluster(dataset: str, query_id: str, clusters: dict | None = None) -> str:
    """The unit of independence: LAReQA qids are ``<lang>-<source id>``; the translations of one question and
    the questions of one paragraph (they share its candidate sentences) are one cluster, given by
    ``clusters[dataset]`` (question id -> paragraph); without it, the question. NTREX: the line (a sentence's
    translations). A MIRACL query is its own."""
    if dataset == "ntrex" and "-" in query_id:
        return query_id.split("-", 1)[1]
    if dataset not in LAREQA or "-" not in query_id:
        return query_id
    qid = query_id.split("-", 1)[1]
    return (clusters or {}).get(dataset, {}).get(qid, qid)


def seed_macros(results: dict, name: str, dataset: str, settings: list[str], measure: str) -> list[float]:
    vals = [macro(results[k][0], settings, measure) for k in sorted(results) if k[0] == name and k[2] == dataset]
    return [v for v in vals if v is not None]


def pooled_seed_variance(results: dict, names: list[str], dataset: str, settings: list[str], measure: str) -> dict | None:
    """The between-seed variance of the cell pooled over ``names`` (the batchings): with 3 seeds each system's
    own estimate has 2 df, the pooled one 2 per batching. Bartlett's test of equal variances says whether
    pooling is justified (its p is kept beside the cell)."""
    groups = [np.array(v) for v in (seed_macros(results, n, dataset, settings, measure) for n in names) if len(v) >= 2]
    if len(groups) < 2:
        return None
    df = sum(len(g) - 1 for g in groups)
    s2 = sum((len(g) - 1) * g.var(ddof=1) for g in groups) / df
    bartlett = stats.bartlett(*groups).pvalue if all(g.var() > 0 for g in groups) else None
    return {"var": float(s2), "df": int(df), "bartlett_p": None if bartlett is None or np.isnan(bartlett)
            else float(bartlett), "systems": len(groups)}


def compare(results: dict, system: str, baseline: str, dataset: str, settings: list[str], measure: str,
            clusters: dict | None = None, pooled: dict | None = None) -> dict | None:
    """``system`` minus ``baseline`` on the macro average the table shows, seeds as a level of variance
    (pooled over the batchings when ``pooled`` is given and both are batchings) and paragraph-linked queries
    as one cluster (``evaluate.significance.compare_systems``)."""
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
    groups = [question_cluster(dataset, q, clusters) for q in units.get_level_values(1)]
    pooled_var = (pooled["var"], pooled["df"]) if pooled else None
    out = compare_systems(values[:len(a)], values[len(a):], units.get_level_values(0).to_numpy(), groups,
                          pooled_seed_var=pooled_var)
    if pooled:
        out["pooled_seed_var"] = pooled
    return out


# What a headline cell keeps of its test for intervals at other levels and for power (what more seeds buy)
COMPONENTS = ("diff", "se", "df", "n_seeds_a", "n_seeds_b", "seed_var_a", "seed_var_b", "cluster_var", "n_clusters",
              "pooled_seed_var", "p", "ci_low", "ci_high")


def test_fields(test: dict | None, unpooled: dict | None = None) -> dict:
    """What a table cell keeps of a test of hybrid against its row: difference, 95 % CI, p; for the headline's
    cells also the variance components and, where the seed variance was pooled, the same test unpooled."""
    if not test:
        return {"p_vs_hybrid": None, "diff_hybrid_minus": None, "ci_hybrid_minus": None}
    out = {"p_vs_hybrid": test["p"], "diff_hybrid_minus": test["diff"],
           "ci_hybrid_minus": [test["ci_low"], test["ci_high"]], "test_df": test["df"],
           "seed_var_estimable": test["seed_var_estimable"], "clusters": test["n_clusters"],
           "bartlett_p": (test.get("pooled_seed_var") or {}).get("bartlett_p")}
    if unpooled is not None:
        out["test"] = {k: test.get(k) for k in COMPONENTS}
        out["unpooled"] = {k: unpooled.get(k) for k in COMPONENTS}
    return out


def cell(results: dict, name: str, dataset: str, settings: list[str], measure: str) -> dict | None:
    vals = [macro(results[k][0], settings, measure) for k in sorted(results) if k[0] == name and k[2] == dataset]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    out = {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else None,
           "seeds": len(vals), "values": vals}
    if measure == "AP":  # AP over the full ranking (dense) or to the run's depth (BM25, fusion): said per cell
        runs = [results[k][0] for k in sorted(results) if k[0] == name and k[2] == dataset]
        out["ranking"] = "full" if all(r.get("ap_full_ranking") for r in runs) else f"@{runs[0].get('depth')}"
    return out


def main_table(study: Study, results: dict, metas: dict, systems: list[str], clusters: dict | None = None) -> dict:
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
                        pooled = pooled_seed_variance(results, list(study.variants), dataset, keys, measure) \
                            if name in study.variants else None
                        test = compare(results, "hybrid", name, dataset, keys, measure, clusters, pooled)
                        # pooling rests on Bartlett's test with few seeds: the headline shows both decisions
                        unpooled = compare(results, "hybrid", name, dataset, keys, measure, clusters) \
                            if pooled and test else None
                        c.update(test_fields(test, unpooled))
                    row[f"{dataset} {g} {measure}"] = c
            rd = [results[k][0].get("rank_distance", {}).get("macro") for k in sorted(results)
                  if k[0] == name and k[2] == dataset]
            rd = [x for x in rd if x is not None]
            if rd:
                row[f"{dataset} rank distance"] = {"mean": float(np.mean(rd)), "seeds": len(rd),
                                                   "sd": float(np.std(rd, ddof=1)) if len(rd) > 1 else None}
    return table


def miracl_table(study: Study, results: dict, metas: dict, systems: list[str], clusters: dict | None = None) -> dict:
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
            if name != "hybrid":  # one seed per batching here: the interval covers queries only
                test = compare(results, "hybrid", name, "miracl-mini", keys, measure, clusters)
                c.update(test_fields(test))
            row[f"{measure} (mean of {len(langs)})"] = c
    return table


def pair_groups(kind: str, langs: list[str], trained: set[str]) -> dict[str, list[str]]:
    """Settings of a LAReQA set grouped by a property of the (query, candidate) language pair."""
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
    for name, _, dirs in trained["runs"]:
        if name == label:
            drawn = load_json(dirs[max(dirs)] / "training-card.json")["batches"].get("languages") or {}
            return {x for pair in drawn for x in pair.split("-")}
    return set()


def grouped_table(study: Study, results: dict, metas: dict, trained: dict, kind: str,
                  clusters: dict | None = None) -> dict:
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
                        c.update(test_fields(compare(results, "hybrid", system, dataset, keys, "AP", clusters)))
                    row[system] = c
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


def language_table(study: Study, lang: dict) -> dict:
    """{system: {"<dataset> <measure>": cell over seeds}} of the language-preference measures (pool, largest
    budget)."""
    out: dict = {}
    for (system, seed, dataset), values in sorted(lang.items()):
        for m, v in values.items():
            if v is not None:
                out.setdefault(system, {}).setdefault(f"{dataset} {m}", []).append(v)
    return {s: {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                    "seeds": len(v), "values": v} for k, v in row.items()} for s, row in out.items()}


def adversarial_table(study: Study, clean: dict, adversarial: dict, metas: dict) -> dict:
    """mAP on clean and perturbed topics (first seed of each batching, BM25, the untuned model), and the drop.
    The clean side is the ``adv-clean`` evaluation when the perturbed languages are not all the dataset's."""
    a = study.adversarial
    dataset = a.dataset
    langs = [x for x in a.languages if x in metas[dataset]["languages"]]
    base = adversarial.get("adv-clean", clean)
    table = {}
    groups = macro_keys(dataset, langs)
    for kind in a.kinds:
        noisy = adversarial.get(f"adv-{kind}", {})
        for key in sorted(noisy):
            if key not in base:
                continue
            row = table.setdefault(f"{kind}: {key[0]}", {})
            for g, keys in groups.items():
                before, after = macro(base[key][0], keys, "AP"), macro(noisy[key][0], keys, "AP")
                if before is not None and after is not None:
                    row[f"{g} clean"] = {"mean": before}
                    row[f"{g} perturbed"] = {"mean": after}
                    row[f"{g} drop"] = {"mean": before - after}
    return table
