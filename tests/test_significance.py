"""The paired randomisation test against scipy's exact test, and its edge cases."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pyserini_hybrid.errors import InputError
from pyserini_hybrid.significance import format_p, holm, paired_randomization, seed_mean, stars


def _exact_p(a, b):
    res = stats.permutation_test((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                 permutation_type="samples", n_resamples=np.inf, alternative="two-sided")
    return res.pvalue


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_p_matches_scipy_exact_test(seed):
    rng = np.random.default_rng(seed)
    n = 11  # 2^11 sign patterns: scipy enumerates them all
    a = rng.random(n)
    b = a - rng.normal(0.08, 0.15, n)
    ours = paired_randomization(pd.Series(a), pd.Series(b), samples=40000, seed=seed)
    exact = _exact_p(a, b)
    assert ours["p"] == pytest.approx(exact, abs=0.012)
    assert ours["diff"] == pytest.approx(float(np.mean(a - b)))
    assert ours["n"] == n


def test_identical_systems_are_not_different_and_clear_gains_are():
    rng = np.random.default_rng(5)
    a = pd.Series(rng.random(500), index=[f"q{i}" for i in range(500)])
    assert paired_randomization(a, a.copy(), samples=999)["p"] == 1.0
    better = (a + 0.05).clip(upper=1.0)
    result = paired_randomization(better, a, samples=999, seed=3)
    assert result["p"] == pytest.approx(1 / 1000)
    assert result["diff"] > 0


def test_pairs_by_query_id_not_position():
    a = pd.Series([1.0, 0.0, 0.5], index=["x", "y", "z"])
    b = pd.Series([0.5, 1.0, 0.0, 0.7], index=["z", "x", "y", "only-b"])
    r = paired_randomization(a, b, samples=99)
    assert r["n"] == 3
    assert r["diff"] == pytest.approx(((1 - 1) + (0 - 0) + (0.5 - 0.5)) / 3)
    assert r["p"] == 1.0
    with pytest.raises(InputError, match="share no queries"):
        paired_randomization(pd.Series([1.0], index=["a"]), pd.Series([1.0], index=["b"]))


def test_large_pairing_runs_in_chunks_and_is_seeded():
    rng = np.random.default_rng(0)
    n = 40000
    a = pd.Series(rng.random(n))
    b = a + rng.normal(0.0, 0.3, n)
    r1 = paired_randomization(a, b, samples=3000, seed=7)
    r2 = paired_randomization(a, b, samples=3000, seed=7)
    assert r1 == r2
    # the null is true here: p is spread over (0, 1], not pinned at either end
    ps = [paired_randomization(a, a + rng.normal(0.0, 0.3, n), samples=300, seed=s)["p"] for s in range(12)]
    assert 0.05 < np.median(ps) < 0.95


def test_seed_mean_and_formatting():
    s1 = pd.Series([0.2, 0.4, 0.9], index=["a", "b", "c"])
    s2 = pd.Series([0.4, 0.0], index=["b", "a"])
    m = seed_mean([s1, s2])
    assert m.to_dict() == pytest.approx({"a": 0.1, "b": 0.4})
    adjusted = holm({"x": 0.01, "y": 0.04, "z": 0.03, "w": None})
    assert adjusted["x"] == pytest.approx(0.03) and adjusted["z"] == pytest.approx(0.06)
    assert adjusted["y"] == pytest.approx(0.06) and adjusted["w"] is None
    assert format_p(0.0004) == "<0.001" and format_p(0.0312) == "0.031" and format_p(None) == "–"
    assert stars(0.0004) == "***" and stars(0.004) == "**" and stars(0.04) == "*" and stars(0.2) == ""
