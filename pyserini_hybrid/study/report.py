"""The study report: ``report.md`` with its tables and plots, every number read from ``report.json``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.files import PROJECT_ROOT, atomic_write, write_json
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
    from ..evaluate.significance import format_p, stars

    if not c or c.get("p_vs_hybrid") is None:
        return "–"
    return f"{format_p(c['p_vs_hybrid'])}{stars(c['p_vs_hybrid'])}"


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
         f"(`{Path(study.recipe).name}`), {study.steps} steps, seeds {', '.join(map(str, study.seeds))}; runs "
         f"{study.hits} deep; fusion = {study.fusion}. Every number below is read from `report.json`, written "
         "by the command that made this report.", "",
         "```bash", f"python -m pyserini_hybrid.study {Path(study.source).relative_to(PROJECT_ROOT) if Path(study.source).is_relative_to(PROJECT_ROOT) else study.source}"
         + (" --quick" if study.quick else ""), "```", "",
         f"Start model: `{report['start_model']['path']}` (weights sha256 {report['start_model']['sha256']}).", "",
         "Means over training seeds (± sample standard deviation); p: hybrid against that row on the macro average "
         "the table shows, with training seeds as a level of variance and the translations of one question as one "
         "cluster (variance components, Welch–Satterthwaite t; `evaluate/significance.py`), unadjusted in the "
         "tables, Holm-adjusted over the headline family in the headline; "
         "* p < 0.05, ** p < 0.01, *** p < 0.001. A difference without a star may well be noise."
         + (f" Seeds after the first were run on {', '.join(study.extra_seeds_on) or 'no dataset'} only "
            "(`extra_seeds_on`); elsewhere a trained row is its first seed (no ±)."
            if study.extra_seeds_on is not None else ""), "",
         headline_sentence(report["headline"]), "",
         "**The paper's numbers are not beside ours**: the paper's Table 1 values are not available offline here, "
         "and its backbones (XLM-R, LaBSE) and training data differ from ours (multilingual-e5-small, SQuAD "
         "translations and native QA sets), so absolute numbers would not be comparable anyway.", ""]
    main = t["main"]
    for dataset in [d for d in LAREQA if d in study.datasets]:
        cols = [f"{dataset} {g} AP" for g in ("Mo", "Cr", "Mul")]
        L += [f"## {dataset}: mAP (Table 1 layout)", ""] + table_md(main, cols) + [""]
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
    L += ["## Models, data and time", "", "| model | sha256 (16) | exported step | best val. loss | realised α | train s |",
          "|---|---|---:|---:|---:|---:|"]
    for name, m in report["models"].items():
        L.append(f"| {name} | `{m['sha256']}` | {m['exported_step']} | {m['best_val_loss']:.4f} | "
                 f"{m['realised_alpha']:.2f} | {m['train_seconds']:.1f} |")
    data = report["data"]
    if data:
        L += ["", f"Training pairs after filtering: {data.get('pairs_total')} "
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
