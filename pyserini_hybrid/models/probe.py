"""What ``auto`` precision times: the model's own encoding and training passes in fp32 and bf16 (``PrecisionProbe``),
and the model shape that keys the cached decision. The decision itself is ``precision.choose``."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.files import load_json
from . import precision as prec
from .check_set import CHECK_SET
from .config import EncoderConfig
from .encoder import (
    PAD_MULTIPLE,
    BiEncoderModule,
    load_transformer,
    pad_ids,
    pool,
    position_limit,
    token_ids,
)


def model_shape(model_config: dict, config: EncoderConfig, **extra) -> dict:
    """What a model's speed per precision depends on (part of ``auto``'s cache key), from its config.json."""
    keys = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "vocab_size")
    return {**{k: model_config.get(k) for k in keys}, "max_query_length": config.max_query_length,
            "max_passage_length": config.max_passage_length, "batch_size": config.batch_size, **extra}


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued kernels: CUDA runs asynchronously, so an unsynchronised timer measures only
    the launches. A no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def typical_lengths(n: int, median: float, sigma: float, limit: int) -> list[int]:
    """``n`` token lengths at evenly spaced quantiles of a log-normal (short answer sentences and questions
    are log-normal-ish: SQuAD-style answer sentences have a median near 35 tokens and a p95 near 94)."""
    from statistics import NormalDist

    z = [NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)]
    return [int(min(limit, max(4, round(median * np.exp(sigma * x))))) for x in z]


class PrecisionProbe:
    """What ``precision.choose`` times for this model: ``encode``, the forward of a few mini-batches under
    ``inference_mode`` with the weights cast (as ``TextEncoder`` serves); ``train``, forward and backward of
    one reduced training step (two sub-batches a side) under bf16 autocast with fp32 weights, padded as the
    trainer pads (as ``BiEncoderModule`` trains). Inputs are the check set's real tokens, concatenated and
    cut to typical lengths; the check set's own texts give the fidelity (min cosine, bf16 against fp32).
    The module's gradients and the global RNG are left as they were found."""

    def __init__(self, model, tokenizer, config: EncoderConfig, sub_batch: int = 8, pairs: int = 16,
                 pad_multiple: int = PAD_MULTIPLE):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.sub_batch, self.pairs, self.pad_multiple = sub_batch, pairs, pad_multiple
        self.texts = [t for _, t in CHECK_SET]
        self.stream = [i for ids in tokenizer(self.texts, add_special_tokens=False)["input_ids"] for i in ids]
        self.limit = position_limit(model)
        self._bf16_copy = None

    def _ids(self, lengths: list[int]) -> list[list[int]]:
        """Token id rows of these lengths (special tokens included), cut from the check set's token stream."""
        special = self.tokenizer("", add_special_tokens=True)["input_ids"]  # e.g. [CLS] [SEP], <s> </s>
        head, tail = special[:1], special[1:]
        rows, at = [], 0
        for n in lengths:
            body = [self.stream[(at + k) % len(self.stream)] for k in range(max(1, n - len(special)))]
            at += len(body)
            rows.append(head + body + tail)
        return rows

    def _bf16(self):
        if self._bf16_copy is None:
            self._bf16_copy = copy.deepcopy(self.model).to(dtype=torch.bfloat16).eval()
        return self._bf16_copy

    def _encode(self, model, rows):
        device = next(model.parameters()).device
        out = []
        with torch.inference_mode():
            for chunk in rows:
                batch = pad_ids(self.tokenizer, chunk).to(device)
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                out.append(pool(hidden, batch["attention_mask"], self.config.pooling, True))
        return torch.cat(out)

    def seconds(self, job: str, precision: str) -> float:
        """One pass of ``job`` in ``precision``: encode, two mini-batches (32 texts of 32 and of 64 tokens,
        around the 47-token mean of XQuAD-R's candidates); train, one reduced step."""
        rng, was_training = torch.get_rng_state(), self.model.training
        device = next(self.model.parameters()).device
        gpu_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None  # dropout draws there
        try:
            if job == "encode":
                c = self.config
                rows = [self._ids([min(c.max_passage_length, self.limit, n)] * min(c.batch_size, 32)) for n in (32, 64)]
                model = self._bf16() if precision == "bf16" else self.model.eval()
                synchronize(device)
                start = time.perf_counter()
                self._encode(model, rows)
            else:
                synchronize(device)
                start = time.perf_counter()
                self._train_step(precision)
            synchronize(device)
            return time.perf_counter() - start
        finally:
            torch.set_rng_state(rng)
            if gpu_rng is not None:
                torch.cuda.set_rng_state(gpu_rng, device)
            self.model.train(was_training)

    def _train_step(self, precision: str) -> None:
        c = self.config
        module = BiEncoderModule(self.model, self.tokenizer, c, self.sub_batch, self.pad_multiple)
        was_training = self.model.training
        self.model.train()
        grads = {n: p.grad for n, p in self.model.named_parameters()}
        q = self._ids(typical_lengths(self.pairs, 16, 0.35, min(c.max_query_length, self.limit)))
        p = self._ids(typical_lengths(self.pairs, 35, 0.6, min(c.max_passage_length, self.limit)))
        device = next(self.model.parameters()).device
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        try:
            with autocast:
                qe, pe = module.embed(q), module.embed(p)
                qe, pe = torch.nn.functional.normalize(qe.float(), dim=-1), torch.nn.functional.normalize(pe.float(), dim=-1)
                loss = torch.nn.functional.cross_entropy(qe @ pe.T / 0.05, torch.arange(len(q), device=device))
            loss.backward()
        finally:
            for n, param in self.model.named_parameters():
                param.grad = grads[n]
            self.model.train(was_training)

    def min_cosine(self, job: str) -> float:
        """Check-set embeddings in bf16 (cast weights for ``encode``, autocast for ``train``) against fp32."""
        c = self.config
        ids = token_ids(self.tokenizer, self.texts, c.passage_prefix, min(c.max_passage_length, self.limit))
        was_training = self.model.training
        self.model.eval()
        try:
            rows = [ids]
            a = self._encode(self.model, rows)
            if job == "encode":
                b = self._encode(self._bf16(), rows)
            else:
                with torch.autocast(next(self.model.parameters()).device.type, dtype=torch.bfloat16):
                    b = self._encode(self.model, rows)
        finally:
            self.model.train(was_training)
        return float((a * b).sum(-1).min())


@dataclass(frozen=True)
class TrainStep:
    """The reduced training step ``auto`` times for ``train``: sub-batches, pairs and padding as the trainer's."""

    sub_batch: int = 8
    pairs: int = 16
    pad_multiple: int = PAD_MULTIPLE


def choose_for(requested: str, job: str, loaded: tuple, device: str = "cpu", step: TrainStep = TrainStep(),
               quiet: bool = False, **shape) -> prec.Choice:
    """``precision.choose`` for a loaded ``(model, tokenizer, config)`` (``auto`` measures it when no decision is
    cached); ``shape``: what else the job's speed depends on (part of the cache key, as ``step`` is for ``train``)."""
    model, tokenizer, config = loaded
    if job == "train":
        shape = {**asdict(step), **shape}
    return prec.choose(requested, job, model_shape(model.config.to_dict(), config, **shape),
                       lambda: PrecisionProbe(model, tokenizer, config, step.sub_batch, step.pairs, step.pad_multiple),
                       device, quiet)


def precision_for(model_dir: str | Path, requested: str, job: str = "encode", device: str = "cpu") -> prec.Choice:
    """The precision a model directory is encoded in: a cached ``auto`` decision is read without loading the
    model (its shape comes from config.json); otherwise the model is loaded in fp32 and measured."""
    model_dir = Path(model_dir)
    config = EncoderConfig.load(model_dir)
    shape = model_shape(load_json(model_dir / "config.json"), config)

    def probe():
        model, tokenizer = load_transformer(str(model_dir))
        return PrecisionProbe(model.to(device).eval(), tokenizer, config)
    return prec.choose(requested, job, shape, probe, device)
