"""The study report's files: report.json, answer.md, report.md and its plots, written into a temporary folder
and moved into place together; every number read from ``report.json``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ...core.files import atomic_write, clean_stale_temps, round_floats, temp_dir_in, write_json
from ...evaluate.render import heatmap
from ..config import BM25, LAREQA, UNTUNED, Study, slug
from .beside import beside_lines
from .curve_plots import curve_sections
from .headline import answer_markdown
from .markdown import (
    Page,
    fmt,
    fmt_ci,
    header_lines,
    language_lines,
    lareqa_lines,
    models_lines,
    selection_lines,
    table_md,
)

# Significant digits of every number in report.json: far below any difference the report discusses, and
# above the last-bit noise of float reductions on different CPUs (docs/study.md, "Same numbers on every CPU").
REPORT_DIGITS = 12
REPORT_FILE = "report.json"  # moved into place last: its presence with new content means the report is whole


def write_report(report: dict, study: Study, results: dict, metas: dict, report_dir: Path) -> Path:
    """Write the report's files into a temporary folder inside ``report_dir``, then move them into place,
    report.json last (the old one removed first): a report interrupted at any moment never leaves a new
    report.json beside the old report.md, answer.md or plots. A killed writer's folder is removed by the next."""
    report = round_floats(report, REPORT_DIGITS)  # every file below is written from the rounded numbers
    report_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(report_dir / "report")
    tmp = temp_dir_in(report_dir, "report")
    try:
        write_files(report, study, results, tmp)
        (report_dir / REPORT_FILE).unlink(missing_ok=True)  # no report.json while the other files change
        for name in sorted(p.name for p in tmp.iterdir() if p.name != REPORT_FILE):
            os.replace(tmp / name, report_dir / name)
        os.replace(tmp / REPORT_FILE, report_dir / REPORT_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report_dir / "report.md"


def write_files(report: dict, study: Study, results: dict, report_dir: Path) -> Path:
    """report.json, answer.md, the plots and report.md into ``report_dir`` (``write_report``'s temporary folder)."""
    import matplotlib  # loaded when a report is written, never by an import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    write_json(report_dir / REPORT_FILE, report)
    # README's study paragraph, verbatim (tests/test_readme_study_answer.py compares the two)
    with atomic_write(report_dir / "answer.md") as f:
        f.write(answer_markdown(report, f"python -m pyserini_hybrid.study {report['study']} report") + "\n")
    page = Page(report, study, results, report_dir, plt)
    L = [line for section in (header_lines, selection_lines, lareqa_lines, heatmap_lines, grouped_lines,
                              adversarial_lines, diversity_lines, language_lines, beside_lines, curve_sections,
                              models_lines)
         for line in section(page)]
    path = report_dir / "report.md"
    with atomic_write(path) as f:
        f.write("\n".join(L))
    return path


def heatmap_lines(page: Page) -> list[str]:
    """X->Y mAP heatmaps of hybrid and the untuned model on each LAReQA set (their first seed)."""
    plots = []
    for name in ("hybrid", UNTUNED):
        for dataset in [d for d in LAREQA if d in page.study.datasets]:
            key = next((k for k in sorted(page.results) if k[0] == name and k[2] == dataset), None)
            if key:
                png = heatmap(page.results[key][0], page.folder / f"heatmap-{slug(name)}-{dataset}.png", "AP",
                              f"mAP X→Y, {name} (seed {key[1]}) on {dataset}")
                if png:
                    plots.append(png.name)
    return ["## X→Y mAP heatmaps", ""] + [f"![{p}]({p})" for p in plots] + [""] if plots else []


GROUPED = (("unseen", "Unseen languages",
            "Settings grouped by whether the query and candidate languages occur in the training data."),
           ("distance", "Distant and low-resource pairs",
            "Cross-lingual settings grouped by script, language family (top level) and resource class (Joshi et "
            "al. 2020; `pyserini_hybrid/data/languages.tsv`)."))
ADVERSARIAL = (
    "Topics of {languages} perturbed (typos: character noise; strip_marks: diacritics and tone marks removed; "
    "code_switch: the first half of the query, then the second half of its parallel question in another of these "
    "languages, drawn per query); mAP on clean and perturbed topics (first seed). Where the spliced language is "
    "the candidate language, code-switching helps cross-lingual retrieval: read its Cr column with care.")
DIVERSITY = "Hybrid trained on subsets of the training languages, same steps, first seed{run_on}."


def grouped_lines(page: Page) -> list[str]:
    """Settings grouped by seen languages and by distance: mean mAP per system with intervals, and a bar plot."""
    L = []
    for section, title, what in GROUPED:
        rows = page.report["tables"].get(section) or {}
        if not rows:
            continue
        names = [BM25, UNTUNED, *page.study.variants]
        L += [f"## {title}", "", what + " Intervals: hybrid minus the column's system (uncorrected, no tests).",
              "", "| group | settings | " + " | ".join(f"{n} | 95 % CI" for n in names) + " |",
              "|---|---:|" + "---:|" * (2 * len(names))]
        for label, row in rows.items():
            L.append(f"| {label} | {row['settings']} | " + " | ".join(f"{fmt(row.get(n))} | {fmt_ci(row.get(n))}"
                                                                      for n in names) + " |")
        png = _bar_plot(rows, names, page.folder / f"{section}.png", f"{title}: mean mAP", page.plt)
        L += ["", f"![{png.name}]({png.name})", ""]
    return L


def adversarial_lines(page: Page) -> list[str]:
    rows = page.report["tables"].get("adversarial")
    if not rows:
        return []
    cols = sorted({c for r in rows.values() for c in r})
    L = ["## Adversarial queries", "", ADVERSARIAL.format(languages=", ".join(page.study.adversarial.languages)),
         ""] + table_md(rows, cols, with_p=False) + [""]
    drops = {k: {c: v for c, v in r.items() if c.endswith("drop")} for k, r in rows.items()}
    png = _bar_plot(drops, sorted({c for r in drops.values() for c in r}), page.folder / "adversarial.png",
                    "mAP drop under perturbation", page.plt, nested=False)
    return L + [f"![{png.name}]({png.name})", ""]


def diversity_lines(page: Page) -> list[str]:
    rows, study = page.report["tables"].get("diversity"), page.study
    rows = {k: r for k, r in (rows or {}).items() if r}  # a model not trained yet has no row to show
    if not rows:
        return []
    cols = sorted({c for r in rows.values() for c in r})
    run_on = f", run on {', '.join(study.diversity_datasets)}" if study.diversity_datasets else ""
    L = ["## Training-language diversity", "", DIVERSITY.format(run_on=run_on), ""] + \
        table_md(rows, cols, with_p=False) + [""]
    path = page.folder / "diversity.png"
    png = (_diversity_curve(rows, cols, path, page.plt) if len(rows) > 2 else  # two points make no curve
           _bar_plot(rows, cols, path, "Training-language diversity", page.plt, nested=False))
    return L + [f"![{png.name}]({png.name})", ""]


def _diversity_curve(rows: dict, columns: list[str], path: Path, plt) -> Path:
    """Each measure against the number of training languages (a row's label: "hybrid [da+en+es+it]")."""
    sizes = [len(label.split("[", 1)[-1].rstrip("]").split("+")) for label in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for c in columns:
        points = sorted((n, r[c]["mean"]) for n, r in zip(sizes, rows.values()) if (r.get(c) or {}).get("mean") is not None)
        if len(points) > 1:  # a measure of the main runs alone (XQuAD-R, MLQA-R) is no curve: the table has it
            ax.plot(*zip(*points), marker="o", label=c)
    ax.set_xticks(sorted(set(sizes)))
    ax.set_xlabel("training languages (hybrid, first seed)")
    ax.set_title("Training-language diversity")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
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
    if columns:
        ax.legend(fontsize=7)
    else:  # a partial study: say so on the plot rather than draw an empty legend
        ax.text(0.5, 0.5, "no finished unit to compare yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
