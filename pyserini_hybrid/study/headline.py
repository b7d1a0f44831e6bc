"""The study's answer: each Mo/Cr/Mul cell of hybrid against the pure batchings decided within a stated
margin (better / worse / equivalent / non-inferior / undecided, Holm over the family), the paper's claim
framed as non-inferiority, and the one sentence README quotes, computed from report.json, never typed."""

from __future__ import annotations

from .config import LAREQA, Study

MARGIN = 0.01  # the non-inferiority margin on mAP (absolute), stated with every decision
CLAIM = {"X-X-mono": ("Mo",), "X-Y": ("Cr", "Mul")}  # the paper's claim: hybrid keeps each pure batching's strength


def decision(c: dict, alpha: float, margin: float) -> str:
    """equivalent (the 95 % interval inside ±margin, significant or not: the difference is smaller than the
    margin), better / worse (Holm-adjusted p < alpha, outside the margin), non-inferior (the interval's lower
    end above -margin), else undecided. "Not significant" alone is never called "no difference"."""
    p, diff, ci = c.get("p_holm"), c.get("diff_hybrid_minus"), c.get("ci_hybrid_minus")
    if p is None or ci is None:
        return "untested"
    if -margin < ci[0] and ci[1] < margin:
        return "equivalent"
    if p < alpha:
        return "better" if diff > 0 else "worse"
    if ci[0] > -margin:
        return "non-inferior"
    return "undecided"


def headline(study: Study, main: dict) -> dict:
    """Hybrid against X-X-mono and X-Y over the Mo/Cr/Mul mAP cells, Holm-Bonferroni over that whole family,
    each cell decided as better / equivalent / non-inferior / worse / undecided within ``MARGIN``; and the
    paper's claim framed as non-inferiority: hybrid >= X-X-mono - margin on Mo and >= X-Y - margin on Cr and
    Mul. Computed, never typed; README quotes it."""
    from ..evaluate.significance import holm

    out = {"cells": 0, "alpha": 0.05, "correction": "holm", "margin": MARGIN, "against": {}, "decisions": {},
           "claim": {}, "rank_distance": {}}
    cells = [(d, g) for d in LAREQA if d in study.datasets for g in ("Mo", "Cr", "Mul")]
    out["cells"] = len(cells)
    bases = [v for v in study.variants if v != "hybrid"]
    family = {(b, d, g): (main.get(b, {}).get(f"{d} {g} AP") or {}).get("p_vs_hybrid")
              for b in bases for d, g in cells}
    adjusted = holm(family)
    for base in bases:
        won = lost = 0
        for d, g in cells:
            c = main.get(base, {}).get(f"{d} {g} AP") or {}
            c["p_holm"] = adjusted[(base, d, g)]
            if c["p_holm"] is not None and c["p_holm"] < out["alpha"]:
                won += c["diff_hybrid_minus"] > 0
                lost += c["diff_hybrid_minus"] < 0
            c["decision"] = decision(c, out["alpha"], MARGIN)
            out["decisions"][f"{base} {d} {g}"] = c["decision"]
        out["against"][base] = {"significant_wins": int(won), "significant_losses": int(lost)}
    for d in [d for d in LAREQA if d in study.datasets]:
        verdicts = [out["decisions"].get(f"{b} {d} {g}") for b, groups in CLAIM.items() if b in bases for g in groups]
        out["claim"][d] = ("holds" if verdicts and all(v in ("better", "equivalent", "non-inferior") for v in verdicts)
                           else "fails" if any(v == "worse" for v in verdicts) else "undecided")
    out["tests"] = sum(p is not None for p in family.values())
    for name in study.variants:
        for d in LAREQA:
            c = main.get(name, {}).get(f"{d} rank distance")
            if c:
                out["rank_distance"].setdefault(d, {})[name] = c["mean"]
    return out


def headline_sentence(h: dict | None) -> str:
    if not h:
        return ("**Headline.** None yet: the report is partial (units are missing), and a partial grid gives no "
                "answer.")
    claim = "; ".join(f"{d}: {v}" for d, v in h["claim"].items())
    parts = [f"{v['significant_wins']} significant wins and {v['significant_losses']} losses against {k}"
             for k, v in h["against"].items()]
    text = (f"**Headline.** The paper's claim as non-inferiority (hybrid ≥ X-X-mono − {h['margin']} mAP on Mo, "
            f"≥ X-Y − {h['margin']} on Cr and Mul, 95 % intervals): {claim}. Over the {h['cells']} Mo/Cr/Mul mAP "
            "averages, hybrid batches have " + " and ".join(parts) + f" (seed- and paragraph-clustered test, "
            f"Holm-adjusted over {h.get('tests', 0)} tests, p < {h['alpha']}); cells: "
            + ", ".join(f"{k} {v}" for k, v in h["decisions"].items()))
    rd = [f"{d}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()) for d, row in h["rank_distance"].items()]
    return text + ("; mean rank distance (language bias, lower is less) " + "; ".join(rd) if rd else "") + "."


def _order(row: dict, key: str, names: list[str]) -> tuple[str, ...] | None:
    """The batchings ordered best first on one cell (rank distance: lower is better), None if one is missing."""
    vals = {n: (row.get(n) or {}).get(key) for n in names}
    if any(v is None for v in vals.values()):
        return None
    return tuple(sorted(names, key=lambda n: vals[n]["mean"], reverse="rank distance" not in key))


def answer(report: dict) -> dict:
    """What README says about the study, every part read from the report's tables (never typed): progress,
    the headline's decisions, the batchings' order at each budget on the curve languages, where each α mix
    sits against the line between the pure batchings, what +native changes, the language-preference measures
    and the machine time. A partial report gives progress only."""
    t = report["tables"]
    out = {"units_done": len(report["units"]), "units": len(report["units"]) + len(report["missing_units"]),
           "machine_hours": report["machine_hours"], "partial": report["partial"]}
    if report["partial"]:
        return out
    curves = t.get("curves") or {}
    names = [n for n in t["main"] if n in curves]
    out["budget"] = {}
    for dataset in (curves.get("_languages") or {}):
        for key in ("Mo AP", "Cr AP", "Mul AP", "rank distance"):
            orders = {b: _order({n: curves[n].get(str(b), {}) for n in names}, f"{dataset} {key}", names)
                      for b in report["budgets"]}
            orders = {str(b): list(o) for b, o in orders.items() if o}
            if orders:
                out["budget"][f"{dataset} {key}"] = orders
    out["sweep"] = {}
    for alpha, row in (t.get("sweep") or {}).items():
        for key, c in row.items():
            if key.endswith(" vs line") and c.get("ci"):
                side = "above" if c["ci"][0] > 0 else "below" if c["ci"][1] < 0 else "on"
                out["sweep"].setdefault(alpha, {})[key[:-len(" vs line")]] = {"side": side, "diff": c["mean"],
                                                                              "ci": c["ci"]}
    out["native"] = {}
    native = t.get("native") or {}
    for name in [n for n in native if not n.endswith(" +native")]:
        plus = native.get(f"{name} +native") or {}
        diffs = {k: plus[k]["mean"] - c["mean"] for k, c in native[name].items() if k in plus}
        if diffs:
            out["native"][name] = diffs
    out["language"] = {}
    for system, row in (t.get("language") or {}).items():
        if system in t["main"] and "+" not in system and system != "BM25":
            for key, c in row.items():
                if key.endswith(("own@10", "en@10")):
                    out["language"].setdefault(key, {})[system] = c["mean"]
    return out


def answer_markdown(report: dict, command: str) -> str:
    """The report's answer as README's paragraph (README carries it verbatim between markers; a test compares).
    The headline's decisions are read from ``report["headline"]``: the answer does not store them twice."""
    ans = report["answer"]
    if ans["partial"]:
        return (f"**The study: no headline yet.** {ans['units_done']} of {ans['units']} units are committed "
                f"({ans['machine_hours']:.1f} machine-hours so far); a partial grid gives no answer.")
    L = [f"**The study's answer** (`{command}`, {ans['units']} units, {ans['machine_hours']:.1f} machine-hours):",
         "", "- " + headline_sentence(report["headline"]).replace("**Headline.** ", "")]
    if ans["budget"]:
        parts = []
        for key, orders in ans["budget"].items():
            groups: dict = {}
            for b, order in orders.items():
                groups.setdefault(" > ".join(order), []).append(b)
            parts.append(f"{key}: " + "; ".join(f"{o} at {', '.join(bs)} steps" for o, bs in groups.items()))
        top = str(max(report["budgets"]))
        gap = [k for k, orders in ans["budget"].items() if top not in orders]  # the pool held every language there
        L.append("- By budget (curve languages, means over seeds, no test; > = better, for rank distance lower"
                 + (f"; {', '.join(gap)}: no point at {top} steps, whose multilingual pool held every language"
                    if gap else "") + "): " + "; ".join(parts) + ".")
    if ans["sweep"]:
        parts = []
        for alpha, cells in ans["sweep"].items():
            by = {s: [k for k, v in cells.items() if v["side"] == s] for s in ("above", "below", "on")}
            parts.append(f"α = {alpha}: " + "; ".join(
                f"{'on the line (interval holds 0)' if s == 'on' else s + ' the line'} on {', '.join(ks)}"
                for s, ks in by.items() if ks))
        L.append("- α sweep against the line between X-Y (α = 0) and X-X-mono (α = 1), 95 % seed-level intervals: "
                 + "; ".join(parts) + ".")
    if ans["native"]:
        L.append("- +native minus without (one seed, no test): " + "; ".join(
            f"{n}: " + ", ".join(f"{k} {v:+.4f}" for k, v in d.items()) for n, d in ans["native"].items()) + ".")
    if ans["language"]:
        L.append("- Language preference on the multilingual pool (share of the top 10 in the query's own language / "
                 "in English): " + "; ".join(f"{k}: " + ", ".join(f"{s} {v:.3f}" for s, v in row.items())
                                             for k, row in ans["language"].items()) + ".")
    return "\n".join(L)
