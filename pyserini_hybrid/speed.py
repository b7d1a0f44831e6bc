"""Encoding speed against Pyserini's own encoder, and against this machine's roofline.

    python -m pyserini_hybrid.speed --passages 2000

Encodes the same XQuAD-R candidates (all languages, interleaved) with (a) our HybridDocumentEncoder and
(b) Pyserini's AutoDocumentEncoder on the same model directory (mean pooling, L2 norm, the same
prefix), in one process, one after the other, and prints passages/s for each and their ratio. The
roofline line divides the encoder's useful FLOPs (from its config and the real token counts, padding
excluded) by the time taken, against a measured fp32 matrix-product rate on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import topics as tp
from .errors import cli


def encoder_flops(config: dict, lengths: list[int]) -> float:
    """Multiply-adds x2 of a BERT-style encoder over sequences of these token lengths."""
    h, i, n = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    total = 0.0
    for L in lengths:
        total += n * (8 * L * h * h + 4 * L * h * i + 4 * L * L * h)  # QKVO, FFN, scores and weighted sum
    return total


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 20) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - t) / 1e9


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
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch
    from pyserini.encode import AutoDocumentEncoder

    from .dense import resolve_model
    from .encoders import encoder_classes

    torch.set_num_threads(args.threads)
    model_dir = resolve_model(args.model)
    texts = sample_passages(args.dataset, args.passages)
    ours = encoder_classes()[0](str(model_dir), device="cpu")
    cfg = ours.config
    stock = AutoDocumentEncoder(str(model_dir), device="cpu", pooling="mean", l2_norm=True,
                                prefix=cfg.passage_prefix.rstrip())  # Pyserini adds the space itself

    def timed(encode):
        start, out = time.perf_counter(), []
        for i in range(0, len(texts), args.batch_size):
            out.append(np.asarray(encode(texts[i:i + args.batch_size])))
        return time.perf_counter() - start, np.concatenate(out)

    t_ours, e_ours = timed(lambda chunk: ours.encode(chunk, max_length=cfg.max_passage_length))
    t_stock, e_stock = timed(lambda chunk: stock.encode(chunk, max_length=cfg.max_passage_length))
    agree = float(np.min(np.sum(e_ours * e_stock, axis=1)))

    lengths = [len(x) for x in ours.encoder.tokenizer([cfg.passage_prefix + t for t in texts], truncation=True,
                                                      max_length=cfg.max_passage_length)["input_ids"]]
    flops = encoder_flops(json.loads((model_dir / "config.json").read_text()), lengths)
    peak = matmul_gflops(args.threads)
    print(f"model {model_dir} | {len(texts)} {args.dataset} passages, mean {np.mean(lengths):.1f} tokens | "
          f"{args.threads} threads, chunk {args.batch_size}")
    print(f"ours (HybridDocumentEncoder):       {len(texts) / t_ours:8.1f} passages/s  ({t_ours:.1f} s)")
    print(f"Pyserini AutoDocumentEncoder:       {len(texts) / t_stock:8.1f} passages/s  ({t_stock:.1f} s)")
    print(f"speed-up over Pyserini:             {t_stock / t_ours:8.2f}x   (min cosine ours vs Pyserini {agree:.5f})")
    print(f"roofline: {flops / t_ours / 1e9:.1f} GFLOP/s useful vs {peak:.1f} GFLOP/s fp32 matmul "
          f"= {flops / t_ours / 1e9 / peak:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
