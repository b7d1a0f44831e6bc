"""Encoding and training speed on this machine, timed the way users run them, each in a fresh process.

    python -m pyserini_hybrid.speed [--passages 1000] [--repeats 2] [--train-steps 4] [--train-repeats 2]

Training: for each setting (precision fp32, bf16 and auto x ``train.sub_batch`` 0 = one padded batch per
side, 8 = length-sorted sub-batches) the trainer runs exactly as its CLI does, in a fresh process,
``python -m pyserini_hybrid.train RECIPE --set train.steps=N --set train.precision=P --set
train.sub_batch=S --output TMP``, ``--train-repeats`` times; the step seconds are read from its
``train-log.jsonl``. Step 1 (oneDNN builds its kernels for the shapes it meets) is reported apart; the
figure is the median of steps 2..N over all repeats, with their range. ``auto`` also says what it chose
and the ratio it measured (from the training card).

Encoding: the path ``dense`` takes, ``pyserini.encode --encoder-class hybrid`` building our document
encoder with ``$PYSERINI_HYBRID_PRECISION`` set as ``--precision`` sets it, called with ``dense``'s
chunks of 2,048 texts, in a fresh process per precision; the same XQuAD-R candidates (all languages,
interleaved) each time, a first call of 64 texts apart, then the median passages/s of ``--repeats`` passes with their
range, the min cosine to fp32 and the roofline (useful encoder FLOPs per second against a matrix product
of the same precision measured in this run). Pyserini's ``AutoDocumentEncoder`` (fp32, calls of 64) is
the reference line. Ratios are within one run: on a shared machine compare them, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError, cli
from ..core.files import PROJECT_ROOT
from ..data import topic_sets as tp

SETTINGS = ("fp32/0", "fp32/8", "bf16/0", "bf16/8", "auto/8")
NO_BF16 = "not timed: no bf16 instruction"
WARM_UP = 64  # texts of the untimed first call per encoder


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


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _env(**extra) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}
    return {k: v for k, v in env.items() if v is not None}


# ------------------------------------------------------------------------------------------- training
def train_command(recipe: Path, steps: int, precision: str, sub_batch: int, output: Path, data=None) -> list[str]:
    """The trainer's CLI, as a user types it."""
    return [sys.executable, "-m", "pyserini_hybrid.train", str(recipe), "--set", f"train.steps={steps}",
            "--set", f"train.precision={precision}", "--set", f"train.sub_batch={sub_batch}", "--output", str(output),
            "--quiet", *(["--data-dir", str(data)] if data else [])]


def train_line(recipe: Path, precision: str, sub_batch: int, steps: int, repeats: int = 1, data=None,
               keep: Path | None = None) -> dict:
    """Step seconds of ``repeats`` fresh trainer processes (from their train-log.jsonl): step 1 apart, steps
    2..N pooled; what ran (the card's precision, and auto's decision)."""
    if steps < 2:
        raise InputError(f"--train-steps {steps}: need at least 2 (step 1 builds kernels and is reported apart)")
    first, rest, runs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        for r in range(repeats):
            out = root / f"train-{precision}-{sub_batch}-{r}"
            start = time.perf_counter()
            proc = subprocess.run(train_command(recipe, steps, precision, sub_batch, out, data), capture_output=True,
                                  text=True, cwd=PROJECT_ROOT, env=_env())
            if proc.returncode != 0:
                raise InputError(f"training {precision}/{sub_batch} failed: "
                                 f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
            log = [json.loads(x) for x in (out / "train-log.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
            seconds = [r["seconds"] for r in log if "loss" in r]
            card = json.loads((out / "training-card.json").read_text(encoding="utf-8"))
            first.append(seconds[0])
            rest += seconds[1:]
            runs.append({"process_seconds": round(time.perf_counter() - start, 1), "steps": seconds,
                         "precision": card["precision"], "precision_choice": card.get("precision_choice")})
    return {"setting": f"{precision}/{sub_batch}", "precision": runs[0]["precision"], "first_step": summary(first),
            "step": summary(rest), "runs": runs}


# ------------------------------------------------------------------------------------------- encoding
def sample_passages(dataset: str, n: int, topics_dir: Path | None = None) -> list[str]:
    meta = tp.load_meta(dataset, topics_dir)
    per_lang = [[json.loads(line)["contents"] for line in
                 (tp.corpus_dir(dataset, x, "sentence", topics_dir) / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
                for x in meta["languages"]]
    mixed = [p for group in zip(*per_lang) for p in group]  # interleave languages: realistic length spread
    return mixed[:n]


def encode_worker(args) -> int:
    """In a fresh process: our document encoder as ``pyserini.encode --encoder-class hybrid`` builds it (the
    precision through the environment, as ``--precision`` passes it), or Pyserini's AutoDocumentEncoder;
    ``--repeats`` + 1 timed passes over the passages in calls of ``--chunk``; JSON on stdout."""
    import torch

    torch.set_num_threads(args.threads)
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    model_dir = Path(args.model)
    if args.encoder == "pyserini":
        from pyserini.encode import AutoDocumentEncoder

        from ..models.config import EncoderConfig

        cfg = EncoderConfig.load(model_dir)
        stock = AutoDocumentEncoder(str(model_dir), device="cpu", pooling="mean", l2_norm=True,
                                    prefix=cfg.passage_prefix.rstrip())  # Pyserini adds the space itself
        encode, choice = (lambda c: stock.encode(c, max_length=cfg.max_passage_length)), None
    else:
        from ..pyserini_glue.registry import encoder_classes

        ours = encoder_classes()[0](str(model_dir), device="cpu")
        encode, choice = (lambda c: ours.encode(c)), ours.encoder.choice.record()
    passes, out = [], None
    # the untimed first pass (oneDNN builds its kernels) over a few texts only: a whole pass took minutes on a
    # slow CPU (AVX2 only) and measured nothing but that
    for batch in [texts[:WARM_UP]] + [texts] * args.repeats:
        start, parts = time.perf_counter(), []
        for i in range(0, len(batch), args.chunk):
            parts.append(np.asarray(encode(batch[i:i + args.chunk]), dtype=np.float32))
        passes.append(time.perf_counter() - start)
        out = np.concatenate(parts)
    np.save(args.embeddings, out)
    print(json.dumps({"seconds": passes, "precision_choice": choice}))
    return 0


def encode_line(name: str, texts_file: Path, model_dir: Path, precision: str | None, chunk: int, repeats: int,
                threads: int, work: Path) -> dict:
    emb = work / f"{name.replace(' ', '-')}.npy"
    cmd = [sys.executable, "-m", "pyserini_hybrid.speed", "--encode-worker", "--encoder",
           "pyserini" if precision is None else "ours", "--texts", str(texts_file), "--model", str(model_dir),
           "--chunk", str(chunk), "--repeats", str(repeats), "--threads", str(threads), "--embeddings", str(emb)]
    # as --precision reaches our encoder inside pyserini.encode; auto: the model directory's setting
    env = _env(PYSERINI_HYBRID_PRECISION=precision if precision not in (None, "auto") else None)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    if proc.returncode != 0:
        raise InputError(f"encoding ({name}) failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    n = len(json.loads(texts_file.read_text(encoding="utf-8")))
    rates = [n / s for s in result["seconds"][1:]]
    return {"encoder": name, "first_pass": min(n, WARM_UP) / result["seconds"][0], "passages_per_s": summary(rates),
            "precision_choice": result["precision_choice"], "embeddings": np.load(emb)}


# ------------------------------------------------------------------------------------------- report
def _range(s: dict, fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])}, n={s['n']})"


def run(args) -> dict:
    import torch

    from ..models.precision import cpu_flags, cpu_has_bf16, cpu_name, onednn_settings
    from ..retrieval.dense import ENCODE_CHUNK, resolve_model

    model_dir = resolve_model(args.model)
    flags = sorted(f for f in cpu_flags() if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx2"))
    onednn = onednn_settings()  # e.g. AMX hidden from oneDNN: figures differ, so the report names it
    print(f"{cpu_name()} | flags {' '.join(flags) or '(none)'} | bf16 instructions: {cpu_has_bf16()} | "
          + "".join(f"{k}={v} | " for k, v in onednn.items())
          + f"{os.cpu_count()} CPUs, {args.threads} threads | torch {torch.__version__} | {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    report: dict = {"cpu": cpu_name(), "flags": flags, "onednn": onednn, "threads": args.threads,
                    "torch": torch.__version__, "date": time.strftime("%Y-%m-%d", time.gmtime()),
                    "encoding": [], "training": []}
    # Without bf16 instructions oneDNN emulates bf16 (~1 GFLOP/s): timing it would take minutes and say only
    # that; auto runs fp32 there without measuring, so the bf16 lines are left out and the report says why.
    bf16 = cpu_has_bf16()
    if not bf16:
        report["bf16"] = NO_BF16
        print(f"bf16: {NO_BF16}")
    encode = [p for p in args.encode if bf16 or p != "bf16"]
    settings = [s for s in args.settings if bf16 or not s.startswith("bf16/")]
    if args.passages > 0:
        peak = {p: matmul_gflops(args.threads, p) for p in (("fp32", "bf16") if bf16 else ("fp32",))}
        report["matmul_gflops"] = peak
        print(f"matrix product 2048^2: fp32 {peak['fp32']:.1f} GFLOP/s, " + (
            f"bf16 {peak['bf16']:.1f} GFLOP/s = {peak['bf16'] / peak['fp32']:.2f}x" if bf16 else f"bf16 {NO_BF16}"))
        texts = sample_passages(args.dataset, args.passages, args.topics_dir)
        from ..models.config import EncoderConfig
        from ..models.encoder import load_tokenizer

        cfg = EncoderConfig.load(model_dir)
        lengths = [len(x) for x in load_tokenizer(str(model_dir))([cfg.passage_prefix + t for t in texts],
                                                                  truncation=True, max_length=cfg.max_passage_length)["input_ids"]]
        flops = encoder_flops(json.loads((model_dir / "config.json").read_text()), lengths)
        print(f"encoding: {len(texts)} {args.dataset} passages, mean {np.mean(lengths):.1f} tokens, calls of "
              f"{args.chunk or ENCODE_CHUNK} (ours, as dense) / {args.batch_size} (Pyserini); median of {args.repeats} "
              f"passes after a first call of {WARM_UP} texts, each encoder in a fresh process")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
            lines = []
            if args.pyserini:
                lines.append(encode_line("Pyserini AutoDocumentEncoder (fp32)", work / "texts.json", model_dir, None,
                                         args.batch_size, args.repeats, args.threads, work))
            for p in encode:
                lines.append(encode_line(f"ours, {p}", work / "texts.json", model_dir, p, args.chunk or ENCODE_CHUNK,
                                         args.repeats, args.threads, work))
        ref = next((x for x in lines if x["encoder"] == "ours, fp32"), lines[0])
        print(f"{'encoder':38s} {'passages/s (range)':>24s} {'first pass':>10s} {'vs ref':>7s} {'min cos':>8s} "
              f"{'roofline':>8s}  precision")
        for x in lines:
            choice = x["precision_choice"] or {"precision": "fp32"}
            cos = float(np.min(np.sum(x["embeddings"] * ref["embeddings"], axis=1)))
            rate = x["passages_per_s"]["median"]
            roof = flops * rate / len(texts) / 1e9 / peak[choice["precision"]]
            how = choice["precision"] + (f" (auto: {choice['how']}" + (f", measured bf16 {choice['ratio']:.2f}x fp32"
                                         if choice.get("ratio") else "") + ")" if choice.get("requested") == "auto" else "")
            print(f"{x['encoder']:38s} {_range(x['passages_per_s'], '{:.1f}'):>24s} {x['first_pass']:10.1f} "
                  f"{rate / ref['passages_per_s']['median']:6.2f}x {cos:8.5f} {roof:8.0%}  {how}")
            report["encoding"].append({**{k: v for k, v in x.items() if k != "embeddings"}, "min_cosine": cos,
                                       "roofline": roof})
    if args.train_steps > 0:
        print(f"training: {args.recipe.name}, python -m pyserini_hybrid.train ... --set train.steps={args.train_steps} "
              f"x {args.train_repeats} fresh process(es) per setting; seconds per step from train-log.jsonl")
        lines = []
        for s in settings:
            lines.append(train_line(args.recipe, s.split("/")[0], int(s.split("/")[1]), args.train_steps,
                                    args.train_repeats, args.data_dir, args.keep))
            print(f"  done {s}: steps {[r['steps'] for r in lines[-1]['runs']]}", flush=True)
        ref = next((x for x in lines if x["setting"] == "fp32/0"), lines[0])
        print(f"{'precision/sub_batch':20s} {'step 2..N: median (range, n)':>30s} {'step 1':>8s} "
              f"{'vs ' + ref['setting']:>9s}  ran")
        for x in lines:
            choice = x["runs"][0]["precision_choice"] or {}
            how = x["precision"] + (f" (auto: {choice.get('how')}" + (f", measured bf16 {choice['ratio']:.2f}x fp32"
                                    if choice.get("ratio") else "") + ")" if choice.get("requested") == "auto" else "")
            print(f"{x['setting']:20s} {_range(x['step']) + ' s':>30s} {x['first_step']['median']:7.1f}s "
                  f"{ref['step']['median'] / x['step']['median']:8.2f}x  {how}")
            report["training"].append(x)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.speed", description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model directory for encoding (default: the embedded multilingual-e5-small)")
    parser.add_argument("--dataset", default="xquad-r")
    parser.add_argument("--topics-dir", type=Path, help="converted topic sets (default: the project's topics/)")
    parser.add_argument("--passages", type=int, default=1000, help="passages to encode (0: no encoding lines)")
    parser.add_argument("--encode", nargs="*", default=["fp32", "bf16", "auto"], choices=["fp32", "bf16", "auto"],
                        help="our encoder's precisions to time (default: fp32 bf16 auto)")
    parser.add_argument("--no-pyserini", dest="pyserini", action="store_false",
                        help="leave out Pyserini's AutoDocumentEncoder line")
    parser.add_argument("--batch-size", type=int, default=64, help="Pyserini's chunk size, as --batch-size of pyserini.encode")
    parser.add_argument("--chunk", type=int, help="texts per encode call for ours (default: what dense runs use)")
    parser.add_argument("--threads", type=int, default=2, help="threads for encoding (training: the recipe's)")
    parser.add_argument("--repeats", type=int, default=2, help="timed encoding passes after the first")
    parser.add_argument("--train-steps", type=int, default=4, help="steps per training process (0: no training lines)")
    parser.add_argument("--train-repeats", type=int, default=2, help="fresh training processes per setting")
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), metavar="PRECISION/SUB_BATCH",
                        help=f"training settings (default: {' '.join(SETTINGS)})")
    parser.add_argument("--recipe", type=Path, default=PROJECT_ROOT / "encoders" / "me5-small-hybrid-cpu.toml")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the training runs' output directories here")
    # the encoding worker (a fresh process per encoder)
    parser.add_argument("--encode-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--encoder", choices=["ours", "pyserini"], help=argparse.SUPPRESS)
    parser.add_argument("--texts", help=argparse.SUPPRESS)
    parser.add_argument("--embeddings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.encode_worker:
        return encode_worker(args)
    for flag in ("batch_size", "threads", "repeats", "train_repeats"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be positive")
    for s in args.settings:
        p, _, sub = s.partition("/")
        if p not in ("fp32", "bf16", "auto") or not sub.isdigit():
            raise InputError(f"--settings {s}: expected PRECISION/SUB_BATCH, e.g. bf16/8 (precision fp32, bf16 or auto)")
    if args.train_steps and not args.recipe.is_file():
        raise InputError(f"--recipe {args.recipe}: file not found")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
