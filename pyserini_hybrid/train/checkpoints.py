"""Checkpoints that resume bit-identically: trained tensors, optimiser, schedule, sampler and RNG state.

``checkpoints/step-NNNNNN/state.pt`` is written atomically; the newest ``keep`` are kept. It holds only
tensors and plain values (dicts, lists, str, int, float, bool, None: the sampler's numpy generator state is
a dict of Python ints), so it is read with ``torch.load(weights_only=True)``: a file holding any other
object (a pickle whose ``__reduce__`` runs code) is refused unread, like a damaged one. Checkpoints written
before that change have the same contents and load the same way. A write that fails (a full disk) is one
line and leaves no checkpoint directory that a resume could pick. Resuming
restores everything a step depends on and truncates ``train-log.jsonl`` to the checkpoint's step (a
killed run may have logged steps past it). Resuming never corrupts the record: a checkpoint that cannot
be read (truncated, damaged) is set aside as ``corrupt-step-N`` with a warning and the newest intact one
is used; a log line that cannot be read (a kill mid-write) is dropped with a warning; a run killed before
its first checkpoint starts again from step 0, its log moved aside to ``train-log.jsonl.stale``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import sys
from pathlib import Path

import torch

from ..core.errors import InputError
from ..core.files import atomic_directory, atomic_write, check_safetensors, write_json
from .card import CARD
from .distributed import all_gather_object

LOG = "train-log.jsonl"
STATE_KEYS = ("step", "model", "optimizer", "scheduler", "torch_rng", "sampler", "seconds", "recipe")


def trainable_state(model: torch.nn.Module) -> dict:
    """The trained tensors only: frozen ones are the starting model's, restored by building it again."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().clone() for n, t in model.state_dict().items() if n in names}


def checkpoints(output: Path) -> list[Path]:
    root = output / "checkpoints"
    return sorted(p for p in root.glob("step-*") if (p / "state.pt").is_file()) if root.is_dir() else []


def not_finite(tensors: dict) -> list[str]:
    """The names of floating-point tensors holding a NaN or an infinity (weights no one can use)."""
    return [n for n, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def refuse_not_finite(trainer, weights: dict, what: str) -> None:
    """One line, before anything is written, when the trained weights are not finite: a run with
    ``lr = inf`` used to checkpoint and export NaN weights with exit 0."""
    bad = not_finite(weights)
    if bad:
        t = trainer.recipe.train
        raise InputError(f"{trainer.output}: the weights after step {trainer.step} are not finite (NaN or inf in "
                         f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}); {what} not written (train.lr "
                         f"{t.lr} or train.temperature {t.temperature} too large or too small?)")


def save(trainer) -> Path:
    """Every rank's RNG state is gathered; rank 0 writes. Non-finite weights are refused on every rank
    (they are the same on every rank), so no rank waits for one that stopped."""
    weights = trainable_state(trainer.model.model)
    refuse_not_finite(trainer, weights, f"checkpoint of step {trainer.step}")
    rngs = all_gather_object(torch.get_rng_state())
    path = trainer.output / "checkpoints" / f"step-{trainer.step:06d}"
    if trainer.rank != 0:
        return path
    state = {"step": trainer.step, "model": weights,
             "optimizer": trainer.optimizer.state_dict(), "scheduler": trainer.scheduler.state_dict(),
             "torch_rng": rngs, "sampler": trainer.sampler.state_dict(), "seconds": trainer.seconds,
             "precision": trainer.precision, "recipe": trainer.recipe.fingerprint(),
             "log": logged_records(trainer.output / LOG, trainer.step)}
    try:
        with atomic_directory(path) as tmp:
            write_state(state, tmp / "state.pt")
    except (OSError, RuntimeError) as e:  # RuntimeError: torch's writer failing ("unexpected pos ...")
        last = checkpoints(trainer.output)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0][:160]
        raise InputError(f"checkpoint at step {trainer.step} could not be written ({reason}); "
                         f"the last good one is intact: {last[-1] if last else 'none yet'}") from None
    write_json(trainer.output / "checkpoints" / LATEST, {"step": trainer.step, "checkpoint": path.name})
    for old in checkpoints(trainer.output)[:-trainer.recipe.train.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def write_state(state: dict, file: Path) -> None:
    """``torch.save`` into a file opened here: a full disk is then Python's OSError with its errno, where
    torch's own writer says only ``unexpected pos N vs M`` (a RuntimeError)."""
    with open(file, "wb") as f:
        torch.save(state, f)


LATEST = "latest.json"  # the newest checkpoint written: a resume from an older one says why


def latest_written(output: Path) -> int | None:
    try:
        step = json.loads((output / "checkpoints" / LATEST).read_text(encoding="utf-8"))["step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def load_state(path: Path) -> dict:
    """A checkpoint's state, or InputError when the file is truncated, damaged, lacks a field or holds an
    object other than tensors and plain values. Nothing in it runs: ``weights_only=True`` unpickles only
    those (a crafted ``state.pt`` used to run its code on resuming)."""
    file = path / "state.pt"
    try:
        state = torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:  # torch's wording: several lines, the cause on "WeightsUnpickler error:"
        text = str(e)
        cause = re.search(r"WeightsUnpickler error: (.*)", text)
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if unsafe:
            raise InputError(f"{file}: holds {unsafe[1]}, not a tensor or plain value; not loaded (unpickling it "
                             "could run code)") from None
        raise InputError(f"{file}: unreadable checkpoint ({(cause[1] if cause else text.splitlines()[0])[:120]})"
                         ) from None
    except MemoryError:  # not the file's fault: it must not be set aside as damaged
        raise
    except Exception as e:  # truncated or damaged: RuntimeError, EOFError, struct.error, ... (nothing ran)
        raise InputError(f"{file}: unreadable checkpoint ({(str(e).splitlines() or [type(e).__name__])[0][:120]})"
                         ) from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"{file}: incomplete checkpoint (no {', '.join(missing)})")
    wrong = [k for k, ok in _STATE_TYPES.items() if k in state and not ok(state[k])]
    if wrong:
        raise InputError(f"{file}: malformed checkpoint ({', '.join(wrong)} of the wrong type)")
    return state


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# what resume() hands on: a value of another type would fail there with a traceback, not set aside here
_STATE_TYPES = {
    "step": lambda x: _is_int(x) and x >= 0,
    "model": lambda x: isinstance(x, dict) and all(isinstance(v, torch.Tensor) for v in x.values()),
    "optimizer": lambda x: isinstance(x, dict) and {"state", "param_groups"} <= set(x),
    "scheduler": lambda x: isinstance(x, dict),
    "torch_rng": lambda x: isinstance(x, list) and len(x) > 0 and all(
        isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in x),
    "sampler": lambda x: isinstance(x, dict) and {"alpha", "drawn", "rng", "streams"} <= set(x),
    "seconds": lambda x: isinstance(x, float | int) and not isinstance(x, bool),
    "recipe": lambda x: isinstance(x, str),
    "precision": lambda x: x is None or isinstance(x, str),
    "log": lambda x: x is None or (isinstance(x, list) and all(isinstance(v, str) for v in x)),
}


def newest_intact(trainer) -> tuple[Path | None, dict | None]:
    """The newest checkpoint that loads; unreadable newer ones are set aside (rank 0) with a warning, and a
    newer one that is gone (deleted) is said too."""
    latest, found = latest_written(trainer.output), checkpoints(trainer.output)
    newest = int(found[-1].name.split("-")[-1]) if found else None
    if trainer.rank == 0 and latest is not None and (newest is None or latest > newest):
        warn(f"{trainer.output / 'checkpoints'}: the newest checkpoint written, step-{latest:06d}, is gone; "
             + (f"resuming from step-{newest:06d} (the steps after it are trained again)" if found
                else "no checkpoint is left, training starts at step 0"))
    for path in reversed(found):
        try:
            return path, load_state(path)
        except InputError as e:
            if trainer.rank == 0:
                aside = path.with_name(f"corrupt-{path.name}")
                shutil.rmtree(aside, ignore_errors=True)
                path.rename(aside)
                warn(f"{e}; set aside as {aside.name}, resuming from an older checkpoint if there is one")
    return None, None


def start_afresh(output: Path) -> None:
    """No checkpoint to resume: a log left by a run killed before its first checkpoint is moved aside,
    so its steps are neither logged twice nor counted in the card."""
    log = output / LOG
    if log.is_file() and log.stat().st_size:
        stale = log.with_name(LOG + ".stale")
        log.replace(stale)
        warn(f"{log}: left by a run stopped before its first checkpoint; kept as {stale.name}, "
             "training starts at step 0")


def resume(trainer) -> bool:
    """Restore the newest intact checkpoint into ``trainer``; False when there is none."""
    path, state = newest_intact(trainer)
    if state is None:
        if trainer.rank == 0:
            start_afresh(trainer.output)
        return False
    if state["recipe"] != trainer.recipe.fingerprint():
        raise InputError(f"{path} was written by another recipe; use a new --output or remove it")
    try:  # a state of the right types that still does not fit (shapes, groups, generator) is one line
        missing = trainer.model.model.load_state_dict(state["model"], strict=False)
        if missing.unexpected_keys:
            raise InputError(f"{path}: weights do not fit the model ({missing.unexpected_keys[:3]} ...)")
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.scheduler.load_state_dict(state["scheduler"])
        trainer.sampler.load_state_dict(state["sampler"])
        rngs = state["torch_rng"]
        torch.set_rng_state(rngs[trainer.rank] if trainer.rank < len(rngs) else rngs[0])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
        raise InputError(f"{path}: the checkpoint does not fit this model and recipe ({type(e).__name__}: "
                         f"{(str(e).splitlines() or [''])[0][:120]}); use a new --output or remove it") from None
    trainer.step, trainer.seconds = state["step"], state["seconds"]
    trainer.precision = state.get("precision", trainer.precision)  # resume in the precision it started in
    if trainer.rank == 0:
        truncate_log(trainer.output / LOG, trainer.step, state.get("log"), path)
    return True


def logged_records(log: Path, step: int) -> list[str]:
    """The log's lines up to ``step`` (what a checkpoint keeps, so that a log line lost later, cut by a kill
    or never flushed to disk, is restored on resuming, and the card counts every step)."""
    if not log.is_file():
        return []
    with open(log, "rb+") as f:  # on disk before the checkpoint that records it
        os.fsync(f.fileno())
    return [line for line, record in _records(log) if record is not None and record[1] <= step]


def _records(log: Path):
    """(line, (record, step) or None when the line is not a JSON record) for every non-blank line."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield line, (record, int(record.get("step", 0)))
        except (ValueError, TypeError, AttributeError):
            yield line, None


def truncate_log(log: Path, step: int, saved: list[str] | None = None, checkpoint: Path | None = None) -> None:
    """Keep the log's records up to ``step``; a line that is not a JSON record is dropped with a warning.
    ``saved``: the checkpoint's own copy of the log up to ``step``; lines missing from the file (a cut last
    line) are restored from it, with a warning, so that no step goes unlogged."""
    if not log.is_file() and not saved:
        return
    keep, bad = [], []
    lines = list(_records(log)) if log.is_file() else []
    for n, (line, record) in enumerate(lines, 1):
        if record is None:
            bad.append(n)
        elif record[1] <= step:
            keep.append(line)
    if bad:
        warn(f"{log}: dropped {len(bad)} unreadable line(s) (line {', '.join(map(str, bad[:5]))}: "
             "cut off by a killed run?)")
    if saved is not None and keep != saved:
        have = set(keep)
        restored = [x for x in saved if x not in have]
        keep = list(saved)
        if restored:
            warn(f"{log}: {len(restored)} line(s) up to step {step} were missing; restored from "
                 f"{checkpoint.name if checkpoint else 'the checkpoint'}")
    with atomic_write(log) as f:
        f.write("".join(x + "\n" for x in keep))


EXPORT_FILES = ("config.json", "tokenizer_config.json", "pyserini_hybrid.json")


def export_damage(output: Path) -> str:
    """What is wrong with a finished run's exported model ("" when its files are whole)."""
    missing = [name for name in ("model.safetensors", *EXPORT_FILES) if not (output / name).is_file()]
    if missing:
        return f"{', '.join(missing)} missing"
    try:
        check_safetensors(output / "model.safetensors")
    except InputError as e:
        return str(e).split(": ", 1)[-1]
    return ""


def reexport_damaged(output: Path) -> None:
    """A finished run whose exported model is damaged: export it again from the final checkpoint (the card
    goes first, so the directory no longer looks complete), or one line saying why that cannot be done."""
    damage = export_damage(output)
    if not damage:
        return
    steps = json.loads((output / CARD).read_text(encoding="utf-8")).get("steps")
    final = [p for p in checkpoints(output) if p.name == f"step-{steps:06d}"] if isinstance(steps, int) else []
    if not final:
        raise InputError(f"{output}: exported model damaged ({damage}) and no checkpoint of its final step "
                         f"{steps} to export it again from; train into a new --output")
    warn(f"{output}: exported model damaged ({damage}); exporting it again from checkpoints/{final[0].name}")
    (output / CARD).unlink()


def export_failed(where: Path, step: int, e: Exception) -> Exception:
    """An export that failed for want of space (an OSError, or safetensors' own error type saying so)
    becomes one line naming the directory; any other error stays as it is."""
    text = str(e)
    if isinstance(e, InputError):
        return e
    if isinstance(e, OSError) and e.errno is not None:
        reason = e.strerror or text
    elif any(s in text for s in ("No space left", "StorageFull", "File too large", "Disk quota")):
        reason = text.splitlines()[0][:160]
    else:
        return e
    return InputError(f"{where}: the model of step {step} could not be exported ({reason}); free some space and "
                      "run the same command again (the last checkpoint is intact)")
