"""Evaluation results for people: the markdown table, the query x candidate language heatmap, the files.

``write_outputs`` writes ``results.json`` (the numbers), ``results.md``, ``per-query.tsv`` and
``heatmap-map.png`` into a run directory's ``eval/``; tables and plots are computed from the result
dict only, so they can be redrawn from ``results.json``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.files import atomic_write, clean_temps_in, temp_dir_in, write_json
from ..core.lock import output_lock
from ..data.topic_sets import POOL
from .measures import MEASURES


def markdown(result: dict, system: str = "") -> str:
    title = f"{system} on {result['dataset']}" if system else result["dataset"]
    measures = result.get("measures") or MEASURES
    lines = [f"## {title}", "", f"Run depth {result['depth']}; {result['run_dir']}", ""]
    if result["macro"]:
        lines += ["| average | settings | " + " | ".join(measures) + " |", "|---|---:|" + "---:|" * len(measures)]
        for name, vals in result["macro"].items():
            lines.append(f"| {name} | {vals['settings']} | " + " | ".join(f"{vals[m]:.4f}" for m in measures) + " |")
        lines.append("")
    if "rank_distance" in result:
        rd = result["rank_distance"]
        macro = f"{rd['macro']:.1f}" if rd["macro"] is not None else "undefined"
        lines += [f"Rank distance (pool, macro over query languages): **{macro}** over {rd['queries']} queries "
                  f"({rd['queries_undefined']} left out: fewer than two relevant candidates, or none retrieved); "
                  f"{rd['relevant_missing_from_run']} of {rd['relevant_total']} relevant candidates were "
                  f"missing from the run and counted at rank {rd.get('counted_at', result['depth'] + 1)}.", ""]
    if "groups" in result:
        lines += bitext_groups(result)
    lines += ["| setting | queries | " + " | ".join(measures) + " |", "|---|---:|" + "---:|" * len(measures)]
    for key, vals in result["settings"].items():
        lines.append(f"| {key} | {vals['queries']} | " + " | ".join(f"{vals[m]:.4f}" for m in measures) + " |")
    return "\n".join(lines) + "\n"


ARROWS = {"X-en": "X→en", "en-X": "en→X", "Mul": "pool"}


def bitext_groups(result: dict) -> list[str]:
    """NTREX's language-share line and its grouped averages (resource class, script, family, seen/unseen)."""
    lines = []
    share = result.get("language_share")
    if share and share["own@10"] is not None:
        lines += [f"Pool, first 10 candidates: **{share['own@10']:.3f}** in the query's own language (own@10), "
                  f"**{share['en@10'] or 0:.3f}** in English (en@10, English queries left out).", ""]
    trained = result.get("training_languages")
    if trained:
        lines += [f"Seen/unseen: {trained['source']} ({len(trained['languages'])} languages: "
                  f"{' '.join(trained['languages']) or 'none'}).", ""]
    heads = [(d, m) for m in result["measures"] for d in ARROWS]
    for kind, groups in result["groups"].items():
        lines += [f"| {kind} | languages | " + " | ".join(f"{ARROWS[d]} {m}" for d, m in heads) + " |",
                  "|---|---:|" + "---:|" * len(heads)]
        for label, g in groups.items():
            cells = [f"{g[d][m]:.4f}" if d in g else "–" for d, m in heads]
            lines.append(f"| {label} | {len(g['languages'])} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def bitext_summary(results: dict[str, dict], caption: str) -> list[str]:
    """The benchmark's NTREX table (system -> result): macro P@1/MRR@10/nDCG@10 per direction, rank distance
    and language shares on the pool, then P@1 by resource class and seen/unseen."""
    cols = [("X-en", "P@1"), ("en-X", "P@1"), ("X-en", "RR@10"), ("en-X", "RR@10"), ("X-en", "nDCG@10"),
            ("en-X", "nDCG@10"), ("Mul", "nDCG@10")]
    names = {"P@1": "P@1", "RR@10": "MRR@10", "nDCG@10": "nDCG@10"}
    lines = [caption, "", "| system | " + " | ".join(f"{ARROWS[d]} {names[m]}" for d, m in cols)
             + " | rank dist. | own@10 | en@10 |", "|---|" + "---:|" * (len(cols) + 3)]
    for system, r in results.items():
        cells = [f"{r['macro'][d][m]:.4f}" if d in r["macro"] else "–" for d, m in cols]
        rd, share = r.get("rank_distance") or {}, r.get("language_share") or {}
        cells += [f"{rd['macro']:.1f}" if rd.get("macro") is not None else "–"]
        cells += [f"{share[k]:.3f}" if share.get(k) is not None else "–" for k in ("own@10", "en@10")]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    labels = list(dict.fromkeys(g for r in results.values() for k in ("resource class", "training")
                                for g in r["groups"].get(k, {})))
    lines += ["", "P@1, mean of X→en and en→X, by resource class of X (Joshi et al. 2020) and by whether the "
              "model's training card lists X (BM25: no model):", "",
              "| system | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for system, r in results.items():
        groups = {**r["groups"].get("resource class", {}), **r["groups"].get("training", {})}
        cells = []
        for label in labels:
            g = groups.get(label, {})
            vals = [g[d]["P@1"] for d in ("X-en", "en-X") if d in g]
            cells.append(f"{np.mean(vals):.4f}" if vals else "–")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return lines + [""]


def heatmap(result: dict, path: Path, measure: str = "AP", title: str = "") -> Path | None:
    """Query language (rows) x candidate language (columns, plus the pool) matrix of ``measure``."""
    langs = result["languages"]
    cols = langs + ([POOL] if any(k.endswith(f"-{POOL}") for k in result["settings"]) else [])
    if "groups" in result or not any(f"{x}-{y}" in result["settings"] for x in langs for y in langs if x != y):
        return None  # monolingual-only sets (MIRACL) have no matrix to show, NTREX's has only a row and a column
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.full((len(langs), len(cols)), np.nan)
    for i, x in enumerate(langs):
        for j, y in enumerate(cols):
            if f"{x}-{y}" in result["settings"]:
                m[i, j] = result["settings"][f"{x}-{y}"][measure]
    fig, ax = plt.subplots(figsize=(max(4.5, 1.5 + 0.6 * len(cols)), max(3.5, 1.2 + 0.55 * len(langs))))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(langs)), langs)
    ax.set_xlabel("candidate language")
    ax.set_ylabel("query language")
    for i in range(len(langs)):
        for j in range(len(cols)):
            if not np.isnan(m[i, j]):
                label = f"{m[i, j]:.2f}"
                ax.text(j, i, label[1:] if label.startswith("0") else label, ha="center", va="center",
                        fontsize=7, color="white" if m[i, j] < 0.5 else "black")
    ax.set_title(title or f"m{measure} {result['dataset']}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return path


def write_outputs(result: dict, output: Path, system: str) -> dict[str, Path]:
    """Write the results into ``output`` all together or not at all: each file is made under a temporary
    name first (a full disk stops here, the old files untouched), then ``results.json`` goes, the others
    replace theirs (or go, when this result has none), and the new ``results.json`` comes last, so a
    directory caught half-updated never looks complete. One writer per ``output``."""
    with output_lock(output, "evaluation"):
        clean_temps_in(output)  # what a killed writer left
        return _write_outputs(result, output, system)


OUTPUT_FILES = ("results.md", "per-query.tsv", "heatmap-map.png")


def _write_outputs(result: dict, output: Path, system: str) -> dict[str, Path]:
    output.mkdir(parents=True, exist_ok=True)
    per_query = result.pop("per_query", {})
    result = {**result, "system": system}
    stage = temp_dir_in(output, "results")
    try:
        try:
            write_json(stage / "results.json", result)
            (stage / "results.md").write_text(markdown(result, system), encoding="utf-8")
            if per_query:
                rows = pd.concat([t.assign(setting=k) for k, t in per_query.items()])
                with open(stage / "per-query.tsv", "w", encoding="utf-8") as f:
                    rows.reset_index().to_csv(f, sep="\t", index=False, float_format="%.6f")
            heatmap(result, stage / "heatmap-map.png", "AP", f"mAP, {system} on {result['dataset']}")
        except OSError as e:  # a full disk: name the output, not the temporary
            if e.errno is None:
                raise
            raise OSError(e.errno, e.strerror, str(output)) from None
        (output / "results.json").unlink(missing_ok=True)
        for name in OUTPUT_FILES:
            if (stage / name).is_file():
                os.replace(stage / name, output / name)
            else:  # not one of this result's files: an old one would pass for it
                (output / name).unlink(missing_ok=True)
        os.replace(stage / "results.json", output / "results.json")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    paths = {"json": output / "results.json", "markdown": output / "results.md"}
    if per_query:
        paths["per_query"] = output / "per-query.tsv"
    if (output / "heatmap-map.png").is_file():
        paths["heatmap"] = output / "heatmap-map.png"
    return paths
