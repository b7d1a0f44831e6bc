"""Pyserini encoder classes for our models: the model directory carries everything needed to use it.

A model directory is a plain Hugging Face directory (config, weights, tokenizer) plus
``pyserini_hybrid.json``: pooling, L2 normalisation, query/passage prefixes and max lengths. So
``--encoder-class hybrid`` needs no other flag, and the same directory also loads in stock Pyserini
with ``--encoder-class auto --pooling mean --l2-norm --prefix ...``.

Encoding sorts texts by length and pads per mini-batch (on CPU every padded token costs), under
``torch.inference_mode``; queries are encoded in batches too (``encode_batch``, which Pyserini's
FaissSearcher uses when present).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import load_json, write_json

CONFIG_NAME = "pyserini_hybrid.json"
POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class EncoderConfig:
    pooling: str = "mean"
    l2_norm: bool = True
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    max_query_length: int = 64
    max_passage_length: int = 256
    batch_size: int = 32  # mini-batch inside one encode() call; Pyserini's --batch-size is the chunk

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
        return config

    def save(self, model_dir: str | Path, **extra) -> Path:
        path = Path(model_dir) / CONFIG_NAME
        write_json(path, {**asdict(self), **extra})
        return path


def position_limit(model) -> int:
    """The longest input the model's position embeddings allow (RoBERTa-style models offset positions
    by the padding id, so they lose pad_token_id + 1 of them)."""
    cfg = model.config
    limit = int(getattr(cfg, "max_position_embeddings", 0) or 10 ** 6)
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(getattr(cfg, "pad_token_id", 1) or 0) + 1
    return limit


class TextEncoder:
    """A transformer with our pooling; shared by the document and the query encoder."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", config: EncoderConfig | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.config = config or EncoderConfig.load(model_dir)
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            # Pyserini's encode defaults to cuda:0; on a CPU machine say so rather than fail
            print("pyserini_hybrid: CUDA is not available, encoding on the CPU", file=sys.stderr)
            device = "cpu"
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        try:  # encoders need no pooler; BERT/XLM-R would otherwise build (and warn about) a random one
            model = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_pretrained(str(model_dir))
        self.model = model.to(self.device).eval()
        self.dimension = int(self.model.config.hidden_size)
        self.max_length = position_limit(self.model)

    def embed(self, texts: list[str], prefix: str, max_length: int, batch_size: int | None = None,
              progress: str | None = None) -> np.ndarray:
        """float32 [len(texts), dim], rows in the input order; ``progress``: a bar with this label."""
        import torch
        from tqdm import tqdm

        texts = [prefix + t for t in texts]
        batch_size = batch_size or self.config.batch_size
        ids = self.tokenizer(texts, truncation=True, max_length=min(max_length, self.max_length),
                             add_special_tokens=True)["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc=progress, unit="batch", disable=progress is None):
                rows = order[start:start + batch_size]
                batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt").to(self.device)
                hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                out[rows] = self.pool(hidden, batch["attention_mask"]).float().cpu().numpy()
        return out

    def pool(self, hidden, mask):
        import torch

        if self.config.pooling == "cls":
            emb = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(emb, dim=-1) if self.config.l2_norm else emb


def check_encode_args(argv: list[str]) -> None:
    """Fail before encoding anything when ``--dimension`` disagrees with a hybrid model's width.

    Pyserini's FaissRepresentationWriter would otherwise die in a faiss assertion after the work."""
    def value(flag):
        return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None

    if value("--encoder-class") != "hybrid" or value("--encoder") is None:
        return
    model_dir = Path(value("--encoder"))
    EncoderConfig.load(model_dir)  # a directory without our config fails here, by name
    try:
        width = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"]
    except (OSError, KeyError, json.JSONDecodeError):
        raise InputError(f"{model_dir}: no readable config.json with hidden_size") from None
    dimension = value("--dimension")
    if "--to-faiss" in argv and (dimension or "768").isdigit() and int(dimension or 768) != width:  # 768: Pyserini default
        raise InputError(f"--dimension {dimension or '768 (default)'} does not match {model_dir}: "
                         f"its embeddings have {width} dimensions (pass --dimension {width})")


def _pyserini_bases():
    from pyserini.encode import DocumentEncoder, QueryEncoder

    return DocumentEncoder, QueryEncoder


def _make_classes():
    DocumentEncoder, QueryEncoder = _pyserini_bases()

    class HybridDocumentEncoder(DocumentEncoder):
        """Pyserini DocumentEncoder; Pyserini passes only the model name and device."""

        def __init__(self, model_name: str, device: str = "cpu", **_ignored):
            self.encoder = TextEncoder(model_name, device)
            self.config = self.encoder.config

        def encode(self, texts, titles=None, max_length=None, **kwargs):
            if titles is not None:
                texts = [f"{t} {x}".strip() for t, x in zip(titles, texts)]
            limit = min(max_length or self.config.max_passage_length, self.config.max_passage_length)
            return self.encoder.embed(list(texts), self.config.passage_prefix, limit)

    class HybridQueryEncoder(QueryEncoder):
        """Pyserini QueryEncoder with ``encode_batch`` for FaissSearcher.batch_search."""

        def __init__(self, encoder_dir: str | None = None, device: str = "cpu", **_ignored):
            super().__init__(None)
            self.encoder = TextEncoder(encoder_dir, device)
            self.config = self.encoder.config
            self.has_model = True

        def encode(self, query: str, **kwargs):
            return self.encode_batch([query])[0]

        def encode_batch(self, queries, **kwargs):
            return self.encoder.embed(list(queries), self.config.query_prefix, self.config.max_query_length)

    return HybridDocumentEncoder, HybridQueryEncoder


_classes = None


def encoder_classes():
    """(HybridDocumentEncoder, HybridQueryEncoder), built on first use so importing us loads no Pyserini."""
    global _classes
    if _classes is None:
        _classes = _make_classes()
    return _classes
