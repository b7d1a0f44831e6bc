"""The recipe each unit trains with, from the study file alone: part of the design, so ``run`` trains with
it and ``import`` and ``report`` compare a finished unit's recorded recipe with it."""

from __future__ import annotations

from ..train import recipe as rc
from .config import Study
from .units import Unit


def base_recipe(study: Study, model: str | None):
    """The study's recipe with its data (the same training groups for every batching), its largest budget,
    a constant schedule after a fixed warm-up, and exports at the smaller budgets."""
    base = rc.load(study.recipe)
    changes = {"train": {"steps": study.steps, "schedule": "constant", "warmup_steps": study.warmup_steps,
                         "export_steps": [b for b in study.budgets if b < study.steps]}}
    if study.training_data:
        changes["data"] = {"datasets": list(study.training_data)}
    if model:
        changes["model"] = {"name": str(model)}
    return rc.with_changes(base, **changes)


def unit_recipe(study: Study, unit: Unit, choice: dict | None, model: str | None):
    """``unit``'s recipe: the base recipe with the selection units' ``choice`` and the unit's alpha, seed and
    data changes. A merge unit's is its main unit's (the same model, found in the work dir or trained again)."""
    base = rc.with_changes(base_recipe(study, model), train={"precision": study.precision})
    if choice and choice.get("lr") is not None:
        base = rc.with_changes(base, train={"lr": choice["lr"], "temperature": choice["temperature"]})
    train = {"alpha": unit.alpha, "seed": unit.seed}
    if unit.budgets == [study.steps] or unit.kind not in ("main", "merge"):
        train["export_steps"] = []
    data = {}
    if "datasets" in unit.data_changes:
        extra = [d for d in unit.data_changes["datasets"] if d != "+"]
        data["datasets"] = list(base.data.datasets) + extra
    if "languages" in unit.data_changes:
        data["languages"] = list(unit.data_changes["languages"])
    return rc.with_changes(base, train=train, **({"data": data} if data else {}))
