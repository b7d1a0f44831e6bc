"""The report's sections with curves: budget curves, the alpha sweep, the +native ablation and the validation
curves, each with its plot (split from ``report`` to keep one job per module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...evaluate.significance import format_interval
from ..config import LAREQA, Study


def _vs_line(c: dict | None) -> str:
    if not c:
        return "–"
    return f"{c['mean']:+.4f}" + (f" {format_interval(c['ci'])}" if c.get("ci") else "")


def curve_sections(report: dict, study: Study, report_dir: Path, plt, table_md) -> list[str]:
    """Budget curves, the alpha sweep, the +native ablation and the validation curves, each with its plot."""
    t, L = report["tables"], []
    curves = t.get("curves") or {}
    datasets = [d for d in LAREQA if d in study.datasets]
    curved = [d for d in datasets if d in curves.get("_languages", {})]
    left = curves.get("_pool_left_out", {})  # {dataset: budget} whose pool measures are on another pool
    if curves and curved:
        png = report_dir / "budget-curves.png"
        metrics = [("Mo AP", "Mo mAP"), ("Cr AP", "Cr mAP"), ("Mul AP", "Mul mAP"), ("rank distance", "rank distance")]
        fig, axes = plt.subplots(len(curved), 4, figsize=(16, 3.6 * len(curved)), squeeze=False)
        for r, dataset in enumerate(curved):
            for c, (key, title) in enumerate(metrics):
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
                ax.set_title(f"{dataset}: {title}" + (f" (none @{left[dataset]}: other pool)" if gap else ""),
                             fontsize=9)
                if r == 0 and c == 0:
                    ax.legend(fontsize=7)
        fig.suptitle("Budget curves (mean over seeds; band: min-max over seeds; curve languages: "
                     + "; ".join(f"{d} {' '.join(curves['_languages'][d])}" for d in curved) + ")",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        plt.close(fig)
        L += ["## Budget curves", "", "Mo, Cr, Mul mAP and rank distance after each budget, on the curve languages "
              "(one run per model, its checkpoints at each budget; every seed). Table: mean ± sd over seeds."
              + "".join(f" {d} has no curve languages: it was evaluated at the largest budget only (main table)."
                        for d in datasets if d not in curved)
              + "".join(f" {d} @{b}: Mo and Cr are the curve languages' settings of the all-language evaluation "
                        "(the same runs); Mul and rank distance are left out there, because that evaluation's "
                        "multilingual pool held every language's candidates, not the curve languages' (the main "
                        "table has them on that pool)." for d, b in left.items()), ""]
        for dataset in curved:
            cols = [f"{dataset} {k}" for k, _ in metrics]
            rows = {f"{name} @{b}": curves[name][str(b)] for name in study.variants for b in study.budgets
                    if str(b) in curves.get(name, {})}
            L += table_md(rows, cols, with_p=False) + [""]
        L += [f"![{png.name}]({png.name})", ""]
    sweep = t.get("sweep") or {}
    if len(sweep) >= 3 and datasets:
        png = report_dir / "alpha-sweep.png"
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
                ax.set_title(f"{dataset}: Mo vs {other}, {study.steps} steps", fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        plt.close(fig)
        cols = [f"{d} {g} AP" for d in datasets for g in ("Mo", "Cr", "Mul")]
        L += ["## α sweep", "", "P(X-X batch) from 0 (X-Y) to 1 (X-X-mono) at the largest budget: does a mix sit "
              "above the dashed line between the two pure batchings? (seeds: the variants' seeds for 0, 0.5, 1; "
              f"[sweep] seeds {study.sweep.get('seeds', study.seeds[:1])} for the others)", ""]
        L += table_md({f"α = {a} ({row['system']})": row for a, row in sweep.items()}, cols, with_p=False)
        mixes = {a: row for a, row in sweep.items() if any(f"{c} vs line" in row for c in cols)}
        if mixes:
            df = sorted({row[f"{c} vs line"].get("seed_df") for row in mixes.values() for c in cols
                         if f"{c} vs line" in row} - {None})
            L += ["", "Distance of each mix from the straight line between α = 0 and α = 1 (the value at α minus "
                  "(1 − α)·X-Y + α·X-X-mono; above 0 = better than the line), with its 95 % seed-level interval "
                  "(between-seed variance pooled over the three batchings" + (f", df {df[0]}" if len(df) == 1 else "")
                  + "; the test questions are the same for every point, and query sampling is not in the interval).",
                  "", "| α | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
            for a, row in mixes.items():
                L.append(f"| {a} | " + " | ".join(_vs_line(row.get(f"{c} vs line")) for c in cols) + " |")
        L += ["", f"![{png.name}]({png.name})", ""]
    native = t.get("native") or {}
    if native:
        cols = sorted({c for r in native.values() for c in r})
        which = ("Each batching" if study.native_variants == list(study.variants)
                 else ", ".join(study.native_variants) + " (the [native] variants)")
        L += ["## +native ablation", "", which + " with the native monolingual sets (" +
              ", ".join(study.native.get("datasets", [])) + ") added to the SQuAD translations, largest budget, "
              f"seeds {study.native.get('seeds', study.seeds[:1])}; the rows without +native are the same seeds.", ""]
        L += table_md(native, cols, with_p=False) + [""]
    val = t.get("validation") or {}
    if val:
        png = report_dir / "validation-curves.png"
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
        L += ["## Validation on held-out training data", "", "The validation retrieval task (held-out SQuAD "
              "translation groups) at every evaluation step, mean over seeds. Logged for choosing settings; no "
              "checkpoint is picked by it.", "", f"![{png.name}]({png.name})", ""]
    return L
