"""The study's models: one recipe with equal data and a constant schedule, settings chosen on held-out
training data, then every batching x seed, the alpha sweep, the +native ablation and the diversity models."""

from __future__ import annotations

from pathlib import Path

from ..core.files import load_json
from ..train import recipe as rc
from .config import Study, slug


def model_dir(work: Path, label: str, seed: int, recipe) -> Path:
    return work / "models" / f"{slug(label)}-seed{seed}-{recipe.fingerprint()}"


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


def select_settings(study: Study, work: Path, base, data: str | None, log) -> tuple:
    """Recipe settings chosen on the validation retrieval task (held-out *training* groups, never an
    evaluation set): hybrid, first seed, every (lr, temperature) of ``[selection]``; the best mean of its
    Mo/Cr/Mul MRR@10 at the last step wins. Returns (recipe with the choice, table of what was tried)."""
    from ..train.loop import train

    sel = study.selection
    if not sel:
        return base, {}
    tried = {}
    for lr in sel.get("lr", [base.train.lr]):
        for tau in sel.get("temperature", [base.train.temperature]):
            recipe = rc.with_changes(base, train={"alpha": study.variants["hybrid"], "seed": study.seeds[0],
                                                  "steps": int(sel["steps"]), "export_steps": [], "lr": float(lr),
                                                  "temperature": float(tau)})
            label = f"selection lr={lr} tau={tau}"
            log(f"[select] {label}")
            out = train(recipe, model_dir(work, label, study.seeds[0], recipe), data, quiet=True)
            v = load_json(out / "training-card.json")["validation_retrieval"] or {}
            scores = [v.get(k) for k in ("val_mo", "val_cr", "val_mul")]
            tried[label] = {"lr": float(lr), "temperature": float(tau), **v,
                            "mean": float(sum(scores) / 3) if None not in scores else None}
    best = max((t for t in tried.values() if t["mean"] is not None), key=lambda t: t["mean"], default=None)
    if best is None:
        return base, tried
    for t in tried.values():
        t["chosen"] = t is best
    return rc.with_changes(base, train={"lr": best["lr"], "temperature": best["temperature"]}), tried


def train_models(study: Study, work: Path, data: str | None, model: str | None, log) -> dict:
    """Every model of the study: {"runs": [(label, seed, {budget: model dir})], "base", "selection"}.

    The batchings x seeds (one run each, exported at every budget), the alpha sweep, the +native ablation
    and the training-language diversity models (the largest budget only)."""
    from ..train.loop import train

    base, selection = select_settings(study, work, base_recipe(study, model), data, log)
    jobs = []
    for name, alpha in study.variants.items():
        for seed in study.seeds:
            jobs.append((name, seed, rc.with_changes(base, train={"alpha": alpha, "seed": seed})))
    for alpha in study.sweep.get("alphas", []):
        for seed in study.sweep.get("seeds", study.seeds[:1]):
            jobs.append((f"alpha={alpha}", seed, rc.with_changes(base, train={"alpha": float(alpha), "seed": seed,
                                                                            "export_steps": []})))
    native = list(study.native.get("datasets", []))
    for name, alpha in ((n, study.variants[n]) for n in study.native_variants):
        for seed in study.native.get("seeds", study.seeds[:1]):
            jobs.append((f"{name} +native", seed, rc.with_changes(
                base, train={"alpha": alpha, "seed": seed, "export_steps": []},
                data={"datasets": list(base.data.datasets) + native})))
    for langs in study.diversity:
        jobs.append((f"hybrid [{'+'.join(langs)}]", study.seeds[0],
                     rc.with_changes(base, train={"alpha": study.variants["hybrid"], "seed": study.seeds[0],
                                                  "export_steps": []}, data={"languages": list(langs)})))
    runs = []
    for i, (label, seed, recipe) in enumerate(jobs, 1):
        out = model_dir(work, label, seed, recipe)
        log(f"[train {i}/{len(jobs)}] {label} seed {seed} -> {out.name}")
        train(recipe, out, data, quiet=True)
        dirs = {b: out / "budgets" / f"step-{b:06d}" for b in recipe.train.export_steps}
        runs.append((label, seed, {**dirs, recipe.train.steps: out}))
    return {"runs": runs, "base": base, "selection": selection}


