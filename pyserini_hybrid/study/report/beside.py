"""Another study's answer beside this one's (``report --beside REPORT_JSON``): how the answer moved when the
training data changed. The two are separate experiments (other training data, seeds and fingerprints), so each
cell keeps its own study's interval and decision, and no test compares them: read from both report.json files,
nothing recomputed."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import InputError
from ...core.files import PROJECT_ROOT, load_json
from ...evaluate.significance import format_interval
from ..config import LAREQA, UNTUNED

GROUPS = ("Mo", "Cr", "Mul")
BASES = ("X-X-mono", "X-Y")
MIRACL_SYSTEMS = (UNTUNED, "X-X-mono", "X-Y", "hybrid")
SIDES = ("beside", "this")


def load_beside(path: Path) -> tuple[dict, str]:
    """The other study's report.json and the name it is shown by (relative to the project when inside it, else
    the file's folder and name: never a path of this machine). One line when it is not a study's report."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--beside {path}: no such file (give another study's report.json)")
    try:
        report = load_json(path)
    except (InputError, ValueError) as e:  # load_json's own line names the file and the fault
        raise InputError(f"--beside {e}") from None
    if not isinstance(report, dict) or "main" not in (report.get("tables") or {}) or "study" not in report:
        raise InputError(f"--beside {path}: not a study's report.json (no tables.main); run `report` for that study")
    full = path.resolve()
    shown = full.relative_to(PROJECT_ROOT) if full.is_relative_to(PROJECT_ROOT) else Path(full.parent.name, full.name)
    return report, shown.as_posix()


def _cell(report: dict, base: str, key: str) -> dict | None:
    """hybrid minus ``base`` on one cell: the Holm-compatible interval and decision where the study decided it,
    else (a partial study) the unadjusted 95 % interval and no decision."""
    c = (report["tables"]["main"].get(base) or {}).get(key) or {}
    if c.get("diff_hybrid_minus") is None:
        return None
    decided = c.get("decision") is not None
    seeds = ((report["tables"]["main"].get("hybrid") or {}).get(key) or {}).get("seeds")
    return {"diff": c["diff_hybrid_minus"], "ci": c.get("ci_adjusted") if decided else c.get("ci_hybrid_minus"),
            "interval": "holm" if decided else "unadjusted", "decision": c.get("decision"), "seeds": seeds}


def _miracl(report: dict, system: str) -> float | None:
    row = (report["tables"].get("miracl") or {}).get(system) or {}
    key = next((k for k in row if k.startswith("nDCG@10")), None)
    return (row.get(key) or {}).get("mean") if key else None


def beside_table(this: dict, other: dict, shown: str) -> dict:
    """{"report", "study", "seeds", "training_data", "partial", "machine_hours": of the other study; "cells":
    {"<base> <set> <group>": {"beside": cell, "this": cell}} of hybrid minus each pure batching on Mo/Cr/Mul
    mAP; "claim": {set: {side: verdict}}; "miracl": {system: {side: nDCG@10}}; "rank_distance": {set: {system:
    {side: mean}}}} (None where a side has no value)."""
    sides = dict(zip(SIDES, (other, this)))
    datasets = [d for d in LAREQA if any(f"{d} Mo AP" in (r["tables"]["main"].get("hybrid") or {})
                                         for r in sides.values())]
    data = ((other.get("data") or {}).get("hybrid") or {}).get("pairs") or {}  # "squad/en": pairs
    out = {"report": shown, "study": other["study"], "seeds": other.get("seeds"),
           "training_data": other.get("training_data"), "training_languages": list(dict.fromkeys(
               k.split("/")[-1] for k in data)), "training_pairs": sum(data.values()), "partial": other.get("partial"),
           "machine_hours": other.get("machine_hours"), "margin": (other.get("headline") or {}).get("margin"),
           "cells": {}, "claim": {}, "miracl": {}, "rank_distance": {}}
    for d in datasets:
        for base in BASES:
            for g in GROUPS:
                out["cells"][f"{base} {d} {g}"] = {s: _cell(r, base, f"{d} {g} AP") for s, r in sides.items()}
        out["claim"][d] = {s: ((r.get("headline") or {}).get("claim") or {}).get(d) for s, r in sides.items()}
        out["rank_distance"][d] = {n: {s: ((r["tables"]["main"].get(n) or {}).get(f"{d} rank distance") or {})
                                       .get("mean") for s, r in sides.items()} for n in MIRACL_SYSTEMS}
    out["miracl"] = {n: {s: _miracl(r, n) for s, r in sides.items()} for n in MIRACL_SYSTEMS}
    return out


def _fmt_cell(c: dict | None) -> list[str]:
    if not c:
        return ["–", "–"]
    mark = "" if c["interval"] == "holm" else " (unadjusted)"
    return [f"{c['diff']:+.4f} {format_interval(c['ci'])}{mark}", c["decision"] or "–"]


def _fmt(v: float | None, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


BESIDE_TEXT = (
    "The study `{study}` ({seeds} seeds; training data {data}: {langs}, {pairs:,} pairs; {hours} machine-hours{partial}), quoted from "
    "`{report}` beside this one. They are separate experiments, other training data and seeds under their own "
    "fingerprints, so each cell keeps its own study's interval and decision (Holm over its own family; "
    "\"unadjusted\" where a study is partial and decides nothing) and no test compares the two: a cell that "
    "moved is a question for a design that varies the data within one study (the diversity units), not a finding.")


def beside_lines(page) -> list[str]:
    """report.md's section: the other study's cells beside this one's, its MIRACL and rank distance, a plot."""
    b = page.report.get("beside")
    if not b:
        return []
    other, mine = Path(b["study"]).stem, Path(page.report["study"]).stem
    L = [f"## Beside {other}", "", BESIDE_TEXT.format(
        study=other, seeds=len(b["seeds"] or []), data=", ".join(b["training_data"] or []),
        langs=", ".join(b["training_languages"]) or "–", pairs=b["training_pairs"],
        hours=b["machine_hours"], partial=", partial" if b["partial"] else "", report=b["report"]), "",
        f"| hybrid − | {other} | decision | {mine} | decision |", "|---|---|---|---|---|"]
    for k, sides in b["cells"].items():
        L.append(f"| {k} | " + " | ".join(_fmt_cell(sides["beside"]) + _fmt_cell(sides["this"])) + " |")
    for d, sides in b["claim"].items():
        L.append(f"| the paper's claim, {d} | | {sides['beside'] or '–'} | | {sides['this'] or '–'} |")
    L += ["", f"| system | {other} MIRACL nDCG@10 | {mine} MIRACL nDCG@10 | "
          + " | ".join(f"{s} {d} rank distance" for d in b["rank_distance"] for s in (other, mine)) + " |",
          "|---|---:|---:|" + "---:|" * (2 * len(b["rank_distance"]))]
    for n, sides in b["miracl"].items():
        rd = [_fmt(b["rank_distance"][d][n][s], 1) for d in b["rank_distance"] for s in SIDES]
        L.append(f"| {n} | {_fmt(sides['beside'], 4)} | {_fmt(sides['this'], 4)} | " + " | ".join(rd) + " |")
    png = beside_plot(b, mine, page.folder / "beside.png", page.plt)
    return L + ["", f"![{png.name}]({png.name})", ""]


def beside_plot(b: dict, mine: str, path: Path, plt) -> Path:
    """Each cell's hybrid-minus difference with its interval, the two studies side by side around zero."""
    keys = list(b["cells"])
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(keys) + 1.2))
    for j, (side, label) in enumerate(zip(SIDES, (Path(b["study"]).stem, mine))):
        for i, k in enumerate(keys):
            c = b["cells"][k][side]
            if c:
                y = i + (j - 0.5) * 0.3
                ax.errorbar(c["diff"], y, xerr=[[c["diff"] - c["ci"][0]], [c["ci"][1] - c["diff"]]] if c["ci"]
                            else None, fmt="o" if c["interval"] == "holm" else "s", color=f"C{j}", capsize=2,
                            label=label)
                label = None  # one legend entry per study: its first cell
    ax.axvline(0, color="grey", lw=0.8)
    if b.get("margin"):  # the decisions' margin: an interval inside the band is "equivalent"
        ax.axvspan(-b["margin"], b["margin"], color="grey", alpha=0.15, lw=0)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"hybrid − {k}" for k in keys], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("hybrid minus the pure batching, mAP")
    ax.set_title("circles: Holm-compatible interval; squares: unadjusted (partial study)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def beside_sentence(report: dict) -> str | None:
    """The answer's line on the other study: each claim verdict and each claim cell's difference, there and here."""
    b = report.get("beside")
    if not b:
        return None
    claim = "; ".join(f"{d} {s['beside'] or '–'} → {s['this'] or '–'}" for d, s in b["claim"].items())
    moved = ", ".join(f"{k} {s['beside']['diff']:+.4f} → {s['this']['diff']:+.4f}" for k, s in b["cells"].items()
                      if s["beside"] and s["this"] and k in (report.get("headline") or {}).get("claim_cells", []))
    return (f"Beside the study `{b['study']}` ({len(b['seeds'] or [])} seeds, trained on "
            f"{', '.join(b['training_languages']) or '–'}; its own intervals, no test across the two): the paper's claim "
            f"{claim}" + (f"; hybrid minus the pure batching on the claim's cells {moved}" if moved else "") + ".")
