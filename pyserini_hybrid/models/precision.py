"""Numeric precision of encoding and training: ``fp32``, ``bf16``, or ``auto`` (whichever this machine runs
faster, by measurement, where bf16 keeps the embeddings).

A CPU flag does not say bf16 is fast: oneDNN runs ``torch.bfloat16`` matrix products several times the fp32
rate on one CPU with ``avx512_bf16`` and slower than fp32 on another that lists the same flag (docs/speed.md).
So ``auto`` decides per *job* (``encode``: the model's forward under ``inference_mode`` with bf16
weights, as ``TextEncoder`` runs; ``train``: forward + backward under bf16 autocast with fp32 weights, as
the trainer runs) by timing that job in both precisions on a few realistic batches of the model at hand
(``probe.PrecisionProbe``, on the device the job runs on), alternating them, and picking bf16 only where its fastest pass is at least
``MARGIN`` faster than fp32's (the fastest pass is the one a background load disturbed least) and its
embeddings of the check set (``check_set``) stay within ``FIDELITY`` (min cosine) of fp32.
A GPU is no different: bf16 autocast has made the default recipe's training step slower than fp32 there
(docs/speed.md), so a GPU that supports bf16 is measured too, with the device synchronised
around each timed pass.
The decision is cached per (CPU model and flags and threads and oneDNN's ISA settings, or GPU name and CUDA
version; torch version; model shape; job) under the model cache (``$PYSERINI_HYBRID_CACHE/precision/``, default
``~/.cache/pyserini_hybrid/precision/``), so it is measured once, in a few seconds; where the CPU has no bf16
instruction at all, or the GPU does not support bf16, ``auto`` is fp32 at once.
A setting (``--precision``, ``train.precision``, ``$PYSERINI_HYBRID_PRECISION`` for encoding, the model
directory's ``precision``) other than ``auto`` is used as given; which one counts for encoding is ``resolve``'s
one precedence (flag, else the variable, else the model directory's, else ``auto``). Embeddings written to disk stay float32
whatever the precision (pooling and normalisation run in fp32).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..core.errors import InputError
from ..core.files import cache_root, write_json

PRECISIONS = ("auto", "bf16", "fp32")
ENV = "PYSERINI_HYBRID_PRECISION"  # read by encoder classes that Pyserini builds (no flag reaches them)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
JOBS = ("encode", "train")
FIDELITY = 0.9999  # bf16 only where every check-set embedding keeps cosine >= this against fp32 (issue 16)
MARGIN = 1.05      # bf16 only where it is at least 5 % faster: fp32 is exact, a tie goes to it
REPEATS = 2        # timed passes per precision, after one untimed pass each (oneDNN builds its kernels)
PROTOCOL = 1       # bump when the measurement changes: older cached decisions are then measured again
# oneDNN settings that change which kernels run bf16 (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` hides AMX from it,
# which can make bf16 slower than fp32: docs/speed.md), so a decision measured under one setting must not be read
# under another
ONEDNN_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_CPU_ISA_HINTS", "DNNL_CPU_ISA_HINTS",
              "ONEDNN_DEFAULT_FPMATH_MODE", "DNNL_DEFAULT_FPMATH_MODE")


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where it does not exist)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                out[name.strip()] = value.strip()
    except OSError:
        pass
    return out


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_name() -> str:
    """``<model name> (family F model M)`` from /proc/cpuinfo; the platform's name where there is none."""
    info = _cpuinfo()
    if not info:
        import platform

        return platform.processor() or platform.machine() or "unknown CPU"
    return f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')} model {info.get('model', '?')})"


# oneDNN ISA caps below AVX512_CORE_BF16: oneDNN then emulates bf16 (far slower than fp32: docs/speed.md) even
# on a CPU that has the instructions, as on a CPU without them (``ONEDNN_MAX_CPU_ISA=AVX2`` plays an AVX2-only CPU)
NO_BF16_ISA_CAPS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def cpu_has_bf16() -> bool:
    """Whether bf16 matrix products run on bf16 instructions here: the CPU lists them and no oneDNN ISA cap
    hides them."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    return cap not in NO_BF16_ISA_CAPS and any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def check(precision: str, where: str = "--precision") -> str:
    if precision not in PRECISIONS:
        raise InputError(f"{where} {precision!r}: choose {', '.join(PRECISIONS)}")
    return precision


def resolve(flag: str | None, model_setting: str | None = None) -> str:
    """The precision asked for, by the one precedence: the flag (``--precision``), else $PYSERINI_HYBRID_PRECISION,
    else the model directory's setting, else ``auto`` (which ``choose`` then decides)."""
    return flag or os.environ.get(ENV) or model_setting or "auto"


def torch_dtype(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]


class Probe(Protocol):
    """What ``auto`` measures: one pass of a job's batches, and the check set's fidelity (encoder.PrecisionProbe)."""

    def seconds(self, job: str, precision: str) -> float: ...

    def min_cosine(self, job: str) -> float: ...


@dataclass(frozen=True)
class Choice:
    """The precision a job runs in and why; ``record()`` goes into run-meta.json and the training card."""

    precision: str                       # bf16 | fp32
    requested: str                       # what was asked for: auto, bf16, fp32
    how: str                             # "as requested" | "no bf16 instructions" | "no bf16 on this GPU" | "measured"
    job: str | None = None
    ratio: float | None = None           # fp32 / bf16 seconds of the fastest pass on the same batches (> 1: bf16 faster)
    seconds: dict = field(default_factory=dict)  # per precision: min, median, max seconds of one pass
    min_cosine: float | None = None      # check set, bf16 against fp32
    measured: str | None = None          # when (UTC)
    machine: dict = field(default_factory=dict)  # CPU and threads, or GPU; torch: what the decision is valid for
    cache: str | None = None             # the cache file's name

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}

    def describe(self) -> str:
        if self.how != "measured":
            return f"{self.precision} ({self.how})"
        why = (f"bf16 {self.ratio:.2f}x the fp32 speed" if self.ratio else "bf16 not timed") + \
              (f", min cosine {self.min_cosine:.5f}" if self.min_cosine is not None else "")
        where = self.machine.get("gpu") or self.machine.get("cpu")
        return f"{self.precision} ({why}, measured {self.measured} on {where})"


def is_gpu(device) -> bool:
    return str(device).startswith("cuda")


def gpu_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device))


def gpu_has_bf16(device) -> bool:
    import torch

    if not torch.cuda.is_available():
        return False
    with torch.cuda.device(torch.device(device)):
        return bool(torch.cuda.is_bf16_supported())


def onednn_settings() -> dict[str, str]:
    """The oneDNN ISA and math-mode variables set in this environment (``ONEDNN_ENV``)."""
    return {k: os.environ[k] for k in ONEDNN_ENV if os.environ.get(k)}


def machine_key(threads: int, device: str = "cpu") -> dict:
    """What a decision is valid for: the CPU (model, flags, threads, oneDNN's ISA settings where set) or the GPU
    (name, CUDA), and torch."""
    import torch

    if is_gpu(device):
        return {"gpu": gpu_name(device), "cuda": torch.version.cuda, "torch": torch.__version__}
    key = {"cpu": cpu_name(), "flags": hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12],
           "threads": threads, "torch": torch.__version__}
    onednn = onednn_settings()
    return {**key, "onednn": onednn} if onednn else key  # unset: the key (and older caches) as before


def cache_file(job: str, shape: dict, threads: int, device: str = "cpu") -> Path:
    key = {"protocol": PROTOCOL, "job": job, "shape": shape, **machine_key(threads, device)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "precision" / f"{job}-{digest}.json"


def _cached(path: Path) -> Choice | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        choice = Choice(**raw)
    except (OSError, ValueError, TypeError):
        return None  # missing or unreadable (an older layout, a cut-off write): measure again
    return choice if choice.precision in ("bf16", "fp32") else None


def measure(job: str, probe: Probe, repeats: int = REPEATS) -> tuple[dict, float]:
    """Seconds per pass {precision: [..]} (one untimed pass each first, then alternating, so a background
    load hits both alike) and the check set's min cosine."""
    for p in ("fp32", "bf16"):
        probe.seconds(job, p)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for p in ("fp32", "bf16"):
            times[p].append(probe.seconds(job, p))
    return times, probe.min_cosine(job)


def decide(job: str, times: dict, cosine: float, machine: dict) -> Choice:
    best = {p: min(t) for p, t in times.items()}
    ratio = best["fp32"] / best["bf16"] if best["bf16"] > 0 else 0.0
    fast, faithful = ratio >= MARGIN, cosine >= FIDELITY
    return Choice("bf16" if fast and faithful else "fp32", "auto", "measured", job, round(ratio, 3),
                  {p: {"min": round(min(t), 4), "median": round(statistics.median(t), 4), "max": round(max(t), 4)}
                   for p, t in times.items()},
                  round(cosine, 6), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine)


def choose(precision: str | None, job: str, shape: dict | None = None, probe: Callable[[], Probe] | None = None,
           device: str = "cpu", quiet: bool = False) -> Choice:
    """The precision ``job`` runs in. ``shape``: what the model's speed depends on (part of the cache key);
    ``probe``: builds what is timed, called only when a decision has to be measured."""
    precision = check(precision or "auto", "precision")
    if job not in JOBS:
        raise ValueError(f"job {job!r}: one of {JOBS}")
    if precision != "auto":
        return Choice(precision, precision, "as requested", job)
    if is_gpu(device):
        if not gpu_has_bf16(device):
            return Choice("fp32", "auto", "no bf16 on this GPU", job)
        where = f"this GPU ({gpu_name(device)})"
    elif not cpu_has_bf16():
        return Choice("fp32", "auto", "no bf16 instructions", job)
    else:
        where = "this CPU"
    import torch

    threads = torch.get_num_threads()
    path = cache_file(job, shape or {}, threads, device)
    choice = _cached(path)
    if choice is not None:
        return choice
    if probe is None:
        raise ValueError("precision auto needs the model to measure (no probe given)")
    if not quiet:
        print(f"pyserini_hybrid: precision auto: timing {job} in fp32 and bf16 on {where} (once; cached in "
              f"{path.parent})", file=sys.stderr, flush=True)
    times, cosine = measure(job, probe())
    choice = Choice(**{**asdict(decide(job, times, cosine, machine_key(threads, device))), "cache": path.name})
    try:
        write_json(path, asdict(choice))
    except OSError as e:  # a read-only cache measures again next time; the run itself goes on
        print(f"pyserini_hybrid: precision decision not cached ({path}: {e.strerror or e})", file=sys.stderr)
    if not quiet:
        print(f"pyserini_hybrid: precision auto for {job}: {choice.describe()}", file=sys.stderr, flush=True)
    return choice
