"""The study report: ``report.md`` with its tables and plots, every number read from ``report.json``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ...core.files import atomic_write, clean_stale_temps, round_floats, temp_dir_in, write_json
from ...evaluate.render import heatmap
from ...evaluate.significance import format_interval, format_p, stars
from ..config import BM25, LAREQA, UNTUNED, Study, slug
from .curve_plots import curve_sections
from .headline import answer_markdown, details_markdown, headline_sentence


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
    if not c or c.get("p_vs_hybrid") is None:
        return "–"
    p = c.get("p_holm", c["p_vs_hybrid"])
    ci = c.get("ci_adjusted") or c.get("ci_hybrid_minus")
    interval = f" {format_interval(ci)}" if ci else ""
    if "p_holm" not in c:  # an uncorrected family: no stars, the interval says what is known
        return f"{format_p(p)}{interval}"
    return f"{format_p(p)}{stars(p)} (Holm){interval}" + (f" {c['decision']}" if c.get("decision") else "")


def fmt_ci(c: dict | None) -> str:
    """The 95 % interval of hybrid minus the row, without a test decision (grouped tables: many uncorrected
    comparisons, so intervals only)."""
    return format_interval((c or {}).get("ci_hybrid_minus")) or "–"


def power_table(report: dict) -> list[str]:
    """What each headline cell's test could see, at its Holm level (``headline.power_fields``)."""
    h = report.get("headline") or {}
    if not h.get("power"):
        return []
    L = ["### What the design could detect", "",
         f"Per headline cell, at its Holm-compatible level: the smallest difference found with 80 % power; the power "
         f"to show non-inferiority at {h['margin']} had hybrid equalled the row; the seeds per batching that would "
         "give 80 % for that, from the variance components observed (– : no number of seeds, the question "
         "sampling alone being too noisy). `python -m pyserini_hybrid.study FILE plan` prints the same.", "",
         "| cell | seeds | α (Holm) | MDE at 80 % | non-inferiority power | seeds for 80 % |", "|---|---:|---:|---:|---:|---:|"]
    for k, x in h["power"].items():
        L.append(f"| {k}{' †' if k in h.get('claim_cells', []) else ''} | {x['seeds']} | {x['alpha']:.4f} | "
                 f"{x['mde_80']:.4f} | {x['non_inferiority_power']:.0%} | {x['seeds_for_80'] or '–'} |")
    return L + [""]


def machine_lines(report: dict) -> list[str]:
    """Which CPU type trained each seed's batchings: fp32 training is not bit-reproducible across CPU types, so
    where one seed's batchings ran on different types their difference holds that too (said, not hidden)."""
    by_seed: dict = {}
    for name, u in report["units"].items():
        if u["kind"] in ("main", "sweep", "native", "diversity"):
            seed = name.rsplit("seed", 1)[-1] if "seed" in name else "-"
            by_seed.setdefault(seed, {})[name] = f"{u['cpu']} (family {u['family']} model {u['model']})"
    mixed = {s: units for s, units in by_seed.items() if len(set(units.values())) > 1}
    L = ["### Machines", "",
         "Training ran in fp32 on 2-core CPUs of several types. fp32 runs are **not reproducible across CPU types to "
         "the bit**: float reductions take other SIMD paths (AVX2, AVX-512, AMX), and first-batch losses differed by "
         "~5e-6 relative between types, growing over 580 steps; on one CPU type a run is repeatable. "]
    if mixed:
        L[-1] += ("Where one seed's units ran on different CPU types, the difference between them holds that machine "
                  "effect beside the batching's: " + "; ".join(
                      f"seed {s}: " + ", ".join(f"{n} on {c}" for n, c in sorted(units.items()))
                      for s, units in sorted(mixed.items())) + ".")
    else:
        L[-1] += "Every seed's units ran on one CPU type."
    return L + [""]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    write_json(report_dir / REPORT_FILE, report)
    # README's study paragraph, verbatim (tests/test_readme_study_answer.py compares the two)
    with atomic_write(report_dir / "answer.md") as f:
        f.write(answer_markdown(report, f"python -m pyserini_hybrid.study {report['study']} report") + "\n")
    t = report["tables"]
    L = [f"# Study: {study.name}{' (quick smoke run)' if study.quick else ''}", ""]
    if report["partial"]:
        L += [f"**Partial report**: {len(report['missing_units'])} unit(s) not done yet "
              f"({', '.join(report['missing_units'])}). No headline is drawn from a partial grid.", ""]
    fp = report["fingerprint"] or {}
    L += [f"X-X-mono, X-Y and hybrid(α = {study.variants['hybrid']}) batches fine-tuned from the same recipe "
          f"(`{Path(study.recipe).name}`) on the same training data ({', '.join(study.training_data) or 'all'}), "
          f"seeds {', '.join(map(str, study.seeds))}, budgets {', '.join(map(str, study.budgets))} steps: one run per "
          f"model under a constant learning rate after {study.warmup_steps} warm-up steps, so its step-N checkpoint "
          "is the N-step model whatever the total; every budget's **last step** is evaluated (no checkpoint is "
          f"chosen by any number). Runs {study.hits} deep; fusion = {study.fusion}; training and encoding in "
          f"{study.precision} (pinned by the study file). The study ran as units, each leaving its records in "
          "`units/`; this report was assembled from those files alone (no model, index or run file), every "
          "number below read from `report.json`.", "",
          "```bash", f"python -m pyserini_hybrid.study {report['study']}" + (" --quick" if study.quick else "")
          + " report", "```", "",
          f"Design fingerprint: study {fp.get('study')}, start model sha256 {str(fp.get('start_model_sha256'))[:16]}, "
          f"code {fp.get('code')}, data {', '.join(f'{k} {v}' for k, v in (fp.get('data') or {}).items())}; "
          f"versions {', '.join(f'{k} {v}' for k, v in (fp.get('versions') or {}).items())}.", "",
          "Tables: mean over training seeds ± sample standard deviation. p: hybrid against that row on the value "
          "the table shows (the macro average over settings), with training seeds as a level of variance (pooled "
          "over the three batchings when both are batchings; Bartlett's p for that pooling is in `report.json`) "
          "and the questions of one paragraph, with all their translations, as one cluster (variance components "
          "with a Welch–Satterthwaite t, `pyserini_hybrid/evaluate/significance.py`), followed by the 95 % interval "
          "of hybrid minus the row. The Mo/Cr/Mul mAP cells against X-X-mono and X-Y are Holm-adjusted over that "
          "whole family and decided as equivalent (interval inside ±"
          f"{report['headline']['margin'] if report.get('headline') else 0.01}, significant or not), better or "
          "worse (Holm p < 0.05 otherwise), non-inferior (lower end above −margin) or undecided; only those cells "
          "carry stars. Other p values are uncorrected and carry none.",
          "", headline_sentence(report["headline"]), "", *details_markdown(report), "",
          *power_table(report), *machine_lines(report),
          "**The paper's numbers are not beside ours**: the paper's Table 1 values are not available offline here, "
          "and its backbones (XLM-R, LaBSE) and training data differ from ours (multilingual-e5-small, SQuAD "
          "translations), so absolute numbers would not be comparable anyway.", ""]
    sel = report.get("selection") or {}
    if sel.get("table"):
        L += ["## Recipe settings, chosen on held-out training data", "",
              "Every batching trained with every setting (seed "
              f"{study.selection.get('seed')}, {study.selection.get('steps')} steps, a seed no main run uses), scored "
              "on the validation retrieval task built from held-out *training* groups (mean of Mo/Cr/Mul MRR@10; "
              "never XQuAD-R, MLQA-R or MIRACL). The best mean over the batchings is used for every model.", "",
              "| setting | " + " | ".join(study.variants) + " | mean | chosen |",
              "|---|" + "---:|" * (len(study.variants) + 1) + "---|"]
        for label, r in sel["table"].items():
            chosen = r["lr"] == sel["lr"] and r["temperature"] == sel["temperature"]
            L.append(f"| {label} | " + " | ".join(fmt({"mean": r["batchings"].get(b)}) for b in study.variants)
                     + f" | {fmt({'mean': r.get('mean')})} | {'yes' if chosen else ''} |")
        best = sel.get("best_per_batching") or {}
        L += ["", "Each batching's own best: " + "; ".join(f"{b} lr {v['lr']:g}, temperature {v['temperature']:g}"
                                                          for b, v in best.items()) + ".", ""]
    main = t["main"]
    for dataset in [d for d in LAREQA if d in study.datasets]:
        cols = [f"{dataset} {g} AP" for g in ("Mo", "Cr", "Mul")]
        L += [f"## {dataset}: mAP (Table 1 layout), {study.steps} steps", "",
              f"Dense rows: AP over the full ranking (LAReQA's mAP: every candidate ranked); BM25 and fusion rows: "
              f"AP@{study.hits} (their runs end there: a relevant candidate beyond counts as not found). p and "
              "interval of the headline's cells: Holm-adjusted p, Holm-compatible interval.", ""] + \
            table_md(main, cols) + [""]
        cols = [f"{dataset} {g} {m}" for g in ("Mo", "Cr", "Mul") for m in ("R@1", "R@10")] + [f"{dataset} rank distance"]
        L += [f"{dataset}: R@1, R@10 and rank distance (lower = less language bias; over every pool query with "
              "at least two relevant candidates, the same queries for every row). Dense rows: exact, from full "
              f"rankings. BM25 and fusion rows have no full ranking: a candidate beyond depth {study.hits} counts at "
              f"{study.hits + 1}, so theirs are lower bounds, not comparable with the dense rows.", ""] + \
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
            L += [f"## {title}", "", what + " Intervals: hybrid minus the column's system (uncorrected, no tests).",
                  "", "| group | settings | " + " | ".join(f"{n} | 95 % CI" for n in names) + " |",
                  "|---|---:|" + "---:|" * (2 * len(names))]
            for label, row in rows.items():
                L.append(f"| {label} | {row['settings']} | " + " | ".join(f"{fmt(row.get(n))} | {fmt_ci(row.get(n))}"
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
    if t.get("language"):
        cols = sorted({c for r in t["language"].values() for c in r})
        L += ["## Language preference on the multilingual pool", "", "own@10 / en@10: share of a pool query's "
              "first 10 candidates in the query's language / in English (mean over queries, then query languages; "
              "en@10 leaves English queries out); rank correlation: Spearman's rho between the pool rankings of one "
              "question's translations, mean over language pairs (dense systems only); PEER@10 / PEER@100: the "
              "probability that relevant candidates of every language have equal expected rank in the top k (Yang "
              "et al., SIGIR 2024, by its authors' `peer-measure`; 1 = no language ranked ahead; mean over queries, "
              "then query languages; BM25 and fusion runs end at their depth). Definitions in "
              "`pyserini_hybrid/study/language_measures.py`.", ""] + \
            table_md(t["language"], cols, with_p=False, digits=3) + [""]
    L += curve_sections(report, study, report_dir, plt, table_md)
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
    L += ["", "## Units: machines and time", "", "Each unit ran as one job; the machine is the one it ran on (units "
          "of one seed are meant to share a machine, so that machine is never confounded with batching).", "",
          "| unit | kind | CPU (family/model; flags) | precision | minutes | of which training | commit |",
          "|---|---|---|---|---:|---:|---|"]
    for name, u in report["units"].items():
        L.append(f"| {name} | {u['kind']} | {u['cpu']} ({u['family']}/{u['model']}; {' '.join(u['flags'] or [])}) | "
                 f"{u['precision']} | {u['minutes']:.1f} | {u['train_minutes']:.1f} | `{(u['commit'] or '?')[:12]}` |")
    L += ["", f"Machine time of the finished units: {report['machine_hours']:.2f} h.", "",
          "A unit is rerun on its own with `python -m pyserini_hybrid.study "
          f"{report['study']}{' --quick' if study.quick else ''} run --units NAME`, from a checkout of the commit "
          "shown (the design fingerprint must match).", ""]
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
    if columns:
        ax.legend(fontsize=7)
    else:  # a partial study: say so on the plot rather than draw an empty legend
        ax.text(0.5, 0.5, "no finished unit to compare yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
