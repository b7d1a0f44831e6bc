"""What a unit costs: estimated minutes before it runs (``plan``, ``run --for-minutes``), measured after.

Rates come from finished units that ran on this CPU model: training seconds per step, and per dataset the
seconds per encoded text (an evaluation's run and record time over the texts it encoded; MIRACL's passages
are several times longer than LAReQA's sentences). Without any, from the slowest 2-core machine seen so far
(defaults below), so an estimate errs long and ``run`` never starts a unit it cannot finish.
"""

from __future__ import annotations

from .config import Study
from .sections import lr_grid
from .units import Unit

DEFAULT_STEP_SECONDS = 5.0  # fp32, the recipe's step on the slowest machine seen, rounded up (docs/speed.md)
DEFAULT_TEXTS_PER_SECOND = 25.0  # sentence candidates/s, fp32, on the slowest machine seen (docs/speed.md)
LENGTH_WEIGHT = {"miracl-mini": 4.0}  # passages up to 256 tokens against LAReQA's one-sentence candidates
QUERY_WEIGHT = 0.4  # queries are at most 64 tokens: encoded faster than candidates (docs/speed.md)
QUERY_WEIGHTS = {"ntrex": 1.0}  # NTREX's queries are the sentences themselves, as long as its candidates
OVERHEAD = 1.15  # model loads, pool merges and searches not covered by the per-text rates


def unit_steps(study: Study, unit: Unit) -> int:
    """Training steps the unit runs: none for baselines, and none for a split-off part, whose model the unit
    before it (run on the same machine) left in the work dir."""
    if unit.part:
        return 0
    if unit.kind == "selection":
        return len(lr_grid(study.selection, 1.0, 1.0)) * unit.budgets[0]
    return 0 if unit.kind == "baselines" else study.steps


def queries_of(counts: dict) -> int:
    return counts.get("questions", counts.get("queries", 0))


def evaluation_texts(unit: Unit, metas: dict) -> list[float]:
    """Texts each evaluation of the unit encodes, in order: a (budget, dataset, language) index once per unit
    (perturbed topics reuse the clean index), each query set once at QUERY_WEIGHT."""
    seen, out = set(), []
    for e in unit.evaluations:
        counts = metas[e["dataset"]]["counts"]
        n = 0.0
        for x in e["languages"]:
            if (e["budget"], e["dataset"], x) not in seen:
                seen.add((e["budget"], e["dataset"], x))
                n += counts[x]["candidates"]
            n += QUERY_WEIGHTS.get(e["dataset"], QUERY_WEIGHT) * queries_of(counts[x])
        out.append(n)
    return out


def unit_texts(unit: Unit, metas: dict) -> int:
    return round(sum(evaluation_texts(unit, metas)))


def same_machine(result: dict, here: dict) -> bool:
    """Whether a finished unit ran on this CPU type: its name, family and model (several EPYC families share
    the name "AMD EPYC" and differ two-fold in speed)."""
    m = result.get("machine", {})
    return all(m.get(k) == here.get(k) for k in ("cpu", "family", "model"))


def rates(finished: list[tuple], here: dict, metas: dict) -> tuple[float, dict, str]:
    """(seconds per step, {dataset: seconds per text}, where they come from) from ``finished`` = [(unit, its
    unit.json)] that ran on this CPU type (``here``: ``provenance.machine()``). A dataset or training not yet
    measured here takes the default scaled by how much faster than the defaults this CPU encoded what it did
    (the median ratio), so a fast machine's first unit already corrects the slowest machine's defaults."""
    same = [(u, r) for u, r in finished if same_machine(r, here) and r.get("cost")]
    steps = sum(r["cost"]["steps"] for _, r in same)
    train_s = sum(r["cost"]["train_seconds"] for _, r in same)
    texts, seconds = {}, {}
    for unit, r in same:
        dense = [e for e in r["evaluations"] if e["full_ranks"]]  # the encoded ones (BM25 and fusion rows are not)
        if len(dense) != len(unit.evaluations):
            continue
        for e, n in zip(dense, evaluation_texts(unit, metas)):
            texts[e["dataset"]] = texts.get(e["dataset"], 0.0) + n
            seconds[e["dataset"]] = seconds.get(e["dataset"], 0.0) + e["seconds"]["run"] + e["seconds"]["record"]
    default = {d: LENGTH_WEIGHT.get(d, 1.0) / DEFAULT_TEXTS_PER_SECOND for d in metas}
    measured = {d: seconds[d] / texts[d] for d in texts if texts[d] > 0 and d in default}
    ratios = sorted(measured[d] / default[d] for d in measured)
    scale = ratios[len(ratios) // 2] if ratios else 1.0
    per_text = {d: measured.get(d, default[d] * scale) for d in default}
    step = train_s / steps if steps else DEFAULT_STEP_SECONDS * scale
    notes = [] if steps else [f"training: default{f' x {scale:.2f}' if ratios else ''}"]
    if ratios and len(measured) < len(default):
        notes.append(f"datasets not run here yet: defaults x {scale:.2f}")
    source = f"{len(same)} finished unit(s) on this CPU" + "".join(f"; {n}" for n in notes) if same \
        else "defaults (slowest machine seen)"
    return step, per_text, source


def estimate_minutes(study: Study, unit: Unit, metas: dict, step_s: float, per_text: dict) -> float:
    texts = evaluation_texts(unit, metas)
    encode = sum(n * per_text[e["dataset"]] for e, n in zip(unit.evaluations, texts))
    return OVERHEAD * (unit_steps(study, unit) * step_s + encode) / 60.0
