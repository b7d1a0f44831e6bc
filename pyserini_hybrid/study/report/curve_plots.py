"""The report's sections with curves: budget curves, the alpha sweep, the +native ablation and the validation
curves, each with its plot (split from ``write`` to keep one job per module)."""

from __future__ import annotations

import numpy as np

from ...evaluate.significance import format_interval
from ..config import LAREQA
from .markdown import Page, table_md


def _vs_line(c: dict | None) -> str:
    if not c:
        return "–"
    return f"{c['mean']:+.4f}" + (f" {format_interval(c['ci'])}" if c.get("ci") else "")


CURVE_METRICS = [("Mo AP", "Mo mAP"), ("Cr AP", "Cr mAP"), ("Mul AP", "Mul mAP"), ("rank distance", "rank distance")]
BUDGET_CURVES = ("Mo, Cr, Mul mAP and rank distance after each budget, on the curve languages (one run per model, "
                 "its checkpoints at each budget; every seed). Table: mean ± sd over seeds.")
NO_CURVE = " {dataset} has no curve languages: it was evaluated at the largest budget only (main table)."
OTHER_POOL = (" {dataset} @{budget}: Mo and Cr are the curve languages' settings of the all-language evaluation "
              "(the same runs); Mul and rank distance are left out there, because that evaluation's multilingual "
              "pool held every language's candidates, not the curve languages' (the main table has them on that "
              "pool).")
SWEEP = ("P(X-X batch) from 0 (X-Y) to 1 (X-X-mono) at the largest budget: does a mix sit above the dashed line "
         "between the two pure batchings? (seeds: the variants' seeds for 0, 0.5, 1; [sweep] seeds {seeds} for "
         "the others)")
SWEEP_LINE = ("Distance of each mix from the straight line between α = 0 and α = 1 (the value at α minus (1 − α)·X-Y "
              "+ α·X-X-mono; above 0 = better than the line), with its 95 % seed-level interval (between-seed "
              "variance pooled over the three batchings{df}; the test questions are the same for every point, and "
              "query sampling is not in the interval).")
NATIVE = ("{which} with the native monolingual sets ({datasets}) added to the SQuAD translations, largest budget, "
          "seeds {seeds}; the rows without +native are the same seeds.")
VALIDATION = ("The validation retrieval task (held-out SQuAD translation groups) at every evaluation step, mean "
              "over seeds. Logged for choosing settings; no checkpoint is picked by it.")


def curve_sections(page: Page) -> list[str]:
    """Budget curves, the alpha sweep, the +native ablation and the validation curves, each with its plot."""
    return budget_curve_lines(page) + sweep_lines(page) + native_lines(page) + validation_lines(page)


def _curved(page: Page) -> list[str]:
    curves = page.report["tables"].get("curves") or {}
    return [d for d in LAREQA if d in page.study.datasets and d in curves.get("_languages", {})]


def plot_budget_curves(page: Page, curves: dict, curved: list[str], left: dict):
    study, plt = page.study, page.plt
    png = page.folder / "budget-curves.png"
    fig, axes = plt.subplots(len(curved), 4, figsize=(16, 3.6 * len(curved)), squeeze=False)
    for r, dataset in enumerate(curved):
        for c, (key, title) in enumerate(CURVE_METRICS):
            ax = axes[r][c]
            for name in study.variants:
                xs, mean, lo, hi = [], [], [], []
                for budget in study.budgets:
                    cell = curves.get(name, {}).get(str(budget), {}).get(f"{dataset} {key}")
                    if cell:
                        vals = cell["values"]
                        xs.append(budget)
                        mean.append(np.mean(vals))
                        lo.append(min(vals))
                        hi.append(max(vals))
                if xs:
                    ax.plot(xs, mean, marker="o", label=name)
                    ax.fill_between(xs, lo, hi, alpha=0.2)
            ax.set_xscale("log")
            ax.set_xticks(study.budgets, [str(b) for b in study.budgets])  # the budgets, not log decades
            ax.minorticks_off()
            ax.set_xlim(min(study.budgets) / 1.3, max(study.budgets) * 1.3)  # one x range in every panel
            ax.set_xlabel("training steps")
            gap = key in ("Mul AP", "rank distance") and dataset in left
            ax.set_title(f"{dataset}: {title}" + (f" (none @{left[dataset]}: other pool)" if gap else ""), fontsize=9)
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    fig.suptitle("Budget curves (mean over seeds; band: min-max over seeds; curve languages: "
                 + "; ".join(f"{d} {' '.join(curves['_languages'][d])}" for d in curved) + ")", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def budget_curve_lines(page: Page) -> list[str]:
    study = page.study
    curves, curved = page.report["tables"].get("curves") or {}, _curved(page)
    if not (curves and curved):
        return []
    left = curves.get("_pool_left_out", {})  # {dataset: budget} whose pool measures are on another pool
    png = plot_budget_curves(page, curves, curved, left)
    datasets = [d for d in LAREQA if d in study.datasets]
    L = ["## Budget curves", "", BUDGET_CURVES + "".join(NO_CURVE.format(dataset=d) for d in datasets
                                                          if d not in curved)
         + "".join(OTHER_POOL.format(dataset=d, budget=b) for d, b in left.items()), ""]
    for dataset in curved:
        cols = [f"{dataset} {k}" for k, _ in CURVE_METRICS]
        rows = {f"{name} @{b}": curves[name][str(b)] for name in study.variants for b in study.budgets
                if str(b) in curves.get(name, {})}
        L += table_md(rows, cols, with_p=False) + [""]
    return L + [f"![{png.name}]({png.name})", ""]


def plot_sweep(page: Page, sweep: dict, datasets: list[str]):
    plt = page.plt
    png = page.folder / "alpha-sweep.png"
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10, 4 * len(datasets)), squeeze=False)
    for r, dataset in enumerate(datasets):
        for c, other in enumerate(("Cr", "Mul")):
            ax = axes[r][c]
            pts = [(float(a), row.get(f"{dataset} Mo AP"), row.get(f"{dataset} {other} AP"))
                   for a, row in sweep.items()]
            pts = [(a, x["mean"], y["mean"]) for a, x, y in pts if x and y]
            if not pts:
                continue
            ax.plot([p[1] for p in pts], [p[2] for p in pts], "o-", color="tab:blue")
            for a, x, y in pts:
                ax.annotate(f"α={a:g}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ends = [p for p in pts if p[0] in (0.0, 1.0)]
            if len(ends) == 2:
                ax.plot([ends[0][1], ends[1][1]], [ends[0][2], ends[1][2]], "--", color="grey",
                        label="between the pure batchings")
                ax.legend(fontsize=7)
            ax.set_xlabel("Mo mAP")
            ax.set_ylabel(f"{other} mAP")
            ax.set_title(f"{dataset}: Mo vs {other}, {page.study.steps} steps", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def sweep_lines(page: Page) -> list[str]:
    study, sweep = page.study, page.report["tables"].get("sweep") or {}
    datasets = [d for d in LAREQA if d in study.datasets]
    if len(sweep) < 3 or not datasets:
        return []
    png = plot_sweep(page, sweep, datasets)
    cols = [f"{d} {g} AP" for d in datasets for g in ("Mo", "Cr", "Mul")]
    L = ["## α sweep", "", SWEEP.format(seeds=study.sweep_seeds), ""]
    L += table_md({f"α = {a} ({row['system']})": row for a, row in sweep.items()}, cols, with_p=False)
    mixes = {a: row for a, row in sweep.items() if any(f"{c} vs line" in row for c in cols)}
    if mixes:
        df = sorted({row[f"{c} vs line"].get("seed_df") for row in mixes.values() for c in cols
                     if f"{c} vs line" in row} - {None})
        L += ["", SWEEP_LINE.format(df=f", df {df[0]}" if len(df) == 1 else ""),
              "", "| α | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for a, row in mixes.items():
            L.append(f"| {a} | " + " | ".join(_vs_line(row.get(f"{c} vs line")) for c in cols) + " |")
    return L + ["", f"![{png.name}]({png.name})", ""]


def native_lines(page: Page) -> list[str]:
    study, native = page.study, page.report["tables"].get("native") or {}
    if not native:
        return []
    cols = sorted({c for r in native.values() for c in r})
    which = ("Each batching" if study.native_variants == list(study.variants)
             else ", ".join(study.native_variants) + " (the [native] variants)")
    text = NATIVE.format(which=which, datasets=", ".join(study.native.datasets), seeds=study.native_seeds)
    return ["## +native ablation", "", text, ""] + table_md(native, cols, with_p=False) + [""]


def validation_lines(page: Page) -> list[str]:
    val, plt = page.report["tables"].get("validation") or {}, page.plt
    if not val:
        return []
    png = page.folder / "validation-curves.png"
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for c, key in enumerate(("val_mo", "val_cr", "val_mul")):
        for name, steps in val.items():
            xs = sorted(steps, key=int)
            axes[c].plot([int(x) for x in xs], [np.mean(steps[x][key]) for x in xs], marker=".", label=name)
        axes[c].set_title(f"held-out training groups: {key[4:].capitalize()} MRR@10", fontsize=9)
        axes[c].set_xlabel("training steps")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return ["## Validation on held-out training data", "", VALIDATION, "", f"![{png.name}]({png.name})", ""]
