"""The study report: ``report.md`` with its tables and plots, every number read from ``report.json``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.files import atomic_write, write_json
from .config import BM25, LAREQA, UNTUNED, Study
from .tables import headline_sentence, slug


def fmt(c: dict | None, digits: int = 4) -> str:
    if not c:
        return "–"
    text = f"{c['mean']:.{digits}f}"
    if c.get("sd") is not None:
        text += f" ± {c['sd']:.{digits}f}"
    return text


def fmt_p(c: dict | None) -> str:
    """p of hybrid against the row (Holm-adjusted where the cell is in the headline family), with the 95 %
    interval of hybrid minus the row."""
    from ..evaluate.significance import format_p, stars

    if not c or c.get("p_vs_hybrid") is None:
        return "–"
    p = c.get("p_holm", c["p_vs_hybrid"])
    ci = c.get("ci_hybrid_minus")
    interval = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    return f"{format_p(p)}{stars(p)}{' (Holm)' if 'p_holm' in c else ''}{interval}"


def table_md(rows: dict, columns: list[str], with_p: bool = True, digits: int = 4) -> list[str]:
    head = "| system | " + " | ".join(c + (" | p" if with_p else "") for c in columns) + " |"
    lines = [head, "|---|" + "---:|" * (len(columns) * (2 if with_p else 1))]
    for name, row in rows.items():
        cells = []
        for c in columns:
            cells.append(fmt(row.get(c), digits))
            if with_p:
                cells.append(fmt_p(row.get(c)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_report(report: dict, study: Study, results: dict, metas: dict, report_dir: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..evaluate.render import heatmap

    report_dir.mkdir(parents=True, exist_ok=True)
    write_json(report_dir / "report.json", report)
    t = report["tables"]
    L = [f"# Study: {study.name}{' (quick smoke run)' if study.quick else ''}", "",
         f"X-X-mono, X-Y and hybrid(α = {study.variants['hybrid']}) batches fine-tuned from the same recipe "
         f"(`{Path(study.recipe).name}`) on the same training data ({', '.join(study.training_data) or 'all'}), "
         f"seeds {', '.join(map(str, study.seeds))}, budgets {', '.join(map(str, study.budgets))} steps: one run per "
         f"model under a constant learning rate after {study.warmup_steps} warm-up steps, so its step-N checkpoint "
         "is the N-step model whatever the total; every budget's **last step** is evaluated (no checkpoint is "
         f"chosen by any number). Runs {study.hits} deep; fusion = {study.fusion}. Every number below is read "
         "from `report.json`, written by the command that made this report.", "",
         "```bash", f"python -m pyserini_hybrid.study {report['study']}" + (" --quick" if study.quick else ""), "```", "",
         f"Start model: `{report['start_model']['path']}` (weights sha256 {report['start_model']['sha256']}).", "",
         "Tables: mean over training seeds ± sample standard deviation. p: hybrid against that row on the value "
         "the table shows (the macro average over settings), with training seeds as a level of variance and the "
         "translations of one question as one cluster (variance components with a Welch–Satterthwaite t, "
         "`pyserini_hybrid/evaluate/significance.py`; calibrated in its tests), followed by the 95 % interval of "
         "hybrid minus the row; the Mo/Cr/Mul mAP cells against X-X-mono and X-Y are Holm-adjusted over that whole "
         "family (\"(Holm)\"). * p < 0.05, ** p < 0.01, *** p < 0.001. A difference without a star may well be noise.",
         "", headline_sentence(report["headline"]), "",
         "**The paper's numbers are not beside ours**: the paper's Table 1 values are not available offline here, "
         "and its backbones (XLM-R, LaBSE) and training data differ from ours (multilingual-e5-small, SQuAD "
         "translations), so absolute numbers would not be comparable anyway.", ""]
    if report.get("selection"):
        L += ["## Recipe settings, chosen on held-out training data", "",
              "Hybrid, first seed, on the validation retrieval task built from held-out *training* groups "
              "(MRR@10, Mo/Cr/Mul as in the evaluation; never XQuAD-R, MLQA-R or MIRACL); the best mean was "
              "used for every model.", "", "| run | lr | temperature | Mo | Cr | Mul | mean | chosen |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
        for label, r in report["selection"].items():
            L.append(f"| {label} | {r['lr']:g} | {r['temperature']:g} | {fmt({'mean': r.get('val_mo')})} | "
                     f"{fmt({'mean': r.get('val_cr')})} | {fmt({'mean': r.get('val_mul')})} | "
                     f"{fmt({'mean': r.get('mean')})} | {'yes' if r.get('chosen') else ''} |")
        L += [""]
    main = t["main"]
    for dataset in [d for d in LAREQA if d in study.datasets]:
        cols = [f"{dataset} {g} AP" for g in ("Mo", "Cr", "Mul")]
        L += [f"## {dataset}: mAP (Table 1 layout), {study.steps} steps", ""] + table_md(main, cols) + [""]
        cols = [f"{dataset} {g} {m}" for g in ("Mo", "Cr", "Mul") for m in ("R@1", "R@10")] + [f"{dataset} rank distance"]
        L += [f"{dataset}: R@1, R@10 and rank distance (lower = less language bias)", ""] + \
            table_md(main, cols, with_p=False) + [""]
    if t.get("miracl"):
        cols = list(next(iter(t["miracl"].values())).keys())
        L += ["## MIRACL-mini (monolingual; mean over languages)", ""] + table_md(t["miracl"], cols) + [""]
    plots = []
    for name in ("hybrid", UNTUNED):
        for dataset in [d for d in LAREQA if d in study.datasets]:
            key = next((k for k in sorted(results) if k[0] == name and k[2] == dataset), None)
            if key:
                png = heatmap(results[key][0], report_dir / f"heatmap-{slug(name)}-{dataset}.png", "AP",
                              f"mAP X→Y, {name} (seed {key[1]}) on {dataset}")
                if png:
                    plots.append(png.name)
    if plots:
        L += ["## X→Y mAP heatmaps", ""] + [f"![{p}]({p})" for p in plots] + [""]
    for section, title, what in (("unseen", "Unseen languages",
                                  "Settings grouped by whether the query and candidate languages occur in the training data."),
                                 ("distance", "Distant and low-resource pairs",
                                  "Cross-lingual settings grouped by script, language family (top level) and resource "
                                  "class (Joshi et al. 2020; `topics/languages.tsv`).")):
        rows = t.get(section) or {}
        if rows:
            names = [n for n in (BM25, UNTUNED, *study.variants)]
            L += [f"## {title}", "", what, "", "| group | settings | " + " | ".join(f"{n} | p" for n in names) + " |",
                  "|---|---:|" + "---:|" * (2 * len(names))]
            for label, row in rows.items():
                L.append(f"| {label} | {row['settings']} | " + " | ".join(f"{fmt(row.get(n))} | {fmt_p(row.get(n))}"
                                                                          for n in names) + " |")
            png = _bar_plot(rows, names, report_dir / f"{section}.png", f"{title}: mean mAP", plt)
            L += ["", f"![{png.name}]({png.name})", ""]
    if t.get("adversarial"):
        cols = sorted({c for r in t["adversarial"].values() for c in r})
        L += ["## Adversarial queries", "", f"Topics of {', '.join(study.adversarial.get('languages', []))} perturbed "
              "(typos: character noise; strip_marks: diacritics and tone marks removed; code_switch: the first half "
              "of the query, then the second half of its parallel question in another of these languages, drawn "
              "per query); mAP on clean and perturbed topics (first seed). Where the spliced language is the "
              "candidate language, code-switching helps cross-lingual retrieval: read its Cr column with care.", ""] + \
            table_md(t["adversarial"], cols, with_p=False) + [""]
        drops = {k: {c: v for c, v in r.items() if c.endswith("drop")} for k, r in t["adversarial"].items()}
        png = _bar_plot(drops, sorted({c for r in drops.values() for c in r}), report_dir / "adversarial.png",
                        "mAP drop under perturbation", plt, nested=False)
        L += [f"![{png.name}]({png.name})", ""]
    if t.get("diversity"):
        cols = sorted({c for r in t["diversity"].values() for c in r})
        L += ["## Training-language diversity", "", "Hybrid trained on subsets of the training languages, same "
              "steps, first seed" + (f", run on {', '.join(study.diversity_datasets)}" if study.diversity_datasets
                                     else "") + ".", ""] + table_md(t["diversity"], cols, with_p=False) + [""]
        png = _bar_plot(t["diversity"], cols, report_dir / "diversity.png", "Training-language diversity", plt,
                        nested=False)
        L += [f"![{png.name}]({png.name})", ""]
    L += curve_sections(report, study, report_dir, plt)
    L += ["## Models, data and time", "", "Batches as actually drawn (from each model's training card).", "",
          "| model | sha256 (16) | steps | precision | realised α | batches by dataset | val. Mo/Cr/Mul MRR@10 | train s |",
          "|---|---|---:|---|---:|---|---|---:|"]
    for name, m in report["models"].items():
        v = m.get("validation_retrieval") or {}
        drawn = ", ".join(f"{k} {n}" for k, n in (m.get("drawn_datasets") or {}).items())
        L.append(f"| {name} | `{m['sha256']}` | {m['steps']} | {m.get('precision')} | {m['realised_alpha']:.2f} | "
                 f"{drawn} | {fmt({'mean': v.get('val_mo')}, 3)}/{fmt({'mean': v.get('val_cr')}, 3)}/"
                 f"{fmt({'mean': v.get('val_mul')}, 3)} | {m['train_seconds']:.1f} |")
    for label, data in (report["data"] or {}).items():
        L += ["", f"Training pairs of {label} after filtering: {data.get('pairs_total')} "
              f"({', '.join(f'{k} {v}' for k, v in data.get('pairs', {}).items())}); dropped as XQuAD paragraphs: "
              f"{sum(data.get('dropped_xquad', {}).values())}."]
    L += ["", "Wall time (s) of the invocation that wrote this report (work found in the caches costs "
          "almost nothing): " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()) + "."]
    every = report.get("seconds_all_invocations") or {}
    if every:
        L += ["", "Wall time (s) summed over every invocation on this cache (`wall-seconds.json`; innermost "
              "stages only, so they add up; a stage cut short by a kill is not counted): "
              + ", ".join(f"{k} {v}" for k, v in every.items()) + ". Training, from the model cards (the "
              f"train s column above, whichever invocation trained them): {report['train_seconds_all_models']} s "
              "in all."]
    L += [""]
    L += ["## Commands", "", "Every run went through Pyserini's CLI; the commands of each system's runs (first "
          "seed) as recorded in their `run-meta.json`:", ""]
    for name, commands in report["commands"].items():
        L += [f"<details><summary>{name}: {len(commands)} commands</summary>", "", "```bash", *commands, "```",
              "</details>", ""]
    path = report_dir / "report.md"
    with atomic_write(path) as f:
        f.write("\n".join(L))
    return path


def _bar_plot(rows: dict, columns: list[str], path: Path, title: str, plt, nested: bool = True) -> Path:
    labels = list(rows)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels)), 4))
    width = 0.8 / max(1, len(columns))
    for j, c in enumerate(columns):
        vals = [(rows[k].get(c) or {}).get("mean", np.nan) if isinstance(rows[k].get(c), dict) else np.nan
                for k in labels]
        ax.bar(np.arange(len(labels)) + j * width, vals, width, label=c)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve_sections(report: dict, study: Study, report_dir: Path, plt) -> list[str]:
    """Budget curves, the alpha sweep, the +native ablation and the validation curves, each with its plot."""
    t, L = report["tables"], []
    curves = t.get("curves") or {}
    datasets = [d for d in LAREQA if d in study.datasets]
    if curves and datasets:
        png = report_dir / "budget-curves.png"
        metrics = [("Mo AP", "Mo mAP"), ("Cr AP", "Cr mAP"), ("Mul AP", "Mul mAP"), ("rank distance", "rank distance")]
        fig, axes = plt.subplots(len(datasets), 4, figsize=(16, 3.6 * len(datasets)), squeeze=False)
        for r, dataset in enumerate(datasets):
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
                ax.set_xlabel("training steps")
                ax.set_title(f"{dataset}: {title}", fontsize=9)
                if r == 0 and c == 0:
                    ax.legend(fontsize=7)
        fig.suptitle("Budget curves (mean over seeds; band: min-max over seeds; curve languages: "
                     + "; ".join(f"{d} {' '.join(curves.get('_languages', {}).get(d, []))}" for d in datasets) + ")",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(png, dpi=100)
        plt.close(fig)
        L += ["## Budget curves", "", "Mo, Cr, Mul mAP and rank distance after each budget, on the curve languages "
              "(one run per model, its checkpoints at each budget; every seed). Table: mean ± sd over seeds.", ""]
        for dataset in datasets:
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
