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


def _listing(d: dict, limit: int = 12) -> str:
    items = [f"{k} {v:,}" for k, v in d.items() if v]
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "") or "none"


def _data_lines(data: dict) -> list[str]:
    """What trained the model: sets (licences, warnings), pairs per language, decontamination."""
    sets = data.get("sets") or {}
    ev = data.get("decontamination") or {}
    by_lang: dict = {}
    for key, n in (data.get("pairs") or {}).items():
        by_lang[key.split("/")[-1]] = by_lang.get(key.split("/")[-1], 0) + n
    named = ", ".join(f"`{n}` ({s.get('licence') or 'licence not given'})" for n, s in sets.items())
    lines = ["## Training data", "",
             f"Training sets: {named or 'see training-card.json'}.",
             f"Pairs per language: {_listing(by_lang, 40)} ({data.get('pairs_total', 0):,} in all, before the "
             "validation hold-out).", ""]
    lines += [x for s in sets.values() if s.get("warning") for x in (f"**Licence warning:** {s['warning']}", "")]
    drops = data.get("dropped_by_set") or {}
    lines += ["Decontamination: every training group (a question and its translations) whose question, positive "
              "or paragraph shares a text (NFKC, case folded, whitespace collapsed) with an evaluation set was "
              f"dropped: {sum((data.get('dropped_evaluation') or {}).values()):,} questions"
              + "".join(f"; {name}: {_listing(d)}" for name, d in drops.items()) + ".",
              f"Evaluation sets read: {', '.join(ev.get('evaluation_sets') or []) or 'none'}"
              + "".join(f"; not read: {k} ({v})" for k, v in (ev.get("not_read") or {}).items()) + ".", ""]
    return lines


def model_card_text(card: dict) -> str:
    r, b = card["recipe"], card["batches"]
    model = r["model"]
    prompts = f"prompts `query` = `{model['query_prefix']}`, `passage` = `{model['passage_prefix']}`"
    return "\n".join([
        "# pyserini-hybrid encoder", "",
        f"Fine-tuned from `{model['name']}` with {batching_name(r['train']['alpha'])} batches "
        f"(alpha = {r['train']['alpha']}, realised {b['realised_alpha']}) for {card['steps']} steps "
        f"of {r['train']['batch_size']} pairs in {card['precision']}; exported step {card['exported_step']} "
        f"({card['selection']}).",
        f"Training pairs {card['train_pairs']}, validation pairs {card['validation_pairs']} (held-out training "
        f"paragraphs); final validation loss {card['final_val_loss']}; {card['seconds']} s; commit {card['git_commit']}.",
        "", *_data_lines(card.get("data") or {}),
        "## Batching", "",
        f"Each batch is monolingual (X-X, one language) with probability alpha, else cross-lingual (X-Y: queries in "
        f"X, positives their Y translations); InfoNCE with in-batch negatives, temperature {r['train']['temperature']}. "
        f"Drawn: {b['mono']} X-X and {b['cross']} X-Y batches; datasets {_listing(b.get('datasets') or {})}; "
        f"language pairs {_listing(b.get('languages') or {})}.", "",
        "## Use", "",
        "Pyserini: `python -m pyserini_hybrid.encode ... --encoder-class hybrid --encoder <this dir>`,",
        f"or stock Pyserini: `--encoder-class auto --pooling {model['pooling']}"
        f"{' --l2-norm' if model['l2_norm'] else ''}` with the prefixes below (Pyserini adds the space).",
        f"sentence-transformers: `SentenceTransformer(\"<this dir>\").encode(texts, prompt_name=\"query\")` (or "
        f"`\"passage\"`), {prompts}; one max_seq_length ({model['max_passage_length']}), so a query longer than "
        f"{model['max_query_length']} tokens is cut later than here.", "",
        f"query prefix `{model['query_prefix']}`, passage prefix `{model['passage_prefix']}`; "
        "full details in `training-card.json`, every step in `train-log.jsonl`.", ""])
