"""Encoding and training speed on this machine, timed the way users run them, each in a fresh process.
The CLI (its flags, its help) is ``python -m pyserini_hybrid.speed`` (``pyserini_hybrid/speed.py``);
the figures and what they mean are in docs/speed.md.

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

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.files import PROJECT_ROOT
from ..data import topic_sets as tp
from ..data.convert import load_meta
from ..models.config import EncoderConfig
from ..models.precision import cpu_flags, cpu_has_bf16, cpu_name, onednn_settings, torch_dtype
from ..pyserini_glue.registry import encoder_classes
from ..retrieval.dense import ENCODE_CHUNK, resolve_model

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
    """The roofline's peak: a matrix product of this precision, measured in this run."""
    import torch  # heavy: only when measuring

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
    meta = load_meta(dataset, topics_dir)
    per_lang = [[json.loads(line)["contents"] for line in
                 (tp.corpus_dir(dataset, x, "sentence", topics_dir) / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
                for x in meta["languages"]]
    mixed = [p for group in zip(*per_lang) for p in group]  # interleave languages: realistic length spread
    return mixed[:n]


def encode_worker(args) -> int:
    """In a fresh process: our document encoder as ``pyserini.encode --encoder-class hybrid`` builds it (the
    precision through the environment, as ``--precision`` passes it), or Pyserini's AutoDocumentEncoder;
    ``--repeats`` + 1 timed passes over the passages in calls of ``--chunk``; JSON on stdout."""
    import torch  # heavy: only in the worker process

    torch.set_num_threads(args.threads)
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    model_dir = Path(args.model)
    if args.encoder == "pyserini":
        from pyserini.encode import AutoDocumentEncoder  # heavy (torch, transformers): only in the worker

        cfg = EncoderConfig.load(model_dir)
        stock = AutoDocumentEncoder(str(model_dir), device="cpu", pooling="mean", l2_norm=True,
                                    prefix=cfg.passage_prefix.rstrip())  # Pyserini adds the space itself
        encode, choice = (lambda c: stock.encode(c, max_length=cfg.max_passage_length)), None
    else:
        ours = encoder_classes()[0](str(model_dir), device="cpu")
        encode, choice = (lambda c: ours.encode(c)), ours.encoder.choice.record()
    passes, out = [], None
    # the untimed first call (oneDNN builds its kernels) over a few texts only: on a slow CPU a whole pass
    # would take minutes and measure nothing but that (docs/speed.md)
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


def _how(precision: str, choice: dict) -> str:
    """What ran: the precision and, for auto, how it chose (with the ratio it measured)."""
    return precision + (f" (auto: {choice.get('how')}" + (f", measured bf16 {choice['ratio']:.2f}x fp32"
                        if choice.get("ratio") else "") + ")" if choice.get("requested") == "auto" else "")


def check_options(args) -> None:
    """The flags checked before any work starts; one line naming the flag."""
    for flag in ("batch_size", "threads", "repeats", "train_repeats"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be positive")
    for s in args.settings:
        p, _, sub = s.partition("/")
        if p not in ("fp32", "bf16", "auto") or not sub.isdigit():
            raise InputError(f"--settings {s}: expected PRECISION/SUB_BATCH, e.g. bf16/8 (precision fp32, bf16 or auto)")
    if args.train_steps and not args.recipe.is_file():
        raise InputError(f"--recipe {args.recipe}: file not found")


def machine_report(threads: int) -> dict:
    """The machine line, printed first, and the report's head: a figure means nothing without them."""
    import torch  # heavy: only when measuring

    flags = sorted(f for f in cpu_flags() if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx2"))
    onednn = onednn_settings()  # e.g. AMX hidden from oneDNN: figures differ, so the report names it
    print(f"{cpu_name()} | flags {' '.join(flags) or '(none)'} | bf16 instructions: {cpu_has_bf16()} | "
          + "".join(f"{k}={v} | " for k, v in onednn.items())
          + f"{os.cpu_count()} CPUs, {threads} threads | torch {torch.__version__} | {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return {"cpu": cpu_name(), "flags": flags, "onednn": onednn, "threads": threads,
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "encoding": [], "training": []}


def token_lengths(model_dir: Path, texts: list[str]) -> list[int]:
    """Token lengths of the passages as the encoder sees them (prefix, truncation): the roofline's FLOPs."""
    from ..models.encoder import load_tokenizer  # loads torch: only when measuring

    cfg = EncoderConfig.load(model_dir)
    return [len(x) for x in load_tokenizer(str(model_dir))([cfg.passage_prefix + t for t in texts], truncation=True,
                                                          max_length=cfg.max_passage_length)["input_ids"]]


def time_encoders(args, model_dir: Path, texts: list[str], precisions: list[str]) -> list[dict]:
    """One line per encoder (Pyserini's, then ours per precision), each timed in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        lines = []
        if args.pyserini:
            lines.append(encode_line("Pyserini AutoDocumentEncoder (fp32)", work / "texts.json", model_dir, None,
                                     args.batch_size, args.repeats, args.threads, work))
        for p in precisions:
            lines.append(encode_line(f"ours, {p}", work / "texts.json", model_dir, p, args.chunk or ENCODE_CHUNK,
                                     args.repeats, args.threads, work))
    return lines


def encoding_table(lines: list[dict], flops: float, n: int, peak: dict) -> list[dict]:
    """Prints the encoding lines against ours in fp32 (cosine, roofline); their report rows."""
    ref = next((x for x in lines if x["encoder"] == "ours, fp32"), lines[0])
    print(f"{'encoder':38s} {'passages/s (range)':>24s} {'first pass':>10s} {'vs ref':>7s} {'min cos':>8s} "
          f"{'roofline':>8s}  precision")
    rows = []
    for x in lines:
        choice = x["precision_choice"] or {"precision": "fp32"}
        cos = float(np.min(np.sum(x["embeddings"] * ref["embeddings"], axis=1)))
        rate = x["passages_per_s"]["median"]
        roof = flops * rate / n / 1e9 / peak[choice["precision"]]
        print(f"{x['encoder']:38s} {_range(x['passages_per_s'], '{:.1f}'):>24s} {x['first_pass']:10.1f} "
              f"{rate / ref['passages_per_s']['median']:6.2f}x {cos:8.5f} {roof:8.0%}  {_how(choice['precision'], choice)}")
        rows.append({**{k: v for k, v in x.items() if k != "embeddings"}, "min_cosine": cos, "roofline": roof})
    return rows


def encoding_section(args, model_dir: Path, precisions: list[str], bf16: bool) -> tuple[dict, list[dict]]:
    """The matrix-product peaks and the encoding rows."""
    peak = {p: matmul_gflops(args.threads, p) for p in (("fp32", "bf16") if bf16 else ("fp32",))}
    print(f"matrix product 2048^2: fp32 {peak['fp32']:.1f} GFLOP/s, " + (
        f"bf16 {peak['bf16']:.1f} GFLOP/s = {peak['bf16'] / peak['fp32']:.2f}x" if bf16 else f"bf16 {NO_BF16}"))
    texts = sample_passages(args.dataset, args.passages, args.topics_dir)
    lengths = token_lengths(model_dir, texts)
    flops = encoder_flops(json.loads((model_dir / "config.json").read_text()), lengths)
    print(f"encoding: {len(texts)} {args.dataset} passages, mean {np.mean(lengths):.1f} tokens, calls of "
          f"{args.chunk or ENCODE_CHUNK} (ours, as dense) / {args.batch_size} (Pyserini); median of {args.repeats} "
          f"passes after a first call of {WARM_UP} texts, each encoder in a fresh process")
    lines = time_encoders(args, model_dir, texts, precisions)
    return peak, encoding_table(lines, flops, len(texts), peak)


def training_section(args, settings: list[str]) -> list[dict]:
    """Prints and returns one line per training setting, against fp32 with one padded batch."""
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
        print(f"{x['setting']:20s} {_range(x['step']) + ' s':>30s} {x['first_step']['median']:7.1f}s "
              f"{ref['step']['median'] / x['step']['median']:8.2f}x  "
              f"{_how(x['precision'], x['runs'][0]['precision_choice'] or {})}")
    return lines


def run(args) -> dict:
    """The whole measurement of the parsed flags (``args``: the CLI's names): printed, returned, and written
    to ``--json`` where given."""
    model_dir = resolve_model(args.model)
    report = machine_report(args.threads)
    # Without bf16 instructions oneDNN emulates bf16, far slower than fp32 (docs/speed.md): timing it would
    # say only that; auto runs fp32 there without measuring, so the bf16 lines are left out and the report says why.
    bf16 = cpu_has_bf16()
    if not bf16:
        report["bf16"] = NO_BF16
        print(f"bf16: {NO_BF16}")
    if args.passages > 0:
        precisions = [p for p in args.encode if bf16 or p != "bf16"]
        report["matmul_gflops"], report["encoding"] = encoding_section(args, model_dir, precisions, bf16)
    if args.train_steps > 0:
        report["training"] = training_section(args, [s for s in args.settings if bf16 or not s.startswith("bf16/")])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report

