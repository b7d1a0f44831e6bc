"""One encoder for training and serving: the transformer loader, pooling + normalisation, E5 prefixes.

``BiEncoder`` is the transformer as a trainable module whose single ``forward(queries, passages[,
negatives])`` is what DistributedDataParallel wraps; ``text_encoder.TextEncoder`` serves the same
transformer to Pyserini (it sits above ``probe``, which times this module's passes). Both load through
``load_transformer``, tokenise and pool through the same functions, and sort texts by length into
sub-batches, so a model scores a text the same way whether it is being trained or served.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError
from ..core.files import check_safetensors, usual_file_modes
from . import integrity, sentence_transformers_files
from .config import EncoderConfig
from .default_model import default_model_dir


def resolve_start(name: str) -> str:
    """A model name as transformers takes it: ``default`` is the embedded multilingual-e5-small."""
    if name == "default":
        return str(default_model_dir())
    return str(name)


# files AutoTokenizer reads from a model directory (config.json: it can name the tokenizer class)
TOKENIZER_FILES = (*integrity.TOKENIZER_ONLY_FILES, "config.json")
_tokenizers: dict[str, object] = {}


def load_tokenizer(name: str):
    """``AutoTokenizer.from_pretrained(name)``, loaded once per process for the same tokenizer files.

    multilingual-e5's 250k-entry ``tokenizer.json`` is slow to parse (twice: transformers reads it as
    JSON, then the Rust tokenizer again), and every model trained from it holds the same copy, so a study's
    dense runs paid that for each language and each model. Keyed by the files' content (an edited tokenizer
    is a new entry); the object is shared, which is safe because every call of ours passes its own
    truncation and length. Hub names are not cached."""
    from transformers import AutoTokenizer

    path = Path(name)
    if not path.is_dir():
        return AutoTokenizer.from_pretrained(str(name))
    h = hashlib.sha256()
    for file in TOKENIZER_FILES:
        if (path / file).is_file():
            h.update(file.encode() + b"\0" + (path / file).read_bytes() + b"\0")
    key = h.hexdigest()
    if key not in _tokenizers:
        _tokenizers[key] = AutoTokenizer.from_pretrained(str(name))
    return _tokenizers[key]


def load_transformer(name: str):
    """(model, tokenizer) from a directory or hub name, without a pooler: we pool ourselves, and a random
    BERT/XLM-R pooler would only be built and warned about. The tokenizer must be the model's own: the
    sha256 recorded at conversion or export, the special-token ids of config.json (``integrity``)."""
    from transformers import AutoModel

    weights = Path(name) / "model.safetensors"
    if weights.is_file():  # a truncated file would otherwise be a SafetensorError traceback
        check_safetensors(weights)
    for message in integrity.tokenizer_record(name):
        integrity.warn(message)
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModel.from_pretrained(str(name), add_pooling_layer=False)
    except TypeError:
        model = AutoModel.from_pretrained(str(name))
    check_tokenizer(name, tokenizer, model.get_input_embeddings().num_embeddings)
    integrity.check_special_tokens(name, tokenizer, model.config)
    return model, tokenizer


def check_tokenizer(name: str, tokenizer, rows: int) -> None:
    """A model directory must carry its own tokenizer: without the files transformers quietly builds a tiny
    one that maps every word to [UNK] (a dense run then scores near zero with exit 0). Its vocabulary must fit
    the embedding matrix and cover most of it (XLM-R-style models keep a few spare rows)."""
    size = len(tokenizer)
    if size > rows or size < rows // 2:
        raise InputError(f"{name}: tokenizer of {size:,} tokens for an embedding matrix of {rows:,} rows "
                         "(tokenizer files missing or from another model)")


def position_limit(model) -> int:
    """The longest input the model's position embeddings allow (RoBERTa-style models offset positions
    by the padding id, so they lose pad_token_id + 1 of them)."""
    cfg = model.config
    limit = int(getattr(cfg, "max_position_embeddings", 0) or 10 ** 6)
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(getattr(cfg, "pad_token_id", 1) or 0) + 1
    return limit


def pool(hidden, mask, pooling: str, l2_norm: bool):
    """Sentence embeddings from token states, in fp32 whatever the model's precision: mean over the
    attention mask, or the first token; then optionally L2-normalised."""

    hidden = hidden.float()
    if pooling == "cls":
        emb = hidden[:, 0]
    else:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(emb, dim=-1) if l2_norm else emb


def token_ids(tokenizer, texts: list[str], prefix: str, max_length: int) -> list[list[int]]:
    return tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length,
                     add_special_tokens=True)["input_ids"]


def length_sorted_chunks(ids: list[list[int]], size: int) -> list[np.ndarray]:
    """Row indices in chunks of ``size`` texts of similar length, so a padded chunk is mostly real tokens."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    return [order[i:i + size] for i in range(0, len(order), max(1, size))]


# Training may pad each sub-batch to a multiple of this many tokens (``train.pad_multiple``; capped at the
# model's position limit), so oneDNN meets fewer input shapes; rounding measured slower, so the default is exact
# lengths (docs/speed.md#padding-training-sub-batches-trainpad_multiple). Masked padding changes no result beyond
# float rounding (tested).
PAD_MULTIPLE = 1


def padded_length(longest: int, limit: int, multiple: int = PAD_MULTIPLE) -> int:
    """``longest`` rounded up to a multiple of ``multiple``, but never past ``limit`` (nor below ``longest``)."""
    if multiple <= 1:
        return longest
    return max(longest, min(-(-longest // multiple) * multiple, limit))


def pad_ids(tokenizer, rows: list[list[int]], multiple: int = 1, limit: int = 10 ** 6) -> dict:
    """Padded ``input_ids`` and ``attention_mask`` tensors, to the longest row rounded up to ``multiple``."""
    length = padded_length(max(len(x) for x in rows), limit, multiple)
    return tokenizer.pad({"input_ids": rows}, padding="max_length", max_length=length, return_tensors="pt")


class BiEncoderModule(torch.nn.Module):
    """The trainable part, the ``torch.nn.Module`` that DistributedDataParallel wraps: one
    ``forward(queries, passages[, negatives])`` over token ids encodes the whole step's texts, each side
    in length-sorted sub-batches of ``sub_batch`` texts (0: one padded batch), each padded to a multiple of
    ``pad_multiple`` tokens (a few shapes, so a few oneDNN kernels), and returns pooled, un-normalised
    embeddings in input order (the loss normalises when the config says so)."""

    def __init__(self, model, tokenizer, config: EncoderConfig, sub_batch: int = 0, pad_multiple: int = PAD_MULTIPLE):
        super().__init__()
        self.model, self.tokenizer, self.config, self.sub_batch = model, tokenizer, config, sub_batch
        self.pad_multiple, self.limit = pad_multiple, position_limit(model)

    def embed(self, ids: list[list[int]]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        parts, rows = [], []
        for chunk in length_sorted_chunks(ids, self.sub_batch or len(ids)):
            batch = pad_ids(self.tokenizer, [ids[i] for i in chunk], self.pad_multiple, self.limit).to(device)
            hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            parts.append(pool(hidden, batch["attention_mask"], self.config.pooling, False))
            rows.append(torch.as_tensor(chunk))
        inverse = torch.empty(len(ids), dtype=torch.long)
        inverse[torch.cat(rows)] = torch.arange(len(ids))
        return torch.cat(parts)[inverse.to(device)]

    def forward(self, queries, passages, negatives=None):
        return self.embed(queries), self.embed(passages), self.embed(negatives) if negatives else None


class BiEncoder:
    """Training-side handle: tokenises texts for ``module`` and saves the model directory."""

    def __init__(self, model, tokenizer, config: EncoderConfig, sub_batch: int = 0, pad_multiple: int = PAD_MULTIPLE):
        self.tokenizer, self.config = tokenizer, config
        self.module = BiEncoderModule(model, tokenizer, config, sub_batch, pad_multiple)

    @classmethod
    def build(cls, name: str, config: EncoderConfig, sub_batch: int = 0, pad_multiple: int = PAD_MULTIPLE) -> "BiEncoder":
        """From a name (the embedded default, a hub name or a directory: one path, ``from_pretrained``)."""
        model, tokenizer = load_transformer(resolve_start(name))
        limit = position_limit(model)  # a recipe's lengths may exceed what a small model can take
        config = replace(config, max_query_length=min(config.max_query_length, limit),
                         max_passage_length=min(config.max_passage_length, limit))
        return cls(model, tokenizer, config, sub_batch, pad_multiple)

    @property
    def model(self):
        return self.module.model

    def freeze_word_embeddings(self) -> int:
        """Stops training the token embeddings (most parameters of a multilingual model); returns their count."""
        emb = self.model.get_input_embeddings()
        emb.weight.requires_grad_(False)
        return emb.weight.numel()

    def inputs(self, queries: list[str], passages: list[str], negatives: list[str] | None = None) -> tuple:
        """Token ids for ``module(...)``: (query ids, passage ids, negative ids or None)."""
        c = self.config
        q = token_ids(self.tokenizer, queries, c.query_prefix, c.max_query_length)
        p = token_ids(self.tokenizer, passages, c.passage_prefix, c.max_passage_length)
        n = token_ids(self.tokenizer, negatives, c.passage_prefix, c.max_passage_length) if negatives else None
        return q, p, n

    def __call__(self, queries: list[str], passages: list[str], negatives: list[str] | None = None, module=None):
        """(query, passage, negative or None) embeddings; ``module``: the DDP wrapper of ``self.module``."""
        return (module or self.module)(*self.inputs(queries, passages, negatives))

    def save(self, directory: Path, **card) -> None:
        """Weights (safetensors, fp32), tokenizer, our encoder config (plus ``card`` fields and the tokenizer
        files' sha256, checked whenever the model is loaded) and sentence-transformers' files into ``directory``."""
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        self.config.save(directory, **card, **{integrity.TOKENIZER_HASH: integrity.tokenizer_sha256(directory)})
        sentence_transformers_files.write(directory, self.config, self.model)
        usual_file_modes(directory)  # safetensors writes 0600: a shared model must stay readable
