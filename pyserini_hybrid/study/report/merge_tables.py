"""+merge in the study's report: does averaging a trained model with its start model keep what fine-tuning
lost (MIRACL-mini, monolingual) and what it gained (cross-lingual)? Each merged model against its own
batching and the untuned model, first seed (one model each: intervals over questions only)."""

from __future__ import annotations

from ..config import LAREQA, UNTUNED, Study
from .tables import cell, compare, lang_subset, macro_keys, test_fields


def merge_cells(study: Study, metas: dict) -> list[tuple[str, str, list[str], str]]:
    """(column, dataset, settings, measure) of the merge table: Mo / Cr / Mul mAP of each LAReQA set, MIRACL
    nDCG@10, NTREX P@1 over X→en and en→X."""
    out = []
    for d in [d for d in LAREQA if d in study.datasets and d in metas]:
        out += [(f"{d} {g} AP", d, keys, "AP") for g, keys in macro_keys(d, lang_subset(d, study, metas)).items()]
    if "miracl-mini" in study.datasets and "miracl-mini" in metas:
        out.append(("miracl-mini nDCG@10", "miracl-mini", [f"{x}-{x}" for x in lang_subset("miracl-mini", study,
                                                                                              metas)], "nDCG@10"))
    if "ntrex" in study.datasets and "ntrex" in metas:
        langs = [x for x in lang_subset("ntrex", study, metas) if x != "en"]
        out.append(("ntrex X↔en P@1", "ntrex", [f"{x}-en" for x in langs] + [f"en-{x}" for x in langs], "P@1"))
    return out


def merge_table(study: Study, results: dict, metas: dict) -> dict:
    """{"<batching> +merge": {column: its value, the batching's, the untuned model's, and +merge minus the
    batching with a 95 % interval over questions}} on the first seed."""
    first = {k: v for k, v in results.items() if k[1] in (study.seeds[0], 0)}
    table = {}
    for name in study.merge_variants:
        merged, row = f"{name} +merge", {}
        for column, dataset, keys, measure in merge_cells(study, metas):
            c = cell(first, merged, dataset, keys, measure)
            if c is None:
                continue
            base, untuned = cell(first, name, dataset, keys, measure), cell(first, UNTUNED, dataset, keys, measure)
            test = compare(first, merged, name, dataset, keys, measure)
            row[column] = {"mean": c["mean"], "batching": (base or {}).get("mean"),
                           "untuned": (untuned or {}).get("mean"), **test_fields(test)}
        if row:
            table[merged] = row
    return table
