"""Encoding and training speed on this machine, against Pyserini's encoder and the matrix-product peak.

    python -m pyserini_hybrid.speed --passages 2000 [--train-steps 5]

One run, the same XQuAD-R candidates (all languages, interleaved) for every encoder: Pyserini's
``AutoDocumentEncoder`` on the model directory (fp32, mean pooling, L2 norm, the same prefix) in calls of
``--batch-size`` texts (Pyserini's default 64), ours in fp32 and in bf16 in calls of ``--chunk`` texts (what
our dense runs pass to ``pyserini.encode``; ours sorts a call by length, Pyserini's pads it to its longest). Each line gives passages/s, the ratio to Pyserini and to our fp32, the minimum
cosine to our fp32 embedding, and the roofline: useful encoder FLOPs (real tokens, padding excluded)
per second against a matrix product *of the same precision* measured in the same run. The training
line times optimiser steps of the CPU recipe (32 pairs) as before this fast path (fp32, one padded
batch per side) and with it (bf16 autocast, length-sorted sub-batches): the median of a few steps on
the same batches.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError, cli
from ..core.files import PROJECT_ROOT
from ..data import topic_sets as tp


def encoder_flops(config: dict, lengths: list[int]) -> float:
    """Multiply-adds x2 of a BERT-style encoder over sequences of these token lengths."""
    h, i, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    total = 0.0
    for L in lengths:
        total += n * (8 * L * h * h + 4 * L * h * i + 4 * L * L * h)  # QKVO, FFN, scores and weighted sum
    return total


def matmul_gflops(threads: int, precision: str = "fp32", size: int = 2048, repeats: int = 10) -> float:
    import torch

    from ..models.precision import torch_dtype

    torch.set_num_threads(threads)
    dtype = torch_dtype(precision)
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - t) / 1e9


def train_step_seconds(recipe_path: Path, steps: int, precision: str, sub_batch: int, data=None) -> float:
    """Median seconds of ``steps`` optimiser steps of a recipe (after two warm-up steps: oneDNN builds its kernels for new shapes), in a scratch dir."""
    import tempfile

    from ..train import recipe as rc
    from ..train.loop import Trainer

    recipe = rc.with_changes(rc.load(recipe_path), train={"precision": precision, "sub_batch": sub_batch,
                                                          "steps": steps + 2})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(recipe, Path(tmp), data, quiet=True)
        times = [trainer.train_step()["seconds"] for _ in range(steps + 2)][2:]
    return float(np.median(times))


def sample_passages(dataset: str, n: int, topics_dir: Path | None = None) -> list[str]:
    meta = tp.load_meta(dataset, topics_dir)
    per_lang = [[json.loads(line)["contents"] for line in
                 (tp.corpus_dir(dataset, x, "sentence", topics_dir) / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
                for x in meta["languages"]]
    mixed = [p for group in zip(*per_lang) for p in group]  # interleave languages: realistic length spread
    return mixed[:n]


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model directory (default: the embedded multilingual-e5-small)")
    parser.add_argument("--dataset", default="xquad-r")
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64, help="Pyserini's chunk size, as --batch-size of pyserini.encode")
    parser.add_argument("--chunk", type=int, help="texts per encode call for ours (default: what our dense runs use)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=5, help="timed training steps per setting (0: none)")
    parser.add_argument("--recipe", type=Path, default=PROJECT_ROOT / "encoders" / "me5-small-hybrid-cpu.toml")
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    from ..retrieval.dense import ENCODE_CHUNK, resolve_model

    args.chunk = args.chunk or ENCODE_CHUNK
    for flag in ("passages", "batch_size", "chunk", "threads"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be positive")

    import torch
    from pyserini.encode import AutoDocumentEncoder

    from ..models.precision import cpu_has_bf16
    from ..pyserini_glue.registry import encoder_classes
    torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model)
    texts = sample_passages(args.dataset, args.passages)
    doc_cls = encoder_classes()[0]
    ours = {p: doc_cls(str(model_dir), device="cpu") for p in ("fp32", "bf16")}
    for p, enc in ours.items():  # Pyserini builds the class with a name and a device; the setting is ours
        enc.encoder.model.to(dtype=torch.bfloat16 if p == "bf16" else torch.float32)
        enc.encoder.precision = p
    cfg = ours["fp32"].config
    stock = AutoDocumentEncoder(str(model_dir), device="cpu", pooling="mean", l2_norm=True,
                                prefix=cfg.passage_prefix.rstrip())  # Pyserini adds the space itself

    def timed(encode, size):
        start, out = time.perf_counter(), []
        for i in range(0, len(texts), size):
            out.append(np.asarray(encode(texts[i:i + size]), dtype=np.float32))
        return time.perf_counter() - start, np.concatenate(out)

    runs = {"Pyserini AutoDocumentEncoder (fp32)":
            timed(lambda c: stock.encode(c, max_length=cfg.max_passage_length), args.batch_size)}
    for p, enc in ours.items():
        runs[f"ours, {p}"] = timed(lambda c, enc=enc: enc.encode(c, max_length=cfg.max_passage_length), args.chunk)
    lengths = [len(x) for x in ours["fp32"].encoder.tokenizer([cfg.passage_prefix + t for t in texts], truncation=True,
                                                              max_length=cfg.max_passage_length)["input_ids"]]
    flops = encoder_flops(json.loads((model_dir / "config.json").read_text()), lengths)
    peak = {p: matmul_gflops(args.threads, p) for p in ("fp32", "bf16")}
    reference = runs["ours, fp32"][1]
    t_stock, t_fp32 = runs["Pyserini AutoDocumentEncoder (fp32)"][0], runs["ours, fp32"][0]
    print(f"model {model_dir.name} | {len(texts)} {args.dataset} passages, mean {np.mean(lengths):.1f} tokens | "
          f"{args.threads} threads, calls of {args.batch_size} (Pyserini) / {args.chunk} (ours), mini-batches of "
          f"{cfg.batch_size} | CPU bf16 instructions: {cpu_has_bf16()}")
    print(f"matrix product 2048^2: fp32 {peak['fp32']:.1f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s")
    print(f"{'encoder':38s} {'passages/s':>10s} {'vs Pyserini':>11s} {'vs ours fp32':>12s} {'min cos':>8s} {'roofline':>8s}")
    for name, (t, emb) in runs.items():
        p = "bf16" if name.endswith("bf16") else "fp32"
        cos = float(np.min(np.sum(emb * reference, axis=1)))
        print(f"{name:38s} {len(texts) / t:10.1f} {t_stock / t:10.2f}x {t_fp32 / t:11.2f}x {cos:8.5f} "
              f"{flops / t / 1e9 / peak[p]:8.0%}")
    if args.train_steps > 0:
        before = train_step_seconds(args.recipe, args.train_steps, "fp32", 0, args.data_dir)
        after = train_step_seconds(args.recipe, args.train_steps, "bf16", 8, args.data_dir)
        print(f"training step ({args.recipe.name}, median of {args.train_steps}): fp32 one padded batch {before:.2f} s, "
              f"bf16 + length-sorted sub-batches of 8 {after:.2f} s = {before / after:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
