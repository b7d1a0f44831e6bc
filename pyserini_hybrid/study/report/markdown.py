"""report.md's text sections: cells and tables formatted from report.json, the prose as templates here (the
plotted sections are in ``write``, the curves in ``curve_plots``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...evaluate.significance import format_interval, format_p, stars
from ..config import LAREQA, Study
from .headline import details_markdown, headline_sentence


@dataclass(frozen=True)
class Page:
    """What a section of report.md reads: the rounded report, the study file, the per-query results (heatmaps)
    and where plots go (``plt``: pyplot, loaded when a report is written)."""
    report: dict
    study: Study
    results: dict
    folder: Path
    plt: object = None


def fmt(c: dict | None, digits: int = 4) -> str:
    if not c or c.get("mean") is None:  # None: not measured (e.g. a one-language model has no X-Y validation)
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


INTRO = (
    "X-X-mono, X-Y and hybrid(α = {hybrid}) batches fine-tuned from the same recipe (`{recipe}`) on the same "
    "training data ({training_data}), seeds {seeds}, budgets {budgets} steps: one run per model under a constant "
    "learning rate after {warmup} warm-up steps, so its step-N checkpoint is the N-step model whatever the total; "
    "every budget's **last step** is evaluated (no checkpoint is chosen by any number). Runs {hits} deep; fusion "
    "= {fusion}; training and encoding in {precision} (pinned by the study file). The study ran as units, each "
    "leaving its records in `units/`; this report was assembled from those files alone (no model, index or run "
    "file), every number below read from `report.json`.")
FINGERPRINT = ("Design fingerprint: study {study}, start model sha256 {start}, code {code}, data {data}; "
               "versions {versions}.")
TESTS = (
    "Tables: mean over training seeds ± sample standard deviation. p: hybrid against that row on the value the "
    "table shows (the macro average over settings), with training seeds as a level of variance (pooled over the "
    "three batchings when both are batchings; Bartlett's p for that pooling is in `report.json`) and the questions "
    "of one paragraph, with all their translations, as one cluster (variance components with a "
    "Welch–Satterthwaite t, `pyserini_hybrid/evaluate/significance.py`), followed by the 95 % interval of hybrid "
    "minus the row. The Mo/Cr/Mul mAP cells against X-X-mono and X-Y are Holm-adjusted over that whole family "
    "and decided as equivalent (interval inside ±{margin}, significant or not), better or worse (Holm p < 0.05 "
    "otherwise), non-inferior (lower end above −margin) or undecided; only those cells carry stars. Other p "
    "values are uncorrected and carry none.")
POWER = (
    "Per headline cell, at its Holm-compatible level: the smallest difference found with 80 % power; the power to "
    "show non-inferiority at {margin} had hybrid equalled the row; the seeds per batching that would give 80 % for "
    "that, from the variance components observed (– : no number of seeds, the question sampling alone being too "
    "noisy). `python -m pyserini_hybrid.study FILE plan` prints the same.")
MACHINES = (
    "Training ran in fp32 on 2-core CPUs of several types. fp32 runs are **not reproducible across CPU types to "
    "the bit**: float reductions take other SIMD paths (AVX2, AVX-512, AMX), and first-batch losses differed by "
    "~5e-6 relative between types, growing over 580 steps; on one CPU type a run is repeatable. ")
MIXED_MACHINES = ("Where one seed's units ran on different CPU types, the difference between them holds that "
                  "machine effect beside the batching's: {mixed}.")
PAPER = (
    "**The paper's numbers are not beside ours**: the paper's Table 1 values are not available offline here, and "
    "its backbones (XLM-R, LaBSE) and training data differ from ours (multilingual-e5-small, SQuAD translations), "
    "so absolute numbers would not be comparable anyway.")
SELECTION = (
    "Every batching trained with every setting (seed {seed}, {steps} steps, a seed no main run uses), scored on "
    "the validation retrieval task built from held-out *training* groups (mean of Mo/Cr/Mul MRR@10; never "
    "XQuAD-R, MLQA-R or MIRACL). The best mean over the batchings is used for every model.")
LAREQA_MAP = (
    "Dense rows: AP over the full ranking (LAReQA's mAP: every candidate ranked); BM25 and fusion rows: AP@{hits} "
    "(their runs end there: a relevant candidate beyond counts as not found). p and interval of the headline's "
    "cells: Holm-adjusted p, Holm-compatible interval.")
LAREQA_RANKS = (
    "{dataset}: R@1, R@10 and rank distance (lower = less language bias; over every pool query with at least two "
    "relevant candidates, the same queries for every row). Dense rows: exact, from full rankings. BM25 and "
    "fusion rows have no full ranking: a candidate beyond depth {hits} counts at {beyond}, so theirs are lower "
    "bounds, not comparable with the dense rows.")
LANGUAGE = (
    "own@10 / en@10: share of a pool query's first 10 candidates in the query's language / in English (mean over "
    "queries, then query languages; en@10 leaves English queries out); rank correlation: Spearman's rho between "
    "the pool rankings of one question's translations, mean over language pairs (dense systems only); PEER@10 / "
    "PEER@100: the probability that relevant candidates of every language have equal expected rank in the top k "
    "(Yang et al., SIGIR 2024, by its authors' `peer-measure`; 1 = no language ranked ahead; mean over queries, "
    "then query languages; BM25 and fusion runs end at their depth). Definitions in "
    "`pyserini_hybrid/study/language_measures.py`.")
MODELS_HEAD = [
    "## Models, data and time", "", "Batches as actually drawn (from each model's training card).", "",
    "| model | sha256 (16) | steps | precision | realised α | batches by dataset | val. Mo/Cr/Mul MRR@10 | train s |",
    "|---|---|---:|---|---:|---|---|---:|"]
UNITS_HEAD = [
    "", "## Units: machines and time", "", "Each unit ran as one job; the machine is the one it ran on (units of one "
    "seed are meant to share a machine, so that machine is never confounded with batching).", "",
    "| unit | kind | CPU (family/model; flags) | precision | minutes | of which training | commit |",
    "|---|---|---|---|---:|---:|---|"]
RERUN = ("A unit is rerun on its own with `python -m pyserini_hybrid.study {study}{quick} run --units NAME`, from a "
         "checkout of the commit shown (the design fingerprint must match).")


def _listing(values: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (values or {}).items())


def header_lines(page: Page) -> list[str]:
    """Title, the design, the command, the fingerprint, how to read the tables, the headline and its power."""
    report, study = page.report, page.study
    L = [f"# Study: {study.name}{' (quick smoke run)' if study.quick else ''}", ""]
    if report["partial"]:
        L += [f"**Partial report**: {len(report['missing_units'])} unit(s) not done yet "
              f"({', '.join(report['missing_units'])}). No headline is drawn from a partial grid.", ""]
    fp = report["fingerprint"] or {}
    intro = INTRO.format(hybrid=study.variants["hybrid"], recipe=Path(study.recipe).name,
                         training_data=", ".join(study.training_data) or "all", seeds=", ".join(map(str, study.seeds)),
                         budgets=", ".join(map(str, study.budgets)), warmup=study.warmup_steps, hits=study.hits,
                         fusion=study.fusion, precision=study.precision)
    command = f"python -m pyserini_hybrid.study {report['study']}" + (" --quick" if study.quick else "") + " report"
    fingerprint = FINGERPRINT.format(study=fp.get("study"), start=str(fp.get("start_model_sha256"))[:16],
                                     code=fp.get("code"), data=_listing(fp.get("data")),
                                     versions=_listing(fp.get("versions")))
    margin = report["headline"]["margin"] if report.get("headline") else 0.01
    return L + [intro, "", "```bash", command, "```", "", fingerprint, "", TESTS.format(margin=margin), "",
                headline_sentence(report["headline"]), "", *details_markdown(report), "", *power_table(report),
                *machine_lines(report), PAPER, ""]


def power_table(report: dict) -> list[str]:
    """What each headline cell's test could see, at its Holm level (``headline.power_fields``)."""
    h = report.get("headline") or {}
    if not h.get("power"):
        return []
    L = ["### What the design could detect", "", POWER.format(margin=h["margin"]), "",
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
    if mixed:
        text = MACHINES + MIXED_MACHINES.format(mixed="; ".join(
            f"seed {s}: " + ", ".join(f"{n} on {c}" for n, c in sorted(units.items()))
            for s, units in sorted(mixed.items())))
    else:
        text = MACHINES + "Every seed's units ran on one CPU type."
    return ["### Machines", "", text, ""]


def selection_lines(page: Page) -> list[str]:
    """The recipe settings tried on held-out training data, and the one chosen."""
    study, sel = page.study, page.report.get("selection") or {}
    if not sel.get("table"):
        return []
    L = ["## Recipe settings, chosen on held-out training data", "",
         SELECTION.format(seed=study.selection.seed, steps=study.selection.steps), "",
         "| setting | " + " | ".join(study.variants) + " | mean | chosen |",
         "|---|" + "---:|" * (len(study.variants) + 1) + "---|"]
    for label, r in sel["table"].items():
        chosen = r["lr"] == sel["lr"] and r["temperature"] == sel["temperature"]
        L.append(f"| {label} | " + " | ".join(fmt({"mean": r["batchings"].get(b)}) for b in study.variants)
                 + f" | {fmt({'mean': r.get('mean')})} | {'yes' if chosen else ''} |")
    best = sel.get("best_per_batching") or {}
    return L + ["", "Each batching's own best: " + "; ".join(
        f"{b} lr {v['lr']:g}, temperature {v['temperature']:g}" for b, v in best.items()) + ".", ""]


def lareqa_lines(page: Page) -> list[str]:
    """Per LAReQA set: mAP in the paper's Table 1 layout, then R@1, R@10 and rank distance; then MIRACL."""
    study, t = page.study, page.report["tables"]
    L = []
    for dataset in [d for d in LAREQA if d in study.datasets]:
        cols = [f"{dataset} {g} AP" for g in ("Mo", "Cr", "Mul")]
        L += [f"## {dataset}: mAP (Table 1 layout), {study.steps} steps", "", LAREQA_MAP.format(hits=study.hits),
              ""] + table_md(t["main"], cols) + [""]
        cols = [f"{dataset} {g} {m}" for g in ("Mo", "Cr", "Mul") for m in ("R@1", "R@10")] + [f"{dataset} rank distance"]
        L += [LAREQA_RANKS.format(dataset=dataset, hits=study.hits, beyond=study.hits + 1), ""] + \
            table_md(t["main"], cols, with_p=False) + [""]
    if t.get("miracl"):
        cols = list(next(iter(t["miracl"].values())).keys())
        L += ["## MIRACL-mini (monolingual; mean over languages)", ""] + table_md(t["miracl"], cols) + [""]
    return L + ntrex_lines(page) + merge_lines(page)


NTREX_TEXT = (
    "Bitext retrieval on NTREX-128's languages ({n} besides English): X→en and en→X over all {lines} lines, the "
    "pool (every language's sentences as candidates, each query's own sentence out) over the queries of every "
    "fourth line; mean over languages, mean ± sd over seeds; p and 95 % interval of hybrid minus the row on "
    "P@1 (seeds a level of variance, a sentence's translations one cluster; not Holm-corrected: outside the "
    "headline's family). NTREX is WMT newstest2019, which pretrained encoders may have met: compare systems "
    "with each other, not with published figures.")
NTREX_GROUPS = ("P@1 over X→en and en→X of each group's languages (seen/unseen: in the batchings' training "
                "data); hybrid minus each pure batching with its 95 % interval, uncorrected (many groups).")


MERGE_TEXT = ("Each batching's first-seed model averaged in weight space with the start model (weight {weight} "
              "on the trained one; `python -m pyserini_hybrid.train merge`): the merged model, its batching and "
              "the untuned model; +merge minus its batching with a 95 % interval over questions (one model "
              "each: no seed variance).")


def merge_lines(page: Page) -> list[str]:
    rows = page.report["tables"].get("merge")
    if not rows:
        return []
    cols = list(dict.fromkeys(c for r in rows.values() for c in r))
    L = ["## +merge: the trained model averaged with the start model", "",
         MERGE_TEXT.format(weight=page.study.merge.weight), "",
         "| model | " + " | ".join(f"{c} (+merge / batching / untuned)" for c in cols) + " | " +
         " | ".join(f"{c}: +merge − batching" for c in cols) + " |", "|---|" + "---:|" * (2 * len(cols))]
    for name, row in rows.items():
        triple = [" / ".join("–" if row.get(c, {}).get(k) is None else f"{row[c][k]:.4f}"
                             for k in ("mean", "batching", "untuned")) for c in cols]
        L.append(f"| {name} | " + " | ".join(triple) + " | " + " | ".join(fmt_p(row.get(c)) for c in cols) + " |")
    return L + [""]


def ntrex_lines(page: Page) -> list[str]:
    t, metas = page.report["tables"], page.report.get("ntrex_meta") or {}
    if not t.get("ntrex"):
        return []
    cols = [f"{d} {m}" for d in ("X→en", "en→X", "Mul") for m in ("P@1", "RR@10", "nDCG@10")]
    cols = [c for c in cols if any(c in r for r in t["ntrex"].values())]
    text = NTREX_TEXT.format(n=metas.get("languages", "?"), lines=metas.get("lines", "?"))
    L = ["## NTREX-128: X→en, en→X and the pool", "", text, ""]
    L += table_md(t["ntrex"], [c for c in cols if c.endswith("P@1")]) + [""]
    L += table_md(t["ntrex"], [c for c in cols if not c.endswith("P@1")], with_p=False) + [""]
    if t.get("ntrex_groups"):
        names = list(next(iter(t["ntrex_groups"].values())).keys())
        # hybrid minus each other batching, once hybrid has run (a partial study may not have it yet)
        others = [n for n in names if n != "hybrid"] if "hybrid" in names else []
        L += ["### NTREX by language group", "", NTREX_GROUPS, "", "| group | " + " | ".join(
              names + [f"hybrid − {n}" for n in others]) + " |", "|---|" + "---:|" * (len(names) + len(others))]
        for label, row in t["ntrex_groups"].items():
            L.append(f"| {label} | " + " | ".join([fmt(row.get(n), 3) for n in names] +
                                                  [fmt_ci(row.get(n)) for n in others]) + " |")
        L.append("")
    return L


def language_lines(page: Page) -> list[str]:
    rows = page.report["tables"].get("language")
    if not rows:
        return []
    cols = sorted({c for r in rows.values() for c in r})
    return ["## Language preference on the multilingual pool", "", LANGUAGE, ""] + \
        table_md(rows, cols, with_p=False, digits=3) + [""]


def models_lines(page: Page) -> list[str]:
    """Each model's facts from its training card, the training pairs, each unit's machine and time."""
    report, study = page.report, page.study
    L = list(MODELS_HEAD)
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
    L += UNITS_HEAD
    for name, u in report["units"].items():
        L.append(f"| {name} | {u['kind']} | {u['cpu']} ({u['family']}/{u['model']}; {' '.join(u['flags'] or [])}) | "
                 f"{u['precision']} | {u['minutes']:.1f} | {u['train_minutes']:.1f} | `{(u['commit'] or '?')[:12]}` |")
    return L + ["", f"Machine time of the finished units: {report['machine_hours']:.2f} h.", "",
                RERUN.format(study=report["study"], quick=" --quick" if study.quick else ""), ""]
