"""Budget curves put no number under a budget it was not measured at, and never draw a pool measure (Mul,
rank distance) measured on another pool than the curve's."""

from types import SimpleNamespace

import pytest

from pyserini_hybrid.study.report.curves import curves_table
from pyserini_hybrid.study.report.tables import macro_keys

LANGS = {"xquad-r": ["de", "en", "zh"], "mlqa-r": ["de", "en"]}
METAS = {d: {"languages": langs} for d, langs in LANGS.items()}


def _result(dataset, langs, base, rd):
    """One evaluation: every setting of ``langs`` with an AP that tells settings apart, and a rank distance."""
    settings = {}
    for i, key in enumerate(k for keys in macro_keys(dataset, langs).values() for k in keys):
        settings[key] = {"AP": base + i / 1000}
    return ({"settings": settings, "rank_distance": {"macro": rd}}, None, None)


def _study(curve):
    return SimpleNamespace(datasets=["xquad-r", "mlqa-r"], languages=[], variants={"X-X-mono": 1.0, "hybrid": 0.5},
                           budgets=[2, 4], steps=4, curve_languages={"xquad-r": curve} if curve else {})


def test_curves_only_where_measured_and_pool_measures_only_on_the_curve_pool():
    curve = ["en", "de"]
    results = {("hybrid @2", 1, "xquad-r"): _result("xquad-r", curve, 0.3, 50.0),
               ("hybrid", 1, "xquad-r"): _result("xquad-r", LANGS["xquad-r"], 0.6, 400.0),
               ("hybrid", 1, "mlqa-r"): _result("mlqa-r", LANGS["mlqa-r"], 0.5, 300.0),
               ("X-X-mono", 1, "xquad-r"): _result("xquad-r", LANGS["xquad-r"], 0.7, 500.0)}
    out = curves_table(_study(curve), results, METAS)
    assert out["_languages"] == {"xquad-r": curve}  # mlqa-r has no curve languages: no curve at all
    assert not any(k.startswith("mlqa-r") for v in ("hybrid", "X-X-mono") for b in out[v].values() for k in b)
    small, last = out["hybrid"]["2"], out["hybrid"]["4"]
    assert small["xquad-r Mul AP"]["mean"] > 0 and small["xquad-r rank distance"]["mean"] == 50.0
    # the largest budget: Mo and Cr are the curve languages' settings of the all-language run ...
    full = results[("hybrid", 1, "xquad-r")][0]["settings"]
    mo = [full[f"{x}-{x}"]["AP"] for x in curve]
    assert last["xquad-r Mo AP"]["mean"] == pytest.approx(sum(mo) / len(mo))
    # ... its pool measures came from the pool of every language, so they are not on the curve
    assert "xquad-r Mul AP" not in last and "xquad-r rank distance" not in last
    assert out["_pool_left_out"] == {"xquad-r": 4}
    # X-X-mono has no step-2 evaluation: nothing is put under budget 2 (the old fallback copied step 4 there)
    assert set(out["X-X-mono"]) == {"4"}


def test_pool_measures_kept_when_the_curve_is_every_language():
    results = {("hybrid @2", 1, "mlqa-r"): _result("mlqa-r", LANGS["mlqa-r"], 0.3, 50.0),
               ("hybrid", 1, "mlqa-r"): _result("mlqa-r", LANGS["mlqa-r"], 0.6, 70.0)}
    study = _study(None)
    study.datasets, study.curve_languages = ["mlqa-r"], {"mlqa-r": ["en", "de"]}
    out = curves_table(study, results, METAS)
    assert out["hybrid"]["4"]["mlqa-r rank distance"]["mean"] == 70.0 and "mlqa-r Mul AP" in out["hybrid"]["4"]
    assert "_pool_left_out" not in out


def test_sweep_distance_from_the_line_between_the_pure_batchings():
    import numpy as np
    from scipy import stats

    from pyserini_hybrid.study.report.curves import sweep_table
    from pyserini_hybrid.study.sections import Sweep

    langs = LANGS["mlqa-r"]
    study = SimpleNamespace(datasets=["mlqa-r"], languages=[], variants={"X-X-mono": 1.0, "X-Y": 0.0, "hybrid": 0.5},
                            sweep=Sweep.from_table({"alphas": [0.25]}), budgets=[4], steps=4, curve_languages={})
    bases = {"X-Y": [0.40, 0.42, 0.41], "X-X-mono": [0.60, 0.63, 0.57], "hybrid": [0.52, 0.50, 0.51]}
    results = {(name, seed, "mlqa-r"): _result("mlqa-r", langs, b, 100.0)
               for name, values in bases.items() for seed, b in zip((1, 2, 3), values)}
    results[("alpha=0.25", 1, "mlqa-r")] = _result("mlqa-r", langs, 0.49, 100.0)
    out = sweep_table(study, results, {"mlqa-r": METAS["mlqa-r"]})
    assert list(out) == ["0", "0.25", "0.5", "1"]
    # every setting is the row's base plus the same offsets, so the macro average moves with the base
    key = "mlqa-r Mo AP"
    offset = out["0.25"][key]["mean"] - 0.49
    line = 0.75 * np.mean(bases["X-Y"]) + 0.25 * np.mean(bases["X-X-mono"]) + offset
    got = out["0.25"][f"{key} vs line"]
    assert got["mean"] == pytest.approx(out["0.25"][key]["mean"] - line)
    assert got["mean"] > 0  # 0.49 lies above the line's 0.4575
    s2 = np.mean([np.var(v, ddof=1) for v in bases.values()])  # pooled over three batchings of 3 seeds
    half = stats.t.ppf(0.975, 6) * np.sqrt(s2 * (1 + 0.75 ** 2 / 3 + 0.25 ** 2 / 3))
    assert got["ci"] == pytest.approx([got["mean"] - half, got["mean"] + half]) and got["seed_df"] == 6
    assert f"{key} vs line" in out["0.5"] and not any(k.endswith("vs line") for k in out["0"])
