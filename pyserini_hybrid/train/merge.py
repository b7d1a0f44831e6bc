"""A training-free step after training: a fine-tuned model averaged in weight space with its start model.

``merged = weight * fine_tuned + (1 - weight) * start``, tensor by tensor, computed in float32 in the order of
the tensors' names, written as a complete model directory (the fine-tuned model's config, tokenizer, encoder
settings, training card and sentence-transformers files beside the merged ``model.safetensors``), so it serves
wherever a fine-tuned model does (``--encoder-class hybrid``, ``dense``, a start model). ``merge-card.json``
names both inputs' and the output's sha256 and the weight. The same inputs give a byte-identical
``model.safetensors``; weight 1 gives the fine-tuned tensors exactly and weight 0 the start's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..core.errors import InputError
from ..core.files import atomic_directory, check_safetensors, load_json, sha256, usual_file_modes, write_json
from ..core.lock import output_lock
from ..models.config import CONFIG_NAME
from ..models.default_model import default_model_dir
from .card import CARD, git_commit

WEIGHTS = "model.safetensors"
MERGE_CARD = "merge-card.json"
# what a training run keeps in its output beside the model: not part of the model directory
TRAINING_STATE = ("checkpoints", "budgets", "train-log.jsonl", "train-recipe.json", "latest.json", "README.md",
                  WEIGHTS, MERGE_CARD)


def start_dir(name: str | Path) -> Path:
    """The start model as a directory: ``default`` is the embedded multilingual-e5-small (as
    ``models.encoder.resolve_start``), else a model directory, else a hub id in the local hub cache."""
    if str(name) == "default":
        return default_model_dir()
    path = Path(name).expanduser()
    if path.is_dir() or str(name).startswith((".", "/", "~")):
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(name), local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure of the hub client means the same: not here
        raise InputError(f"--start {name}: no such model directory, and not in the local hub cache") from None


def recorded_start(fine_tuned: Path) -> str:
    """The start model the fine-tuned model was trained from: its training card's ``recipe.model.name``
    (``default``, the recipes' start model, for a model directory without a training card)."""
    card = Path(fine_tuned) / CARD
    if not card.is_file():
        return "default"
    try:
        return str(load_json(card)["recipe"]["model"]["name"])
    except (KeyError, TypeError):
        raise InputError(f"{card}: no recipe.model.name naming the start model; pass --start") from None


def _weights(model_dir: Path, what: str) -> Path:
    path = model_dir / WEIGHTS
    if not path.is_file():
        sharded = " (sharded weights are not supported)" if (model_dir / f"{WEIGHTS}.index.json").is_file() else ""
        raise InputError(f"{what} {model_dir}: no {WEIGHTS}{sharded}")
    check_safetensors(path)
    return path


def _layout(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor, from the header alone."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}


def check_same_layout(fine_tuned: Path, start: Path) -> list[str]:
    """The tensor names in order; InputError naming the first tensor whose name, shape or dtype differs."""
    a, b = _layout(fine_tuned), _layout(start)
    for name in sorted(a.keys() | b.keys()):
        if a.get(name) != b.get(name):
            def said(x):
                return "no such tensor" if x is None else f"{x[0]} {list(x[1])}"

            raise InputError(f"{start}: tensor {name} is {said(b.get(name))} where {fine_tuned} has "
                             f"{said(a.get(name))} (not the model it was fine-tuned from?)")
    return sorted(a)


def merged_tensors(fine_tuned: Path, start: Path, names: list[str], weight: float) -> dict:
    """name -> merged tensor: float32 arithmetic, cast back to the input's dtype; weight 1 and 0 copy."""
    import torch
    from safetensors import safe_open

    out = {}
    with safe_open(str(fine_tuned), framework="pt") as ft, safe_open(str(start), framework="pt") as st:
        for name in names:
            a, b = ft.get_tensor(name), st.get_tensor(name)
            if weight == 1.0 or weight == 0.0:
                out[name] = (a if weight == 1.0 else b).contiguous()
            elif not a.is_floating_point():  # integer buffers (position ids): must agree
                if not torch.equal(a, b):
                    raise InputError(f"{start}: tensor {name} ({a.dtype}) differs from {fine_tuned}'s and cannot "
                                     "be averaged")
                out[name] = a.contiguous()
            else:
                merged = weight * a.to(torch.float32) + (1.0 - weight) * b.to(torch.float32)
                out[name] = merged.to(a.dtype).contiguous()
    return out


def _copy_model_files(fine_tuned: Path, tmp: Path) -> None:
    """Everything of the fine-tuned model directory but its weights and its training run's state."""
    for item in sorted(fine_tuned.iterdir()):
        if item.name in TRAINING_STATE or item.name.startswith("."):
            continue
        if item.is_dir():
            if (item / WEIGHTS).exists():  # a model inside (an earlier merge's output): not part of this one
                continue
            shutil.copytree(item, tmp / item.name)
        else:
            shutil.copy2(item, tmp / item.name)


def _readme(fine_tuned: Path, card: dict) -> str:
    text = (f"# Merged model\n\n{card['formula']}, weight {card['weight']}: the fine-tuned `{fine_tuned.name}` and "
            f"its start model `{card['start']['name']}` (`{MERGE_CARD}`). The training card below is the "
            "fine-tuned model's.\n\n")
    readme = fine_tuned / "README.md"
    return text + (readme.read_text(encoding="utf-8") if readme.is_file() else "")


def _check_output(output: Path, inputs: tuple[Path, ...]) -> None:
    """The output may not be (or hold) an input, and replaces only an earlier merge's output."""
    out = output.resolve()
    for path in inputs:
        if out == path.resolve() or out in path.resolve().parents:
            raise InputError(f"--output {output}: would replace the input {path}; choose another --output")
    if output.exists() and not (output / MERGE_CARD).is_file():
        raise InputError(f"--output {output}: exists and is not a merge's output; choose another --output")


def merge_models(fine_tuned: Path, start: Path, output: Path, weight: float = 0.5, start_name: str | None = None) -> dict:
    """Write ``weight * fine_tuned + (1 - weight) * start`` as the model directory ``output`` (atomically:
    a kill leaves no half-written output) and return its merge card. Everything is checked before anything
    is written: the weight, both models' weights files and their tensors' names, shapes and dtypes."""
    fine_tuned, start, output = Path(fine_tuned), Path(start), Path(output)
    if isinstance(weight, bool) or not (isinstance(weight, (int, float)) and 0.0 <= weight <= 1.0):
        raise InputError(f"--weight {weight}: the fine-tuned model's weight must lie in [0, 1]")
    weight = float(weight)
    ft_file, st_file = _weights(fine_tuned, "--model"), _weights(start, "--start")
    if not (fine_tuned / CONFIG_NAME).is_file():
        raise InputError(f"--model {fine_tuned}: no {CONFIG_NAME} (not a pyserini-hybrid model directory)")
    names = check_same_layout(ft_file, st_file)
    _check_output(output, (fine_tuned, start))
    card = {"made_by": "python -m pyserini_hybrid.train merge",
            "formula": "weight * fine_tuned + (1 - weight) * start, per tensor, in float32", "weight": weight,
            "fine_tuned": {"path": str(fine_tuned), "sha256": sha256(ft_file)},
            "start": {"name": str(start_name or start), "path": str(start), "sha256": sha256(st_file)},
            "tensors": len(names), "git_commit": git_commit()}
    with output_lock(output, "merge"), atomic_directory(output) as tmp:
        tensors = merged_tensors(ft_file, st_file, names, weight)
        from safetensors.torch import save_file

        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": "pt"})
        del tensors
        _copy_model_files(fine_tuned, tmp)
        card["parameters"] = sum(_numel(shape) for _, shape in _layout(tmp / WEIGHTS).values())
        card["output"] = {"path": str(output), "sha256": sha256(tmp / WEIGHTS)}
        (tmp / "README.md").write_text(_readme(fine_tuned, card), encoding="utf-8")
        write_json(tmp / MERGE_CARD, card)
        usual_file_modes(tmp)  # safetensors writes 0600
    return card


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
