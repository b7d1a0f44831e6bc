"""The encoder config a model directory carries (``pyserini_hybrid.json``): pooling, L2 norm, prefixes, lengths.

The E5 conventions (mean pooling, L2 norm, "query: "/"passage: " prefixes, 64/256 tokens) are these
defaults, defined here once: the recipe's ``[model]`` section and the embedded default model take them
from this class.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..core.errors import InputError
from ..core.files import load_json, write_json
from .precision import check as check_precision

CONFIG_NAME = "pyserini_hybrid.json"
POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class EncoderConfig:
    """How a model directory is used: read by ``--encoder-class hybrid`` and by training."""

    pooling: str = "mean"
    l2_norm: bool = True
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    max_query_length: int = 64
    max_passage_length: int = 256
    batch_size: int = 32  # mini-batch inside one encode() call; Pyserini's --batch-size is the chunk
    precision: str = "auto"  # fp32 | bf16 | auto (the faster here, measured once); $PYSERINI_HYBRID_PRECISION wins

    @classmethod
    def load(cls, model_dir: str | Path) -> "EncoderConfig":
        path = Path(model_dir) / CONFIG_NAME
        if not path.is_file():
            raise InputError(
                f"{model_dir}: no {CONFIG_NAME} (not a pyserini-hybrid model directory); add one, e.g. "
                f"{json.dumps(asdict(cls()))}, or use --encoder-class auto --pooling mean --l2-norm")
        raw = load_json(path)
        known = {f.name for f in fields(cls)}
        # extra keys (source, checksums, training card pointers) are information, not settings
        config = cls(**{k: v for k, v in raw.items() if k in known})
        if config.pooling not in POOLINGS:
            raise InputError(f"{path}: unknown pooling {config.pooling!r} (choose {' or '.join(POOLINGS)})")
        check_precision(config.precision, f"{path}: precision")
        return config

    def save(self, model_dir: str | Path, **extra) -> Path:
        path = Path(model_dir) / CONFIG_NAME
        write_json(path, {**asdict(self), **extra})
        return path
