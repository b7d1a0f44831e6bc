"""Power from a finished test: what a study with more seeds would find. The between-seed variances that
``significance.compare_systems`` estimated shrink with seeds, the question-sampling part does not; the t
reference keeps the Welch-Satterthwaite df of the test."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .significance import satterthwaite


def variance_with_seeds(test: dict, seeds: int) -> tuple[float, float]:
    """Var(diff) and its Welch-Satterthwaite df if each system had ``seeds`` seeds, from the components
    ``compare_systems`` estimated: the between-seed variances (pooled where the test pooled them) shrink with
    seeds, the question-sampling part (``cluster_var``) does not. Used for what more seeds would buy."""
    pooled = test.get("pooled_seed_var")
    if pooled:
        # the pooled estimate has (seeds - 1) df from each of the systems it pools
        seed_terms = [(2 * pooled["var"] / seeds, pooled.get("systems", 1) * (seeds - 1))]
    else:
        seed_terms = [(test[f"seed_var_{s}"] / seeds, seeds - 1) for s in "ab" if test.get(f"seed_var_{s}") is not None]
    terms = seed_terms + ([(test["cluster_var"], test["n_clusters"] - 1)] if test.get("cluster_var", 0) > 0 else [])
    return sum(t for t, _ in terms), satterthwaite(terms)


def power(effect: float, se: float, df: float, alpha: float = 0.05, margin: float | None = None) -> float:
    """Probability that the test decides, under a true difference ``effect``: with ``margin`` None, that the
    two-sided 1 - alpha interval excludes 0 (a difference is found); with a margin, that its lower end lies
    above -margin (non-inferiority shown). t reference with ``df``; noncentrality effect / se."""
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    if se <= 0:
        return 1.0
    if margin is not None:
        return float(stats.t.sf(crit - (effect + margin) / se, df))
    shift = abs(effect) / se
    return float(stats.t.sf(crit - shift, df) + stats.t.cdf(-crit - shift, df))


def minimum_detectable(se: float, df: float, alpha: float = 0.05, target: float = 0.8) -> float:
    """The smallest true difference found with probability ``target`` by the two-sided test at ``alpha``:
    (t_{1-alpha/2} + t_{target}) x se (the far tail ignored, < 1e-3 at 80 %)."""
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(target, df)) * se)


def seeds_needed(test: dict, effect: float, alpha: float = 0.05, target: float = 0.8, margin: float | None = None,
                 most: int = 1000) -> int | None:
    """Seeds per system for ``power`` >= ``target`` given the variance components observed in ``test``
    (None: not within ``most``, e.g. question sampling alone is too noisy for that effect)."""
    for seeds in range(2, most + 1):
        var, df = variance_with_seeds(test, seeds)
        if power(effect, float(np.sqrt(var)), df, alpha, margin) >= target:
            return seeds
    return None
