"""The study as units: independent jobs, each leaving a small committed result in ``reports/<study>/units/``.

A unit is the smallest self-contained piece of the study: one training run (a batching and seed, a sweep
alpha, a +native or diversity model) with every budget export evaluated, one settings-selection block for
one batching, the baseline block (BM25, the untuned model, their fusion), or a +merge model (a main unit's
model averaged with the start model: it trains that model again only where the work dir lacks it). Units share nothing at run
time, so they can run in any order on any machines (one per SLURM array task); only the main units wait
for the selection units, whose choice sets their recipe.

The list is computed from the validated study file, never written by hand, so ``plan``, ``run`` and
``report`` always agree on what the study is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.files import load_json
from .config import LAREQA, Study, slug

UNIT_FILE = "unit.json"
BASELINES = "baselines"


@dataclass
class Unit:
    """One job of the study. ``evaluations``: {budget, dataset, languages, tag} to run and record, the tag
    "clean", "adv-clean" (clean topics of the perturbed languages) or "adv-<kind>"; ``fusion``: also fuse the
    final model's clean runs with BM25."""
    name: str
    kind: str                       # selection | main | sweep | native | diversity | merge | baselines
    label: str = ""                 # the system's name in the report ("hybrid", "alpha=0.25", ...)
    seed: int = 0
    alpha: float | None = None
    batching: str = ""              # the variant whose alpha a main/native/selection unit trains
    data_changes: dict = field(default_factory=dict)
    budgets: list = field(default_factory=list)
    evaluations: list = field(default_factory=list)
    fusion: bool = False
    needs_selection: bool = True
    part: int = 0                   # > 0: evaluations split off into a unit of their own ([study] split_datasets)

    def to_dict(self) -> dict:  # part left out when 0, so the first study's units read as they were written
        return {k: v for k, v in self.__dict__.items() if k != "part" or v}


def _langs(study: Study, dataset: str, metas: dict) -> list[str]:
    return [x for x in metas[dataset]["languages"] if not study.languages or x in study.languages]


def _curve(study: Study, dataset: str, metas: dict) -> list[str] | None:
    """A dataset's curve languages, or None: a dataset not in ``curve_languages`` has no budget curve (the
    intermediate budgets are evaluated on fewer texts so that a unit fits in a job)."""
    if dataset not in study.curve_languages:
        return None
    langs = _langs(study, dataset, metas)
    return [x for x in study.curve_languages[dataset] if x in langs] or None


def adversarial_tags(study: Study) -> list[str]:
    return [f"adv-{k}" for k in study.adversarial.kinds] if study.adversarial else []


def plan_units(study: Study, metas: dict) -> list[Unit]:
    """Every unit of the study, in the order ``run`` takes them (selection first: main units need it), each
    one's split-off evaluations right after it (``split_units``)."""
    return [part for unit in whole_units(study, metas) for part in split_units(study, unit)]


def split_units(study: Study, unit: Unit) -> list[Unit]:
    """``unit``, and one unit per dataset of ``split_datasets`` it evaluates: that dataset's evaluations of the
    same model, in a unit of its own so that no unit outgrows a job. The first part trains the model and keeps
    the other evaluations (if any); the later parts find the model in the work dir (the units of one seed run
    on one machine) or train it again."""
    split = [[e for e in unit.evaluations if e["dataset"] == d] for d in study.split_datasets]
    split = [g for g in split if g]
    if not split:
        return [unit]
    first = Unit(**{**unit.__dict__, "evaluations": [e for e in unit.evaluations
                                                     if e["dataset"] not in study.split_datasets]})
    return [first] + [Unit(**{**unit.__dict__, "name": f"{unit.name}-{g[0]['dataset']}", "evaluations": g,
                              "part": i}) for i, g in enumerate(split, 1)]


def whole_units(study: Study, metas: dict) -> list[Unit]:
    """Every unit of the study before ``split_datasets`` divides their evaluations."""
    units: list[Unit] = []
    lareqa = [d for d in study.datasets if d in LAREQA]
    first = study.seeds[0]
    adv = study.adversarial.dataset if study.adversarial else None
    adv_tags = adversarial_tags(study)

    adv_langs = [x for x in study.adversarial.languages if x in _langs(study, adv, metas)] if adv else []

    def final_evals(datasets, adversarial=False):
        out = [{"budget": study.steps, "dataset": d, "languages": _langs(study, d, metas), "tag": "clean"}
               for d in datasets]
        if adversarial and adv in datasets and len(adv_langs) >= 2:
            if set(adv_langs) != set(_langs(study, adv, metas)):  # the clean side on exactly the perturbed languages
                out.append({"budget": study.steps, "dataset": adv, "languages": adv_langs, "tag": "adv-clean"})
            out += [{"budget": study.steps, "dataset": adv, "languages": adv_langs, "tag": t} for t in adv_tags]
        return out

    if study.selection:
        for name in study.variants:
            units.append(Unit(f"selection-{slug(name)}", "selection", label=name, batching=name,
                              seed=int(study.selection.seed), alpha=study.variants[name],
                              budgets=[int(study.selection.steps)], needs_selection=False))
    units.append(Unit(BASELINES, "baselines", needs_selection=False,
                      evaluations=final_evals(study.datasets, adversarial=True), fusion=True))
    for seed in study.seeds:  # seed-major: one seed's batchings run next to each other, on one machine
        for name, alpha in study.variants.items():
            datasets = [d for d in study.datasets if d != "miracl-mini" or seed in study.seeds[:study.miracl_seeds]]
            evals = final_evals(datasets, adversarial=seed == first)
            for budget in study.budgets[:-1]:
                for d in lareqa:
                    curve = _curve(study, d, metas)
                    if curve:
                        evals.append({"budget": budget, "dataset": d, "languages": curve, "tag": "clean"})
            units.append(Unit(f"{slug(name)}-seed{seed}", "main", label=name, seed=seed, alpha=alpha, batching=name,
                              budgets=list(study.budgets), evaluations=evals, fusion=name == "hybrid"))
    for alpha in study.sweep.alphas:
        for seed in study.sweep_seeds:
            units.append(Unit(f"alpha-{alpha:g}-seed{seed}", "sweep", label=f"alpha={alpha}", seed=seed,
                              alpha=float(alpha), batching="hybrid", budgets=[study.steps],
                              evaluations=final_evals(lareqa)))
    native = list(study.native.datasets)
    for name in study.native_variants:
        for seed in study.native_seeds:
            units.append(Unit(f"{slug(name)}-native-seed{seed}", "native", label=f"{name} +native", seed=seed,
                              alpha=study.variants[name], batching=name, budgets=[study.steps],
                              data_changes={"datasets": ["+"] + native},
                              evaluations=final_evals(study.datasets)))
    return units + diversity_and_merge_units(study, final_evals)


def diversity_and_merge_units(study: Study, final_evals) -> list[Unit]:
    """Hybrid on subsets of the training languages (first seed), then +merge: each chosen batching's model (its
    main unit's recipe) averaged with the start model. ``final_evals(datasets)``: the last step's evaluations."""
    units, first = [], study.seeds[0]
    for langs in study.diversity:
        datasets = study.diversity_datasets or study.datasets
        units.append(Unit(f"hybrid-{'-'.join(langs)}-seed{first}", "diversity", label=f"hybrid [{'+'.join(langs)}]",
                          seed=first, alpha=diversity_alpha(study, langs), batching="hybrid", budgets=[study.steps],
                          data_changes={"languages": list(langs)}, evaluations=final_evals(datasets)))
    for seed in study.merge_seeds:
        for name in study.merge_variants:
            datasets = [d for d in study.datasets if d != "miracl-mini" or seed in study.seeds[:study.miracl_seeds]]
            units.append(Unit(f"{slug(name)}-merge-seed{seed}", "merge", label=f"{name} +merge", seed=seed,
                              alpha=study.variants[name], batching=name, budgets=list(study.budgets),
                              evaluations=final_evals(datasets)))
    return units


def diversity_alpha(study: Study, langs: list[str]) -> float:
    """Hybrid's alpha, or 1.0 for one language: with no second language there is no X-Y batch to draw, so
    hybrid batching on one language is X-X batching."""
    return study.variants["hybrid"] if len(langs) > 1 else 1.0


# ---------------------------------------------------------------------------------------------
# States


def unit_dir(units_root: Path, unit: Unit) -> Path:
    return units_root / unit.name


def unit_state(units_root: Path, unit: Unit) -> str:
    """done (unit.json written last), partial (a result dir without unit.json) or to do."""
    d = unit_dir(units_root, unit)
    if (d / UNIT_FILE).is_file():
        return "done"
    return "partial" if d.is_dir() and any(d.iterdir()) else "to do"


def read_unit(units_root: Path, unit: Unit) -> dict | None:
    path = unit_dir(units_root, unit) / UNIT_FILE
    return load_json(path) if path.is_file() else None


def selection_choice(study: Study, units_root: Path, units: list[Unit]) -> dict | None:
    """The recipe settings every model uses, from the finished selection units: the (lr, temperature) with the
    best mean over the batchings of their validation mean (Mo/Cr/Mul MRR@10 on held-out *training* groups).
    One choice for all, weighed equally over the batchings, so it favours none of them; each batching's own
    best is kept beside it. None until every selection unit is done."""
    tried: dict = {}
    for unit in [u for u in units if u.kind == "selection"]:
        path = unit_dir(units_root, unit) / UNIT_FILE
        if not path.is_file():
            return None
        for row in load_json(path)["selection"].values():
            tried.setdefault((row["lr"], row["temperature"]), {})[unit.batching] = row["mean"]
    if not tried:
        return {"lr": None, "temperature": None, "table": {}}
    means = {k: sum(v.values()) / len(v) for k, v in tried.items() if None not in v.values()}
    (lr, tau) = max(means, key=lambda k: (means[k], -k[0], -k[1]))
    per_batching = {}
    for (rate, t), scores in tried.items():
        for b, m in scores.items():
            if m is not None and (b not in per_batching or m > per_batching[b]["mean"]):
                per_batching[b] = {"lr": rate, "temperature": t, "mean": m}
    return {"lr": lr, "temperature": tau, "mean": means[(lr, tau)],
            "table": {f"lr={rate:g} tau={t:g}": {"lr": rate, "temperature": t, "batchings": v,
                                                 "mean": means.get((rate, t))}
                      for (rate, t), v in sorted(tried.items())},
            "best_per_batching": per_batching}
