"""NTREX-128 in the study's report: its measures from a unit's record, the table of every system (X→en, en→X
and the pool; P@1, MRR@10, nDCG@10) with hybrid against each pure batching, and the same grouped by a
property of X (seen/unseen in training, resource class, script, family).

A unit keeps every direction's queries and the pool's queries of every fourth line (``records.POOL_EVERY``);
the pool is read to depth - 1, its queries' own sentences out (``evaluate.bitext``). The unit of independence
is the line: a sentence's translations are one cluster."""

from __future__ import annotations

import pandas as pd

from ...data import topic_sets as tp
from ...data.languages import GROUPINGS, group_of
from ...evaluate.ranks import per_query_from_ranks, rank_distance_from_ranks
from ..config import Study
from .tables import cell, compare, lang_subset, pooled_seed_variance, test_fields, trained_languages

NTREX = "ntrex"
MEASURES = ["P@1", "RR@10", "nDCG@10"]
DIRECTIONS = ("X→en", "en→X", "Mul")


def ntrex_result(ranks: pd.DataFrame, depth: int, langs: list[str]) -> tuple[dict, pd.DataFrame]:
    """(result, per-query table) of one recorded NTREX evaluation, as ``ranks.result_from_ranks`` gives for the
    other sets: settings ``<query language>-<target>`` with their mean measures, and the pool's rank distance
    (the pool read to depth - 1, a missing translation counted at depth)."""
    per = per_query_from_ranks(ranks, depth, lareqa=True, measures=MEASURES)
    settings = {k: {**{m: float(sub[m].mean()) for m in MEASURES}, "queries": int(len(sub))}
                for k, sub in per.groupby("setting", sort=True)}
    result = {"depth": depth, "languages": langs, "settings": settings, "macro": {}}
    rd = rank_distance_from_ranks(ranks, depth - 1, langs)
    if rd is not None:
        result["rank_distance"] = rd
    return result, per


def direction_keys(langs: list[str], pivot: str = "en") -> dict[str, list[str]]:
    others = [x for x in langs if x != pivot]
    return {"X→en": [f"{x}-{pivot}" for x in others], "en→X": [f"{pivot}-{x}" for x in others],
            "Mul": [f"{x}-{tp.POOL}" for x in langs]}


def with_test(study: Study, results: dict, name: str, keys: list[str], measure: str, c: dict) -> dict:
    """``c`` with hybrid minus ``name`` (seed variance pooled over the batchings where ``name`` is one; a line's
    translations one cluster: ``tables.question_cluster``)."""
    pooled = pooled_seed_variance(results, list(study.variants), NTREX, keys, measure) \
        if name in study.variants else None
    c.update(test_fields(compare(results, "hybrid", name, NTREX, keys, measure, None, pooled)))
    return c


def ntrex_table(study: Study, results: dict, metas: dict, systems: list[str]) -> dict:
    """{system: {"<direction> <measure>": cell over seeds (+ hybrid minus the row where the row is another
    system)}} on NTREX's languages; MRR@10 is the mean RR@10."""
    if NTREX not in study.datasets or NTREX not in metas:
        return {}
    keys = direction_keys(lang_subset(NTREX, study, metas), metas[NTREX].get("pivot", "en"))
    table = {}
    for name in systems:
        row = {}
        for direction, settings in keys.items():
            for measure in MEASURES:
                c = cell(results, name, NTREX, settings, measure)
                if c is None:
                    continue
                if name != "hybrid" and measure == "P@1":
                    c = with_test(study, results, name, settings, measure, c)
                row[f"{direction} {measure}"] = c
        if row:
            table[name] = row
    return table


def ntrex_groups(study: Study, results: dict, metas: dict, trained: dict) -> dict:
    """{"<grouping>: <group> (<n> languages)": {system: P@1 over X→en and en→X of the group's languages, and
    hybrid minus each pure batching}}; seen/unseen from hybrid's training card (every batching trains on the
    same languages)."""
    if NTREX not in study.datasets or NTREX not in metas:
        return {}
    langs = [x for x in lang_subset(NTREX, study, metas) if x != metas[NTREX].get("pivot", "en")]
    seen = trained_languages(trained, "hybrid")
    groups: dict[str, list[str]] = {}
    for x in langs:
        if seen:
            groups.setdefault(f"training: {'seen' if x in seen else 'unseen'}", []).append(x)
        for grouping in GROUPINGS:
            groups.setdefault(f"{grouping}: {group_of(x, grouping)}", []).append(x)
    table = {}
    for label, members in sorted(groups.items()):
        settings = [f"{x}-en" for x in members] + [f"en-{x}" for x in members]
        row = {}
        for name in study.variants:
            c = cell(results, name, NTREX, settings, "P@1")
            if c is None:
                continue
            if name != "hybrid":
                c = with_test(study, results, name, settings, "P@1", c)
            row[name] = c
        if row:
            table[f"{label} ({len(members)})"] = row
    return table


def unseen_p_at_1(results: dict, name: str, metas: dict, study: Study, seen: set[str]) -> float | None:
    """A model's P@1 over X→en and en→X of the NTREX languages it never trained on (first seed)."""
    langs = [x for x in lang_subset(NTREX, study, metas) if x != "en" and x not in seen]
    first = {k: v for k, v in results.items() if k[1] == study.seeds[0]}
    c = cell(first, name, NTREX, [f"{x}-en" for x in langs] + [f"en-{x}" for x in langs], "P@1")
    return c["values"][0] if c else None


def diversity_ntrex(diversity: dict, results: dict, metas: dict, study: Study, trained: dict) -> None:
    """Each diversity row's NTREX P@1 (X→en and en→X, first seed) on two language sets: those its own model never
    trained on (a set that grows as the training set shrinks), and those no row's model trained on (one set for
    every row, so the curve compares like with like). The row of all training languages is the main hybrid."""
    main = f"hybrid [{'+'.join(sorted(trained_languages(trained, 'hybrid')))}]"  # diversity_table's label of it
    names = {label: "hybrid" if label == main else label for label in diversity}
    seen = {label: trained_languages(trained, name) for label, name in names.items()}  # empty: not trained
    every = set().union(*seen.values())
    for label, row in diversity.items():
        if not seen[label]:  # not trained yet (a partial study)
            continue
        for key, langs in (("ntrex P@1 unseen by it", seen[label]), ("ntrex P@1 unseen by any", every)):
            value = unseen_p_at_1(results, names[label], metas, study, langs)
            if value is not None:
                row[key] = {"mean": value, "seeds": 1}
