"""Numeric precision of encoding and training: ``fp32``, ``bf16``, or ``auto`` (bf16 where the hardware
multiplies bf16 natively, fp32 elsewhere).

CPUs with ``avx512_bf16`` (AMD EPYC) or AMX (the Intel Xeons this project turned out to run on) multiply
bf16 natively: oneDNN runs ``torch.bfloat16`` matrix products 3-5x the fp32 rate there (``python -m
pyserini_hybrid.speed`` measures both). Without those instructions bf16 is emulated and slower than fp32,
hence ``auto``. Embeddings written to disk stay
float32 whatever the precision (pooling and normalisation run in fp32).
"""

from __future__ import annotations

import functools
import os

from ..core.errors import InputError

PRECISIONS = ("auto", "bf16", "fp32")
ENV = "PYSERINI_HYBRID_PRECISION"  # read by encoder classes that Pyserini builds (no flag reaches them)
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def device_has_bf16(device: str = "cpu") -> bool:
    if str(device).startswith("cuda"):
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return cpu_has_bf16()


def check(precision: str, where: str = "--precision") -> str:
    if precision not in PRECISIONS:
        raise InputError(f"{where} {precision!r}: choose {', '.join(PRECISIONS)}")
    return precision


def requested(*settings: str | None) -> str:
    """The first setting given (a flag, a config value), else $PYSERINI_HYBRID_PRECISION, else ``auto``."""
    return next((s for s in settings if s), None) or os.environ.get(ENV) or "auto"


def resolve(precision: str | None = None, device: str = "cpu") -> str:
    """``bf16`` or ``fp32`` for this device: ``auto`` becomes bf16 where the hardware has it."""
    precision = check(precision or "auto", "precision")
    if precision == "auto":
        return "bf16" if device_has_bf16(device) else "fp32"
    return precision


def torch_dtype(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
