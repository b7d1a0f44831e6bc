"""The exported model directory's record of how it was made: ``training-card.json`` and ``README.md``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from ..core.files import PROJECT_ROOT

CARD = "training-card.json"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def read_log(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def card(trainer, log: list[dict]) -> dict:
    """Recipe, data counts, realised batching, losses, time and versions of a finished run."""
    import torch

    steps = [r for r in log if "loss" in r]
    kinds = [k for r in steps for k in r["kind"]]
    vals = [r for r in log if "val_loss" in r]
    return {
        "recipe": trainer.recipe.to_dict(), "recipe_file": trainer.recipe.source,
        "recipe_fingerprint": trainer.recipe.fingerprint(),
        "data": trainer.pairs.counts, "train_pairs": len(trainer.train_rows), "validation_pairs": len(trainer.val_rows),
        "steps": trainer.step, "exported_step": trainer.step, "selection": "last step",
        "final_val_loss": vals[-1]["val_loss"] if vals else None,
        "final_train_loss_mean_last_10": float(np.mean([r["loss"] for r in steps[-10:]])) if steps else None,
        "first_train_loss": steps[0]["loss"] if steps else None,
        "batches": {"mono": kinds.count("mono"), "cross": kinds.count("cross"),
                    "realised_alpha": kinds.count("mono") / len(kinds) if kinds else None,
                    "datasets": _counts(d for r in steps for d in r["dataset"]),
                    "languages": _counts(x for r in steps for x in r["langs"])},
        "validation_retrieval": {k: vals[-1].get(k) for k in ("val_mo", "val_cr", "val_mul")} if vals else None,
        "precision": trainer.precision, "precision_choice": trainer.precision_choice,
        "sub_batch": trainer.recipe.train.sub_batch,
        "frozen_word_embedding_parameters": trainer.frozen, "world_size": trainer.world,
        "threads": torch.get_num_threads(), "seconds": round(trainer.seconds, 1),
        "resumed_seconds": round(trainer.resumed_seconds, 1),
        "torch": torch.__version__, "git_commit": git_commit(),
    }


def _counts(items) -> dict:
    out: dict = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


def batching_name(alpha: float) -> str:
    return "hybrid" if 0 < alpha < 1 else "X-X-mono" if alpha == 1 else "X-Y"


def model_card_text(card: dict) -> str:
    r = card["recipe"]
    return "\n".join([
        "# pyserini-hybrid encoder", "",
        f"Fine-tuned from `{r['model']['name']}` with {batching_name(r['train']['alpha'])} batches "
        f"(alpha = {r['train']['alpha']}, realised {card['batches']['realised_alpha']}) for {card['steps']} steps "
        f"of {r['train']['batch_size']} pairs in {card['precision']}; exported step {card['exported_step']} "
        f"({card['selection']}).",
        f"Training pairs {card['train_pairs']}, validation pairs {card['validation_pairs']} (held-out training "
        f"paragraphs); final validation loss {card['final_val_loss']}; {card['seconds']} s; commit {card['git_commit']}.",
        "", "Use with Pyserini through `python -m pyserini_hybrid.encode ... --encoder-class hybrid --encoder <this dir>`,",
        f"or stock Pyserini: `--encoder-class auto --pooling {r['model']['pooling']}"
        f"{' --l2-norm' if r['model']['l2_norm'] else ''}` with the prefixes below (Pyserini adds the space).", "",
        f"query prefix `{r['model']['query_prefix']}`, passage prefix `{r['model']['passage_prefix']}`; "
        "full details in `training-card.json`, every step in `train-log.jsonl`.", ""])
