"""Training a unit's models in the work directory: where each model lives, and its training timed."""

from __future__ import annotations

import time
from pathlib import Path

from ...core.files import load_json
from ..config import slug


def model_dir(work: Path, label: str, seed: int, recipe) -> Path:
    return work / "models" / f"{slug(label)}-seed{seed}-{recipe.fingerprint()}"


def train_timed(recipe, d: Path, data: str | None) -> tuple[dict, float, float]:
    """Train ``d`` (or resume it, or find it finished) and return its training card, this call's wall seconds and
    the step seconds spent before this call: a resumed run's earlier attempts, or all of them when the model was
    already finished. A unit's cost then counts every attempt, not only the last (earlier attempts count their
    step time alone, so the total is a lower bound)."""
    from ...train.loop import CARD, train  # torch: loaded when a unit trains

    finished = (d / CARD).is_file()
    t0 = time.time()
    train(recipe, d, data, quiet=True)
    wall = time.time() - t0
    card = load_json(d / CARD)
    return card, wall, float(card["seconds"] if finished else card.get("resumed_seconds", 0.0))
