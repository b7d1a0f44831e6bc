"""Checkpoints that resume bit-identically: trained tensors, optimiser, schedule, sampler and RNG state.

``checkpoints/step-NNNNNN/state.pt`` is written atomically; the newest ``keep`` are kept. Resuming
restores everything a step depends on and truncates ``train-log.jsonl`` to the checkpoint's step (a
killed run may have logged steps past it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..core.errors import InputError
from ..core.files import atomic_directory
from .distributed import all_gather_object

LOG = "train-log.jsonl"


def trainable_state(model: torch.nn.Module) -> dict:
    """The trained tensors only: frozen ones are the starting model's, restored by building it again."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().clone() for n, t in model.state_dict().items() if n in names}


def checkpoints(output: Path) -> list[Path]:
    root = output / "checkpoints"
    return sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file()) if root.is_dir() else []


def save(trainer) -> Path:
    """Every rank's RNG state is gathered; rank 0 writes."""
    rngs = all_gather_object(torch.get_rng_state())
    path = trainer.output / "checkpoints" / f"step-{trainer.step:06d}"
    if trainer.rank != 0:
        return path
    state = {"step": trainer.step, "model": trainable_state(trainer.model.model),
             "optimizer": trainer.optimizer.state_dict(), "scheduler": trainer.scheduler.state_dict(),
             "torch_rng": rngs, "sampler": trainer.sampler.state_dict(), "seconds": trainer.seconds,
             "precision": trainer.precision, "recipe": trainer.recipe.fingerprint()}
    try:
        with atomic_directory(path) as tmp:
            torch.save(state, tmp / "state.pt")
    except OSError as e:
        last = checkpoints(trainer.output)
        raise InputError(f"checkpoint at step {trainer.step} could not be written ({e.strerror or e}); "
                         f"the last good one is intact: {last[-1] if last else 'none yet'}") from None
    for old in checkpoints(trainer.output)[:-trainer.recipe.train.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def resume(trainer) -> bool:
    """Restore the newest checkpoint into ``trainer``; False when there is none."""
    found = checkpoints(trainer.output)
    if not found:
        return False
    state = torch.load(found[-1] / "state.pt", weights_only=False)
    if state["recipe"] != trainer.recipe.fingerprint():
        raise InputError(f"{found[-1]} was written by another recipe; use a new --output or remove it")
    missing = trainer.model.model.load_state_dict(state["model"], strict=False)
    if missing.unexpected_keys:
        raise InputError(f"{found[-1]}: weights do not fit the model ({missing.unexpected_keys[:3]} ...)")
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.sampler.load_state_dict(state["sampler"])
    rngs = state["torch_rng"]
    torch.set_rng_state(rngs[trainer.rank] if trainer.rank < len(rngs) else rngs[0])
    trainer.step, trainer.seconds = state["step"], state["seconds"]
    trainer.precision = state.get("precision", trainer.precision)  # resume in the precision it started in
    if trainer.rank == 0:
        truncate_log(trainer.output / LOG, trainer.step)
    return True


def truncate_log(log: Path, step: int) -> None:
    if log.is_file():
        keep = [x for x in log.read_text(encoding="utf-8").splitlines()
                if x.strip() and json.loads(x).get("step", 0) <= step]
        log.write_text("".join(x + "\n" for x in keep), encoding="utf-8")
