"""Significance tests for comparing training methods evaluated with several seeds.

Method: variance components with a Welch-Satterthwaite t reference.
    Var(diff) = s2_a/n_a + s2_b/n_b + V_cluster
s2_a, s2_b are the unbiased (ddof=1) between-seed variances of each system's per-seed
macro average (seeds are independent training runs, so not paired); V_cluster is the
cluster-robust (CR1) variance, over source-question clusters shared by both systems, of
the linearised macro-average difference, minus the seed x cluster noise that the seed
terms already contain (otherwise it would be counted twice; this is the crossed
seeds x clusters random-effects decomposition). Why not a seed bootstrap: with 3 seeds
it has only 10 distinct resamples and shrinks the seed variance by (n-1)/n; the
unbiased variance with a t on ~2(n-1) df is what keeps the test calibrated with few
seeds. The cluster term can also be estimated by a Poisson cluster bootstrap of the
exact macro statistic (cluster_method=Bootstrap(...)); the default analytic one is exact
to first order, deterministic and faster.
Settings are fixed (the table's columns); questions and training runs are what is sampled.
With one seed in a system its seed variance cannot be estimated: that term is left out
(result["seed_var_estimable"] is False) and the test then only covers question sampling
(and that system's seed x question noise), i.e. it is conditional on that trained run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

# scipy.stats.bootstrap resamples observations, not clusters, and has no variance-components test;
# statsmodels' mixed models would fit crossed seed x question effects by REML in minutes on 10^5 units.
# The few lines below are the closed-form moment estimators (checked for calibration in the tests).

def _labels(x, n, name):
    """Factorise labels to 0..k-1 (string or int labels both work)."""
    x = np.asarray(x)
    if x.ndim != 1 or x.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with {n} entries (one per unit), got shape {x.shape}")
    uniq, idx = np.unique(x, return_inverse=True)
    return idx.ravel(), len(uniq)


def _values(v, name):
    v = np.asarray(v, dtype=float)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2:
        raise ValueError(f"{name} must be [n_units] or [n_seeds, n_units], got shape {v.shape}")
    if v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"{name} has no seeds or no units (shape {v.shape})")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    return v


def _group_sums(v, idx, k):
    """Per-row sums of v [r, n] over groups idx [n] -> [r, k], one np.bincount."""
    r = v.shape[0]
    flat = (np.arange(r)[:, None] * k + idx[None, :]).ravel()
    return np.bincount(flat, weights=v.ravel(), minlength=r * k).reshape(r, k)


def macro_average(values, settings):
    """Mean over settings of the per-setting mean (what the results table shows).

    values: [n_units] -> float, or [n_seeds, n_units] -> array [n_seeds] (one per seed).
    Differs from the pooled mean when settings have different numbers of queries.
    """
    v = _values(values, "values")
    s_idx, n_set = _labels(settings, v.shape[1], "settings")
    per_setting = _group_sums(v, s_idx, n_set) / np.bincount(s_idx, minlength=n_set)
    m = per_setting.mean(axis=1)
    return float(m[0]) if np.ndim(values) == 1 else m


def satterthwaite(terms):
    """Welch-Satterthwaite df for a sum of +-c_i * V_i, terms = [(c_i * V_i, df_i)]."""
    total = sum(t for t, _ in terms)
    denom = sum(t * t / d for t, d in terms if d > 0 and t != 0)
    return float(total * total / denom) if denom > 0 else float("inf")


@dataclass(frozen=True)
class Bootstrap:
    """The cluster term by a Poisson cluster bootstrap of the exact macro statistic, instead of the default
    analytic (CR1) estimate: ``samples`` replicates from the rng ``seed``."""

    samples: int = 10000
    seed: int = 0


@dataclass(frozen=True)
class _Design:
    """The unit labels as indices: settings (fixed) and clusters (sampled), with each unit's macro weight."""

    s_idx: np.ndarray
    n_set: int
    c_idx: np.ndarray
    n_cl: int
    n_s: np.ndarray
    w: np.ndarray

    @classmethod
    def of(cls, n: int, settings, clusters) -> "_Design":
        s_idx, n_set = _labels(settings, n, "settings")
        c_idx, n_cl = _labels(np.arange(n) if clusters is None else clusters, n, "clusters")
        if n_cl < 2:
            raise ValueError("need at least 2 clusters to estimate question-sampling variance")
        n_s = np.bincount(s_idx, minlength=n_set)
        return cls(s_idx, n_set, c_idx, n_cl, n_s, 1.0 / (n_set * n_s[s_idx]))  # macro weights sum to 1

    def per_system(self, v):
        """Per-seed macro averages and each cluster's influence on them (linearised ratio estimator)."""
        set_means = _group_sums(v, self.s_idx, self.n_set) / self.n_s  # [seeds, settings]
        r = _group_sums(self.w * (v - set_means[:, self.s_idx]), self.c_idx, self.n_cl)  # [seeds, clusters]
        return set_means.mean(axis=1), r


def compare_systems(a, b, settings, clusters=None, alpha=0.05, cluster_method="robust", pooled_seed_var=None):
    """Two-sided test and CI for macro(A) - macro(B), seeds averaged within each system.

    a [n_seeds_a, n_units], b [n_seeds_b, n_units]: per-seed per-unit values, same unit
    columns; settings, clusters [n_units]: labels (clusters=None: every unit its own
    cluster). cluster_method "robust" (analytic CR1, default) or a ``Bootstrap`` (Poisson
    cluster bootstrap; "bootstrap" means ``Bootstrap()``).
    Returns diff, ci_low/ci_high (1-alpha), p, se, t, df and the parts of Var(diff):
    seed_var_a/b (variance of one seed's macro, ddof=1; None with one seed) enter as
    seed_var/n_seeds; cluster_var = question-sampling part (cluster_var_raw minus the
    interaction_var_a/b seed x question noise already in the seed terms, floored at 0).
    pooled_seed_var = (s2, df): one between-seed variance pooled over several systems (with 3 seeds each
    system's own has 2 df); it then enters as s2/n_a + s2/n_b on df degrees of freedom.
    """
    a, b, method = _checked_inputs(a, b, alpha, cluster_method)
    design = _Design.of(a.shape[1], settings, clusters)
    macro_a, r_a = design.per_system(a)
    macro_b, r_b = design.per_system(b)
    diff = float(macro_a.mean() - macro_b.mean())
    out = {"method": "variance-components Welch t (seeds unpaired, clusters paired)",
           "cluster_method": "robust" if method is None else "bootstrap", "diff": diff,
           "macro_a": float(macro_a.mean()), "macro_b": float(macro_b.mean()),
           "n_seeds_a": a.shape[0], "n_seeds_b": b.shape[0], "n_clusters": design.n_cl, "n_settings": design.n_set,
           "n_units": a.shape[1], "alpha": alpha}
    if method is None:
        cl_raw = _cluster_var_robust(r_a, r_b, design.n_cl)
    else:
        cl_raw, out["bootstrap_valid"] = _cluster_var_bootstrap(a, b, design, method)
    terms, cluster_var = _variance_terms(cl_raw, design.n_cl, ((macro_a, r_a), (macro_b, r_b)), pooled_seed_var, out)
    out.update(_t_test(diff, terms, alpha))
    out.update({"cluster_var": cluster_var, "cluster_var_raw": cl_raw,
                "seed_var_estimable": a.shape[0] >= 2 and b.shape[0] >= 2})
    return out


def _checked_inputs(a, b, alpha, cluster_method):
    """The two value arrays and the bootstrap (None: the analytic estimate), or ValueError saying what is wrong."""
    a = _values(a, "a")
    b = _values(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must cover the same units: {a.shape[1]} vs {b.shape[1]} columns")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if cluster_method == "bootstrap":
        cluster_method = Bootstrap()
    if cluster_method != "robust" and not isinstance(cluster_method, Bootstrap):
        raise ValueError("cluster_method must be 'robust' or a Bootstrap")
    if isinstance(cluster_method, Bootstrap) and int(cluster_method.samples) < 2:
        raise ValueError("samples must be at least 2 for the cluster bootstrap")
    return a, b, (None if cluster_method == "robust" else cluster_method)


def _cluster_var_robust(r_a, r_b, n_cl):
    e = r_a.mean(axis=0) - r_b.mean(axis=0)  # cluster influences of the seed-averaged diff
    # An exactly rounded sum, not BLAS's dot: OpenBLAS sums in another order on each CPU's kernel, which moved
    # the report's p values, intervals and Welch df in their last bits (docs/study.md, "Same numbers on every CPU").
    return n_cl / (n_cl - 1.0) * math.fsum(e * e)  # CR1 small-sample factor


def _cluster_var_bootstrap(a, b, design: _Design, boot: Bootstrap):
    """Written by hand: scipy.stats.bootstrap does not resample clusters. Poisson(1) cluster weights; the exact
    macro ratio statistic is recomputed per replicate. Returns the variance (CR1-scaled) and valid replicates."""
    n_cl, n_set, samples = design.n_cl, design.n_set, int(boot.samples)
    d = a.mean(axis=0) - b.mean(axis=0)
    flat = design.c_idx * n_set + design.s_idx
    num = np.bincount(flat, weights=d, minlength=n_cl * n_set).reshape(n_cl, n_set)
    den = np.bincount(flat, minlength=n_cl * n_set).reshape(n_cl, n_set).astype(float)
    rng = np.random.default_rng(boot.seed)
    reps = []
    chunk = max(1, 2_000_000 // n_cl)
    for start in range(0, samples, chunk):
        wts = rng.poisson(1.0, size=(min(chunk, samples - start), n_cl)).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            reps.append(((wts @ num) / (wts @ den)).mean(axis=1))
    reps = np.concatenate(reps)
    reps = reps[np.isfinite(reps)]  # drop replicates that lost a whole setting
    if reps.size < 2:
        raise ValueError("too few valid bootstrap replicates; increase samples")
    return n_cl / (n_cl - 1.0) * float(reps.var(ddof=1)), int(reps.size)


def _variance_terms(cl_raw, n_cl, systems, pooled_seed_var, out):
    """The signed parts of Var(diff) with their df, for Satterthwaite, and the cluster part after taking out
    the seed x cluster noise the seed terms hold; each system's seed and interaction variances go into ``out``."""
    kf = n_cl / (n_cl - 1.0)
    terms = []  # (signed variance contribution, df)
    cluster_terms = [(cl_raw, n_cl - 1)]
    pooled_terms = []
    for name, (macro, r) in zip("ab", systems):
        k = macro.shape[0]
        if k >= 2:
            s2 = float(macro.var(ddof=1))
            # seed x cluster noise of this system inside cl_raw; estimated from seed spread
            inter = kf * float(r.var(axis=0, ddof=1).sum()) / k
            if pooled_seed_var is None:
                terms.append((s2 / k, k - 1))
            else:
                pooled_terms.append(float(pooled_seed_var[0]) / k)
            cluster_terms.append((-inter, (k - 1) * (n_cl - 1)))
        else:
            s2, inter = None, None
        out[f"seed_var_{name}"] = s2
        out[f"interaction_var_{name}"] = inter
    if pooled_terms:  # one variance estimate: its terms share its df, so they enter Satterthwaite as one
        terms.append((sum(pooled_terms), float(pooled_seed_var[1])))
    cluster_var = sum(t for t, _ in cluster_terms)
    if cluster_var > 0:
        terms += cluster_terms
    else:  # a variance component estimate below zero: truncate at 0
        cluster_var = 0.0
    return terms, cluster_var


def _t_test(diff, terms, alpha):
    """se, t, Welch-Satterthwaite df, two-sided p and the 1 - alpha interval of ``diff``."""
    var = sum(t for t, _ in terms)
    df = satterthwaite(terms)
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0:
        t = diff / se
        p = float(2 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    else:  # no variability at all (e.g. one identical run each): degenerate test
        t = 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
        p, half = (1.0 if diff == 0 else 0.0), 0.0
    return {"se": se, "t": float(t), "df": df, "p": p, "ci_low": diff - half, "ci_high": diff + half}


def holm(pvalues):
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    pvalues: dict name -> p or None; None passes through and does not count as a test.
    """
    keys = [k for k, p in pvalues.items() if p is not None]
    p = np.array([pvalues[k] for k in keys], dtype=float)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    res = dict.fromkeys(pvalues)  # keeps order and the None entries
    for i, j in enumerate(order):
        res[keys[j]] = float(adj[i])
    return res


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_interval(ci) -> str:
    """A 95 % interval as the report prints it: signed, three decimals; '' when there is none."""
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""


def stars(p: float | None) -> str:
    if p is None:
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


# ----------------------------------------------------------------------------------- Holm's intervals
def holm_levels(pvalues: dict, alpha: float = 0.05) -> dict:
    """The confidence level of each test's interval that agrees with Holm's decisions (None passes through).

    Holm rejects the i-th smallest p while p_(i) < alpha / (m - i + 1). A cell Holm rejects at step i gets the
    1 - alpha / (m - i + 1) interval; after r rejections every other cell gets 1 - alpha / (m - r), the
    compatible simultaneous intervals of Strassburger & Bretz (2008, Stat. Med. 27:4914) for the cells Holm
    keeps. So an interval excludes 0 exactly where Holm rejects, and equivalence and non-inferiority are read
    from intervals adjusted like the p values (one family, one rule)."""
    keys = sorted((k for k, p in pvalues.items() if p is not None), key=lambda k: pvalues[k])
    m, levels, rejected = len(keys), dict.fromkeys(pvalues), 0
    for i, k in enumerate(keys):
        if pvalues[k] < alpha / (m - i):
            levels[k] = 1 - alpha / (m - i)
            rejected += 1
        else:
            break
    for k in keys[rejected:]:
        levels[k] = 1 - alpha / (m - rejected)
    return levels


def interval(test: dict, level: float) -> list[float]:
    """``compare_systems``'s interval of diff at another confidence level (same se and df)."""
    if test["se"] <= 0:
        return [test["diff"], test["diff"]]
    half = float(stats.t.ppf(0.5 + level / 2, test["df"])) * test["se"]
    return [test["diff"] - half, test["diff"] + half]
