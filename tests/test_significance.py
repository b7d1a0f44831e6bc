"""Tests for significance.py: known values, calibration, power, edge cases.

Simulated study (null or planted difference delta), values not clipped:
  value[sys, seed, unit] = 0.5 + delta*[sys == A] + setting + cluster          (shared)
                           + sys x cluster (real per-question differences)
                           + seed + seed x cluster + seed x unit                (training runs)
"""

import numpy as np
import pytest
from scipy import stats

from pyserini_hybrid.evaluate.significance import (
    Bootstrap,
    compare_systems,
    format_interval,
    format_p,
    holm,
    macro_average,
    stars,
)

N_NULL = 1000  # studies for the calibration of compare_systems (SE of a 5 % rate: 0.7 %)
N_NAIVE = 300  # of those, also run through the naive tests
N_POWER = 300
K, S = 200, 3  # clusters (source questions) x settings
SD = dict(cluster=0.2, setting=0.1, sys_cluster=0.1, seed=0.01, seed_cluster=0.05, seed_unit=0.1)
# sd of one seed's macro average around its system mean (what "seed sd" means below)
SEED_MACRO_SD = np.sqrt(SD["seed"] ** 2 + SD["seed_cluster"] ** 2 / K + SD["seed_unit"] ** 2 / (K * S))
# sd of the macro difference that comes from sampling questions: sqrt(2) * 0.1 / sqrt(200) = 0.01,
# comparable to the seed sd (0.011), so both levels matter


def simulate(rng, delta=0.0, na=3, nb=3, uneven=False, seed_sd=SD["seed"], sys_cluster_sd=SD["sys_cluster"]):
    settings = np.tile(np.arange(S + uneven), K)
    clusters = np.repeat(np.arange(K), S + uneven)
    if uneven:  # MLQA-like: settings keep different shares of the questions
        keep = rng.random(settings.size) < np.array([1.0, 0.6, 0.3, 0.8])[settings]
        settings, clusters = settings[keep], clusters[keep]
    n = settings.size
    shared = rng.normal(0, SD["cluster"], K)[clusters] + rng.normal(0, SD["setting"], S + uneven)[settings]

    def system(n_seeds, shift):
        return (0.5 + shift + shared
                + rng.normal(0, sys_cluster_sd, K)[clusters]
                + rng.normal(0, seed_sd, (n_seeds, 1))
                + rng.normal(0, SD["seed_cluster"], (n_seeds, K))[:, clusters]
                + rng.normal(0, SD["seed_unit"], (n_seeds, n)))

    return system(na, delta), system(nb, 0.0), settings, clusters


def naive_paired_t(a, b):
    """Average seeds, then paired t-test over units (ignores seeds and clusters)."""
    return stats.ttest_rel(a.mean(axis=0), b.mean(axis=0)).pvalue


def naive_pooled(a, b):
    """Pool every seed x unit value of each system, Welch t-test (ignores seeds, clusters, pairing)."""
    return stats.ttest_ind(a.ravel(), b.ravel(), equal_var=False).pvalue


def naive_cluster_only(a, b, settings, clusters):
    """Cluster-robust test on seed-averaged values: right for questions, ignores seed variance."""
    return compare_systems(a.mean(axis=0), b.mean(axis=0), settings, clusters)["p"]


def plain_two_level_bootstrap(rng, a, b, settings, clusters, samples=500, alpha=0.05):
    """Plain bootstrap: seeds resampled within each system, clusters shared; percentile CI.
    Returns True when 0 lies outside the CI (reject)."""
    s_n, k_n = settings.max() + 1, clusters.max() + 1
    flat = clusters * s_n + settings

    def tables(v):  # [seeds, K*S] cluster x setting sums
        return np.stack([np.bincount(flat, weights=row, minlength=k_n * s_n) for row in v])

    ta, tb = tables(a), tables(b)
    cnt = np.bincount(flat, minlength=k_n * s_n).reshape(k_n, s_n).astype(float)
    def counts(n_items):  # [samples, n_items] multiplicities of one resample with replacement
        draws = rng.integers(0, n_items, (samples, n_items)) + n_items * np.arange(samples)[:, None]
        return np.bincount(draws.ravel(), minlength=samples * n_items).reshape(samples, n_items).astype(float)

    ca, cb = counts(a.shape[0]) / a.shape[0], counts(b.shape[0]) / b.shape[0]
    d = (ca @ ta - cb @ tb).reshape(samples, k_n, s_n)
    w = counts(k_n)
    macro = (np.einsum("bks,bk->bs", d, w) / (w @ cnt)).mean(axis=1)
    lo, hi = np.quantile(macro, [alpha / 2, 1 - alpha / 2])
    return not lo <= 0 <= hi


@pytest.fixture(scope="module")
def null_runs():
    rng = np.random.default_rng(20240501)
    out = {k: [] for k in ("p", "diff", "se", "paired", "pooled", "cluster_only")}
    for i in range(N_NULL):
        a, b, st, cl = simulate(rng)
        r = compare_systems(a, b, st, cl)
        out["p"].append(r["p"]); out["diff"].append(r["diff"]); out["se"].append(r["se"])
        if i < N_NAIVE:
            out["paired"].append(naive_paired_t(a, b))
            out["pooled"].append(naive_pooled(a, b))
            out["cluster_only"].append(naive_cluster_only(a, b, st, cl))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def power_runs():
    rng = np.random.default_rng(7)
    delta = 4 * SEED_MACRO_SD
    p, cover, paired = [], [], []
    for _ in range(N_POWER):
        a, b, st, cl = simulate(rng, delta=delta)
        r = compare_systems(a, b, st, cl)
        p.append(r["p"]); cover.append(r["ci_low"] <= delta <= r["ci_high"])
        paired.append(naive_paired_t(a, b))
    return {"p": np.array(p), "cover": np.array(cover), "paired": np.array(paired), "delta": delta}


# 1. macro average -------------------------------------------------------------------------
def test_macro_average_hand_value():
    values = np.array([1.0, 2.0, 3.0, 10.0])
    settings = ["de-en", "de-en", "de-en", "ar-en"]
    assert macro_average(values, settings) == pytest.approx(6.0)  # (2 + 10) / 2
    assert values.mean() == pytest.approx(4.0)  # pooled mean differs
    per_seed = macro_average(np.array([[1.0, 2.0, 3.0, 10.0], [0.0, 0.0, 3.0, 4.0]]), settings)
    np.testing.assert_allclose(per_seed, [6.0, 2.5])


def test_diff_is_table_difference():
    a, b, st, cl = simulate(np.random.default_rng(1), na=3, nb=2, uneven=True)
    r = compare_systems(a, b, st, cl)
    assert r["diff"] == pytest.approx(macro_average(a, st).mean() - macro_average(b, st).mean())
    assert r["ci_low"] < r["diff"] < r["ci_high"]
    assert (r["n_seeds_a"], r["n_seeds_b"], r["n_clusters"]) == (3, 2, K)


# 2. Holm --------------------------------------------------------------------------------
def test_holm_known_values():
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    adj = holm({"p1": 0.001, "p2": 0.2, "p3": 0.01, "p4": 0.03, "skip": None})
    assert adj["skip"] is None  # passes through, not counted: m = 4
    assert [adj[k] for k in ("p1", "p3", "p4", "p2")] == pytest.approx([0.004, 0.03, 0.06, 0.2])
    assert holm({"x": 0.5, "y": 0.6}) == {"x": 1.0, "y": 1.0}  # capped at 1
    assert list(holm({"b": 0.2, "a": 0.1})) == ["b", "a"]  # keeps key order
    assert holm({}) == {}


def test_holm_monotone_and_invalid():
    rng = np.random.default_rng(0)
    raw = dict(enumerate(rng.random(20) ** 3))
    adj = holm(raw)
    order = sorted(raw, key=raw.get)
    vals = [adj[k] for k in order]
    assert all(x <= y for x, y in zip(vals, vals[1:]))
    assert all(adj[k] >= raw[k] and adj[k] <= 1 for k in raw)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError):
            holm({"a": bad})


# 3. calibration under the null -------------------------------------------------------
def test_null_calibration(null_runs):
    rate = np.mean(null_runs["p"] < 0.05)
    assert 0.02 <= rate <= 0.09, rate
    # the estimated variance matches the actual spread of the difference across studies
    ratio = np.mean(null_runs["se"] ** 2) / np.var(null_runs["diff"])
    assert 0.8 <= ratio <= 1.25, ratio


def test_naive_tests_are_anticonservative(null_runs):
    # tests that ignore seeds treat one lucky training run as a real difference
    for name in ("paired", "pooled"):
        rate = np.mean(null_runs[name] < 0.05)
        assert rate > 0.15, (name, rate)  # far above 9 %
    # clusters right but seeds ignored: too liberal as well (about 13 % in a long run)
    assert np.mean(null_runs["cluster_only"] < 0.05) > np.mean(null_runs["p"][:N_NAIVE] < 0.05)


def test_seed_dominated_plain_bootstrap_is_anticonservative():
    # where training-run variance dominates (seed sd 0.03), compare_systems stays calibrated,
    # while a plain two-level bootstrap (3 seeds: 10 distinct resamples, seed variance
    # shrunk by (n-1)/n, no t correction) and a seed-blind cluster test reject too often
    rng = np.random.default_rng(31)
    ours, boot, cluster_only = [], [], []
    for _ in range(300):
        a, b, st, cl = simulate(rng, seed_sd=0.03)
        ours.append(compare_systems(a, b, st, cl)["p"] < 0.05)
        boot.append(plain_two_level_bootstrap(rng, a, b, st, cl))
        cluster_only.append(naive_cluster_only(a, b, st, cl) < 0.05)
    assert 0.02 <= np.mean(ours) <= 0.09, np.mean(ours)
    assert np.mean(boot) > 0.10, np.mean(boot)
    assert np.mean(cluster_only) > 0.25, np.mean(cluster_only)


def test_seed_noise_not_counted_twice():
    # only seed x question noise (no seed main effect, no real per-question differences):
    # the seed terms already contain it, so the cluster term must not add it again
    # (without the subtraction the variance comes out about twice too large)
    rng = np.random.default_rng(11)
    runs = [compare_systems(*simulate(rng, seed_sd=0.0, sys_cluster_sd=0.0)) for _ in range(300)]
    ratio = np.mean([r["se"] ** 2 for r in runs]) / np.var([r["diff"] for r in runs])
    assert 0.8 <= ratio <= 1.25, ratio
    assert np.mean([r["p"] < 0.05 for r in runs]) <= 0.09


def test_null_calibration_unequal_settings_and_seeds():
    rng = np.random.default_rng(99)
    p = [compare_systems(*simulate(rng, na=2, nb=3, uneven=True))["p"] for _ in range(200)]
    assert 0.015 <= np.mean(np.array(p) < 0.05) <= 0.09


# 4. power and coverage --------------------------------------------------------------------
def test_power_and_coverage(power_runs):
    power = np.mean(power_runs["p"] < 0.05)
    assert power >= 0.80, power
    cover = np.mean(power_runs["cover"])
    assert 0.88 <= cover <= 0.99, cover


# 5. single seed, shapes, options ------------------------------------------------------------
def test_single_seed_falls_back_to_cluster_component():
    rng = np.random.default_rng(3)
    a, b, st, cl = simulate(rng, na=1, nb=1)
    r = compare_systems(a[0], b[0], st, cl)  # 1-D inputs are one seed
    assert r["seed_var_estimable"] is False
    assert r["seed_var_a"] is None and r["seed_var_b"] is None
    assert r["se"] ** 2 == pytest.approx(r["cluster_var"]) and r["df"] == pytest.approx(K - 1)
    assert 0 <= r["p"] <= 1 and r["n_seeds_a"] == 1
    assert compare_systems(a, b, st, cl) == r  # same as [1, n_units]
    mixed = compare_systems(simulate(rng, na=3)[0], b, st, cl)
    assert mixed["seed_var_estimable"] is False and mixed["seed_var_b"] is None
    assert mixed["seed_var_a"] > 0


def test_single_seed_calibrated_for_question_sampling_only():
    # without seed main effects (conditional on the trained runs) the fallback is calibrated
    rng = np.random.default_rng(5)
    p = [compare_systems(*simulate(rng, na=1, nb=1, seed_sd=0.0))["p"] for _ in range(200)]
    assert 0.015 <= np.mean(np.array(p) < 0.05) <= 0.09


def test_identical_single_runs():
    a, b, st, cl = simulate(np.random.default_rng(4), na=1, nb=1)
    r = compare_systems(a, a, st, cl)
    assert r["diff"] == 0 and r["p"] == 1.0 and r["ci_low"] == r["ci_high"] == 0


def test_bad_inputs():
    a, b, st, cl = simulate(np.random.default_rng(6))
    with pytest.raises(ValueError, match="same units"):
        compare_systems(a, b[:, :-1], st, cl)
    with pytest.raises(ValueError, match="settings"):
        compare_systems(a, b, st[:-1], cl)
    with pytest.raises(ValueError, match="clusters"):
        compare_systems(a, b, st, cl[:-1])
    with pytest.raises(ValueError, match="no seeds or no units"):
        compare_systems(np.zeros((3, 0)), np.zeros((3, 0)), [], [])
    with pytest.raises(ValueError):
        compare_systems(a[None], b[None], st, cl)  # 3-D
    with pytest.raises(ValueError, match="NaN"):
        compare_systems(np.where(a > 0.9, np.nan, a), b, st, cl)
    with pytest.raises(ValueError, match="2 clusters"):
        compare_systems(a, b, st, np.zeros_like(cl))
    with pytest.raises(ValueError):
        macro_average(np.zeros(4), ["x", "y"])
    with pytest.raises(ValueError, match="cluster_method"):
        compare_systems(a, b, st, cl, cluster_method="jackknife")


def test_bootstrap_cluster_variance_agrees_with_analytic():
    a, b, st, cl = simulate(np.random.default_rng(8), uneven=True)
    r = compare_systems(a, b, st, cl)
    rb = compare_systems(a, b, st, cl, cluster_method=Bootstrap(2000, seed=1))
    assert rb["cluster_var_raw"] == pytest.approx(r["cluster_var_raw"], rel=0.12)
    assert rb["se"] == pytest.approx(r["se"], rel=0.06) and rb["diff"] == r["diff"]
    assert compare_systems(a, b, st, cl, cluster_method=Bootstrap(2000, seed=1)) == rb


def test_string_labels_match_int_labels():
    a, b, st, cl = simulate(np.random.default_rng(9))
    r = compare_systems(a, b, st, cl)
    rs = compare_systems(a, b, np.array(["de-en", "ar-en", "zh-en"])[st], [f"q{c:04x}" for c in cl])
    assert rs["p"] == pytest.approx(r["p"]) and rs["se"] == pytest.approx(r["se"])


def test_format_p_and_stars():
    assert format_p(0.0004) == "<0.001" and stars(0.0004) == "***"
    assert format_p(0.0321) == "0.032" and stars(0.0321) == "*" and stars(0.2) == "" and format_p(None) == "–"


def test_format_interval_is_signed_with_three_decimals_and_empty_without_one():
    assert format_interval([-0.01234, 0.0456]) == "[-0.012, +0.046]"
    assert format_interval((0.0, 0.1)) == "[+0.000, +0.100]"
    assert format_interval(None) == "" and format_interval([]) == ""


def simulate_paragraphs(rng, n_paragraphs=60, per_paragraph=5, settings=3, paragraph_sd=0.15, question_sd=0.05):
    """A null study where the questions of one paragraph share its candidates: the systems' difference has a
    paragraph effect (as XQuAD-R's ~5 questions per paragraph share candidate sentences) and a smaller
    question effect; one seed each, no seed variance, so only clustering decides calibration."""
    q = n_paragraphs * per_paragraph
    para = np.repeat(np.arange(n_paragraphs), per_paragraph)
    s_idx = np.tile(np.arange(settings), q)
    q_idx = np.repeat(np.arange(q), settings)
    d = rng.normal(0, paragraph_sd, n_paragraphs)[para][q_idx] + rng.normal(0, question_sd, q)[q_idx]
    base = rng.normal(0.5, 0.1, q)[q_idx]
    return (base + d)[None, :], base[None, :], s_idx, q_idx, para[q_idx]


def test_paragraph_clusters_keep_the_test_calibrated():
    """Clustering by question when questions of one paragraph are correlated rejects a true null far too
    often; clustering by paragraph keeps the 5 % rate (the review's simulation: 16.5 % vs 5.0 %)."""
    rng = np.random.default_rng(7)
    by_question, by_paragraph = [], []
    for _ in range(300):
        a, b, settings, question, paragraph = simulate_paragraphs(rng)
        by_question.append(compare_systems(a, b, settings, question)["p"] < 0.05)
        by_paragraph.append(compare_systems(a, b, settings, paragraph)["p"] < 0.05)
    assert np.mean(by_question) > 0.12  # anticonservative
    assert 0.02 <= np.mean(by_paragraph) <= 0.09  # 300 studies: SE of a 5 % rate is 1.3 %


def test_pooled_seed_variance_has_more_df_and_stays_calibrated():
    """With 3 seeds a system's seed variance has 2 df; pooled over three systems (6 df) the test keeps its
    level and its intervals narrow, since the t quantile on few df is what widened them."""
    rng = np.random.default_rng(11)
    rejections, widths_own, widths_pooled = [], [], []
    for _ in range(300):
        a, b, settings, clusters = simulate(rng, seed_sd=0.03)
        c = simulate(rng, seed_sd=0.03)[0]  # a third system of the same seed spread
        macros = [macro_average(x, settings) for x in (a, b, c)]
        s2 = float(np.mean([m.var(ddof=1) for m in macros]))
        own = compare_systems(a, b, settings, clusters)
        pooled = compare_systems(a, b, settings, clusters, pooled_seed_var=(s2, 6))
        rejections.append(pooled["p"] < 0.05)
        widths_own.append(own["ci_high"] - own["ci_low"])
        widths_pooled.append(pooled["ci_high"] - pooled["ci_low"])
    assert 0.02 <= np.mean(rejections) <= 0.09
    assert np.median(widths_pooled) < np.median(widths_own)


def test_non_inferiority_decisions_on_simulated_studies_with_known_truth():
    """The headline's decisions (study.headline.decision, from the Holm-compatible interval): a planted difference well above the margin is called
    better, one well below worse; a true difference of 0 with a tight interval equivalent; a true -0.005 (inside
    the margin of .01) equivalent even where it is significant, never worse; with wide intervals, undecided."""
    from pyserini_hybrid.study.report.headline import decision

    def call(delta, noise, seeds=3, studies=60):
        """Decisions over simulated studies: 200 clusters x 3 settings, per-unit noise sd ``noise``, seed sd
        noise / 20 (so the interval's width scales with ``noise``)."""
        rng = np.random.default_rng(int(abs(delta) * 1e4) + int(noise * 1000))
        settings, clusters = np.tile(np.arange(3), 200), np.repeat(np.arange(200), 3)
        shared = rng.normal(0.5, 0.1, 200)[clusters]
        out = []
        for _ in range(studies):
            a, b = (shared + shift + rng.normal(0, noise / 20, (seeds, 1)) + rng.normal(0, noise, (seeds, 600))
                    for shift in (delta, 0.0))
            t = compare_systems(a, b, settings, clusters)
            # one test: its interval at the family's level is the 95 % one (holm_levels of a family of one)
            cell = {"p_holm": t["p"], "diff_hybrid_minus": t["diff"], "ci_adjusted": [t["ci_low"], t["ci_high"]]}
            out.append(decision(cell, 0.05, 0.01))
        return out

    assert call(0.05, 0.03).count("better") >= 54  # power about 95 %: seeds have 2 df
    assert call(-0.05, 0.03).count("worse") >= 54
    assert call(0.0, 0.02).count("equivalent") >= 50
    small = call(-0.005, 0.02)
    assert "better" not in small  # (worse is no error: the true difference is below 0)
    assert sum(d in ("non-inferior", "equivalent") for d in small) >= 50
    assert call(0.0, 1.0).count("undecided") >= 50
    assert decision({"p_holm": None, "diff_hybrid_minus": None, "ci_adjusted": None}, 0.05, 0.01) == "untested"


# 8. Holm's intervals, power, minimum detectable difference, seeds needed ---------------------------
def test_holm_levels_agree_with_holm_decisions_on_simulated_families():
    """An interval at its Holm level excludes 0 exactly where Holm rejects, over random families of 12 tests
    with some true differences (issue 39: decisions and intervals from one rule)."""
    from pyserini_hybrid.evaluate.significance import holm_levels, interval

    rng = np.random.default_rng(39)
    agree = 0
    for _ in range(60):
        tests = {}
        for i in range(12):
            a, b, st, cl = simulate(rng, delta=rng.choice([0.0, 0.02, 0.05]), na=3, nb=3)
            tests[i] = compare_systems(a, b, st, cl)
        adjusted = holm({k: t["p"] for k, t in tests.items()})
        levels = holm_levels({k: t["p"] for k, t in tests.items()})
        for k, t in tests.items():
            lo, hi = interval(t, levels[k])
            assert (lo > 0 or hi < 0) == (adjusted[k] < 0.05), (t["p"], adjusted[k], levels[k], lo, hi)
            agree += 1
    assert agree == 720


def test_holm_levels_known_values():
    from pyserini_hybrid.evaluate.significance import holm_levels

    levels = holm_levels({"a": 0.001, "b": 0.02, "c": 0.04, "d": 0.5, "none": None})
    assert levels["a"] == pytest.approx(1 - 0.05 / 4)  # rejected at step 1 of 4
    assert levels["b"] == levels["c"] == levels["d"] == pytest.approx(1 - 0.05 / 3)  # after 1 rejection
    assert levels["none"] is None
    assert holm_levels({"a": 0.9, "b": 0.8}) == {"a": 0.975, "b": 0.975}  # none rejected: Bonferroni over 2


def true_components(seeds, sys_cluster_sd=SD["sys_cluster"]):
    """compare_systems' variance components of the simulated design, from its parameters."""
    return {"seed_var_a": SEED_MACRO_SD ** 2, "seed_var_b": SEED_MACRO_SD ** 2, "n_seeds_a": seeds,
            "n_seeds_b": seeds, "cluster_var": 2 * sys_cluster_sd ** 2 / K, "n_clusters": K}


def rejection_rate(rng, delta, seeds, runs=400):
    return np.mean([compare_systems(*simulate(rng, delta=delta, na=seeds, nb=seeds))["p"] < 0.05 for _ in range(runs)])


def test_minimum_detectable_difference_has_its_power_in_simulation():
    """At the predicted 80 % MDE of the design as run (3 seeds), simulated studies find the difference
    80 % of the time, within 10 %."""
    from pyserini_hybrid.evaluate.power import minimum_detectable, power, variance_with_seeds

    var, df = variance_with_seeds(true_components(3), 3)
    mde = minimum_detectable(np.sqrt(var), df)
    assert power(mde, np.sqrt(var), df) == pytest.approx(0.8, abs=0.002)
    observed = rejection_rate(np.random.default_rng(80), mde, 3)
    assert abs(observed - 0.8) <= 0.08, observed


def test_seeds_needed_has_its_power_in_simulation():
    """The seeds that the observed components say give 80 % power do, within 10 %; one seed fewer is short."""
    from pyserini_hybrid.evaluate.power import power, seeds_needed, variance_with_seeds

    effect = 3.0 * SEED_MACRO_SD  # about 7 seeds: question sampling alone (sd .01) takes most of the budget
    n = seeds_needed(true_components(3), effect)
    assert n is not None and n > 3
    predicted = power(effect, np.sqrt(variance_with_seeds(true_components(3), n)[0]),
                      variance_with_seeds(true_components(3), n)[1])
    assert predicted >= 0.8
    observed = rejection_rate(np.random.default_rng(81), effect, n)
    assert abs(observed - predicted) <= 0.1 * predicted, (n, observed, predicted)
    fewer = variance_with_seeds(true_components(3), n - 1)
    assert power(effect, np.sqrt(fewer[0]), fewer[1]) < 0.8
    # question sampling alone larger than the effect: no number of seeds is enough
    assert seeds_needed(true_components(3, sys_cluster_sd=1.0), effect, most=50) is None


def test_non_inferiority_power_against_simulation():
    """Power of showing non-inferiority at a margin when the systems are equal, as predicted and as simulated."""
    from pyserini_hybrid.evaluate.power import power, variance_with_seeds

    var, df = variance_with_seeds(true_components(3), 3)
    margin = 2.5 * np.sqrt(var)
    predicted = power(0.0, np.sqrt(var), df, margin=margin)
    rng = np.random.default_rng(82)
    shown = np.mean([compare_systems(*simulate(rng, na=3, nb=3))["ci_low"] > -margin for _ in range(400)])
    assert abs(shown - predicted) <= 0.1 * predicted, (shown, predicted)
