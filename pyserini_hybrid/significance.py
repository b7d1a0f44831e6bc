"""Paired significance over queries: is hybrid's difference from a baseline more than noise?

The paper's own review asked whether gains like .792 vs .798 are noise; the study answers with a paired
randomisation (sign-flip) test over per-query values, two-sided, p = (hits + 1) / (samples + 1).

``scipy.stats.permutation_test(permutation_type="samples")`` computes the same test, but it draws a
float per sign and takes minutes on the 10^5-query pairings of XQuAD-R's cross-lingual settings; here
the signs come eight to a random byte and each flipped sum is n/8 table lookups. ``tests/test_significance.py`` checks the p-values against scipy's exact test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError


def seed_mean(per_seed: list[pd.Series]) -> pd.Series:
    """Per-query mean over training seeds (queries present in every seed)."""
    if not per_seed:
        raise InputError("seed_mean: no per-query series")
    frame = pd.concat(per_seed, axis=1, join="inner")
    return frame.mean(axis=1)


def paired_randomization(a: pd.Series, b: pd.Series, samples: int = 10000, seed: int = 0) -> dict:
    """Two-sided paired randomisation test of mean(a - b) = 0 over the queries both series have."""
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    if joined.empty:
        raise InputError("paired_randomization: the two systems share no queries")
    d = (joined["a"] - joined["b"]).to_numpy(dtype=np.float64)
    n = len(d)
    observed = float(d.mean())
    # a tolerance so that flips reproducing |observed| up to float rounding count as "as extreme"
    threshold = abs(observed) * n - 1e-9 * max(1.0, float(np.abs(d).sum()))
    # Signs come 8 to a random byte: with T[j, v] = the sum of d over the set bits of byte value v in
    # column j, a flipped sum is 2 * sum_j T[j, byte_j] - sum(d): n/8 lookups per sample, no sign matrix.
    nb = (n + 7) // 8
    table = np.pad(d, (0, nb * 8 - n)).reshape(nb, 8) @ \
        np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).T.astype(np.float64)
    total, cols = float(d.sum()), np.arange(nb)[None, :]
    chunk = max(1, min(samples, 2 ** 23 // nb))
    rng = np.random.default_rng(seed)
    hits = done = 0
    while done < samples:
        m = min(chunk, samples - done)
        sums = 2.0 * table[cols, rng.integers(0, 256, size=(m, nb), dtype=np.uint8)].sum(axis=1) - total
        hits += int(np.count_nonzero(np.abs(sums) >= threshold))
        done += m
    return {"p": (hits + 1) / (samples + 1), "diff": observed, "n": n, "samples": samples,
            "mean_a": float(joined["a"].mean()), "mean_b": float(joined["b"].mean())}


def holm(pvalues: dict) -> dict:
    """Holm–Bonferroni adjusted p-values for a family of tests (keys kept)."""
    items = sorted(((p, k) for k, p in pvalues.items() if p is not None), key=lambda x: x[0])
    m = len(items)
    out, running = {}, 0.0
    for i, (p, k) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return {k: out.get(k) for k in pvalues}


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def stars(p: float | None) -> str:
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
