"""What a unit costs: estimated minutes before it runs (``plan``, ``run --for-minutes``), measured after.

Rates come from finished units that ran on this CPU model (training seconds per step, encoded texts per
second); without any, from the slowest 2-core machine seen so far (an AMD EPYC without AVX-512, family 25
model 1: 4.7 s a step in fp32, measured 2026-12-03), so an estimate errs long and ``run`` never starts a unit
it cannot finish.
"""

from __future__ import annotations

from .config import Study
from .units import Unit

DEFAULT_STEP_SECONDS = 5.0
DEFAULT_TEXTS_PER_SECOND = 25.0  # passages/s, fp32: the Intel Xeon without AMX (25.7 measured there)
QUERY_WEIGHT = 0.4
OVERHEAD = 1.15  # model loads, pool merges, searches and the full-ranking records, on top of encoding


def unit_steps(study: Study, unit: Unit) -> int:
    if unit.kind == "selection":
        return len(study.selection.get("lr", [1])) * len(study.selection.get("temperature", [1])) * unit.budgets[0]
    return 0 if unit.kind == "baselines" else study.steps


def unit_texts(unit: Unit, metas: dict) -> int:
    """Texts a unit encodes, in passage-equivalents: each (budget, dataset, language) index once, each query
    set once at QUERY_WEIGHT (queries are at most 64 tokens: 122 against 48 passages/s, fp32, same machine)."""
    indexes, queries = set(), set()
    for e in unit.evaluations:
        counts = metas[e["dataset"]]["counts"]
        for x in e["languages"]:
            indexes.add((e["budget"], e["dataset"], x))
            queries.add((e["budget"], e["dataset"], e["tag"], x))
    n = sum(metas[d]["counts"][x]["candidates"] for _, d, x in indexes)
    return n + round(QUERY_WEIGHT * sum(queries_of(metas[d]["counts"][x]) for _, d, _, x in queries))


def queries_of(counts: dict) -> int:
    return counts.get("questions", counts.get("queries", 0))


def rates(finished: list[dict], cpu: str | None) -> tuple[float, float, str]:
    """(seconds per step, texts per second, where they come from)."""
    same = [u for u in finished if u.get("machine", {}).get("cpu") == cpu and u.get("cost")]
    steps = sum(u["cost"]["steps"] for u in same)
    texts = sum(u["cost"]["texts"] for u in same)
    train_s = sum(u["cost"]["train_seconds"] for u in same)
    eval_s = sum(u["cost"]["eval_seconds"] for u in same)
    step = train_s / steps if steps else DEFAULT_STEP_SECONDS
    tps = texts / eval_s if texts and eval_s else DEFAULT_TEXTS_PER_SECOND
    source = f"{len(same)} finished unit(s) on this CPU" if same else "defaults (slowest machine seen)"
    return step, tps, source


def estimate_minutes(study: Study, unit: Unit, metas: dict, step_s: float, tps: float) -> float:
    return OVERHEAD * (unit_steps(study, unit) * step_s + unit_texts(unit, metas) / tps) / 60.0
