"""The study's answer: each Mo/Cr/Mul cell of hybrid against the pure batchings decided within a stated
margin (better / worse / equivalent / non-inferior / undecided, Holm over the family), the paper's claim
framed as non-inferiority, and the one sentence README quotes, computed from report.json, never typed."""

from __future__ import annotations

from ...evaluate.power import minimum_detectable, power, seeds_needed
from ...evaluate.significance import format_interval, format_p, holm, holm_levels, interval
from ..config import LAREQA, Study
from .beside import beside_sentence

MARGIN = 0.01  # the non-inferiority margin on mAP (absolute), stated with every decision
CLAIM = {"X-X-mono": ("Mo",), "X-Y": ("Cr", "Mul")}  # the paper's claim: hybrid keeps each pure batching's strength


def decision(c: dict, alpha: float, margin: float, ci_key: str = "ci_adjusted", p_key: str = "p_holm") -> str:
    """From the cell's Holm-compatible interval (``evaluate.significance.holm_levels``: it excludes 0 exactly
    where Holm's p < alpha): equivalent (inside ±margin, significant or not), better / worse (excludes 0),
    non-inferior (lower end above -margin), else undecided. "Not significant" is never "no difference"."""
    p, ci = c.get(p_key), c.get(ci_key)
    if p is None or ci is None:
        return "untested"
    if -margin < ci[0] and ci[1] < margin:
        return "equivalent"
    if p < alpha:
        return "better" if ci[0] > 0 else "worse"
    if ci[0] > -margin:
        return "non-inferior"
    return "undecided"


def _decide_family(cells: dict, key: str, alpha: float, margin: float) -> dict:
    """Holm over the family's p values of ``key`` ("test": as reported, "unpooled"), each cell's interval at its
    Holm-compatible level, and its decision: {cell: (holm p, level, interval, decision)}."""
    tests = {k: c.get(key) for k, c in cells.items()}
    pvals = {k: (t or {}).get("p") for k, t in tests.items()}
    adjusted, levels = holm(pvals), holm_levels(pvals, alpha)
    out = {}
    for k, t in tests.items():
        if not t or t.get("p") is None:
            out[k] = (None, None, None, "untested")
            continue
        ci = interval(t, levels[k])
        out[k] = (adjusted[k], levels[k], ci, decision({"p": adjusted[k], "ci": ci}, alpha, margin, "ci", "p"))
    return out


def power_fields(test: dict, level: float, margin: float, target: float = 0.8) -> dict:
    """What the design as run could see in one cell (at its Holm level): the smallest difference found with 80 %
    power, the power to show non-inferiority at the margin if the two were equal, and the seeds per batching
    that would give 80 % for that (None: more than 1,000, question sampling alone too noisy)."""
    a = 1 - level
    return {"alpha": a, "mde_80": minimum_detectable(test["se"], test["df"], a, target),
            "non_inferiority_power": power(0.0, test["se"], test["df"], a, margin),
            "seeds_for_80": seeds_needed(test, 0.0, a, target, margin), "seeds": test["n_seeds_a"]}


def headline(study: Study, main: dict) -> dict:
    """Hybrid against X-X-mono and X-Y over the Mo/Cr/Mul mAP cells, one family: Holm-adjusted p and
    Holm-compatible intervals (the same rule decides every cell), each decided as better / equivalent /
    non-inferior / worse / undecided within ``MARGIN``, pooled seed variance and unpooled side by side; the
    paper's claim as non-inferiority (hybrid >= X-X-mono - margin on Mo, >= X-Y - margin on Cr and Mul); the
    direction of the raw differences; what each cell's test could detect. Computed, never typed."""
    out = {"cells": 0, "alpha": 0.05, "correction": "holm", "intervals": "holm-compatible", "margin": MARGIN,
           "against": {}, "decisions": {}, "decisions_unpooled": {}, "claim": {}, "claim_unpooled": {},
           "direction": {}, "power": {}, "rank_distance": {}}
    datasets = [d for d in LAREQA if d in study.datasets]
    out["cells"] = 3 * len(datasets)
    bases = [v for v in study.variants if v != "hybrid"]
    cells = {f"{b} {d} {g}": main.get(b, {}).get(f"{d} {g} AP") or {} for b in bases for d in datasets
             for g in ("Mo", "Cr", "Mul")}
    pooled = _decide_family(cells, "test", out["alpha"], MARGIN)
    unpooled = _decide_family(cells, "unpooled", out["alpha"], MARGIN)
    for k, c in cells.items():
        c["p_holm"], c["level"], c["ci_adjusted"], c["decision"] = pooled[k]
        out["decisions"][k] = c["decision"]
        out["decisions_unpooled"][k] = unpooled[k][3]
        if c.get("test") and c["level"]:
            out["power"][k] = c["power"] = power_fields(c["test"], c["level"], MARGIN)
    for base in bases:
        mine = {k: c for k, c in cells.items() if k.startswith(base + " ")}
        out["against"][base] = {
            "significant_wins": sum(c.get("decision") == "better" for c in mine.values()),
            "significant_losses": sum(c.get("decision") == "worse" for c in mine.values()),
            "raw_wins": sum((c.get("p_vs_hybrid") or 1) < out["alpha"] and c["diff_hybrid_minus"] > 0 for c in mine.values()),
            "raw_losses": sum((c.get("p_vs_hybrid") or 1) < out["alpha"] and c["diff_hybrid_minus"] < 0
                              for c in mine.values())}
    claim_cells = [f"{b} {d} {g}" for d in datasets for b, groups in CLAIM.items() if b in bases for g in groups]
    for d in datasets:
        for name, decided in (("claim", out["decisions"]), ("claim_unpooled", out["decisions_unpooled"])):
            verdicts = [decided[k] for k in claim_cells if f" {d} " in k]
            out[name][d] = ("holds" if verdicts and all(v in ("better", "equivalent", "non-inferior") for v in verdicts)
                            else "fails" if any(v == "worse" for v in verdicts) else "undecided")
    diffs = [cells[k]["diff_hybrid_minus"] for k in claim_cells if cells[k].get("diff_hybrid_minus") is not None]
    out["direction"] = {"claim_cells": len(diffs), "negative": sum(x < 0 for x in diffs),
                        "raw_interval_below_zero": sum(cells[k]["ci_hybrid_minus"][1] < 0 for k in claim_cells
                                                       if cells[k].get("ci_hybrid_minus")),
                        "raw_interval_above_zero": sum(cells[k]["ci_hybrid_minus"][0] > 0 for k in claim_cells
                                                       if cells[k].get("ci_hybrid_minus"))}
    out["claim_cells"] = claim_cells
    out["tests"] = sum(c.get("p_vs_hybrid") is not None for c in cells.values())
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
    parts = [f"{v['significant_wins']} significant wins and {v['significant_losses']} losses against {k} "
             f"({v['raw_wins']} and {v['raw_losses']} before Holm)" for k, v in h["against"].items()]
    differ = [k for k in h["decisions"] if h["decisions"][k] != h["decisions_unpooled"].get(k)]
    text = (f"**Headline.** The paper's claim as non-inferiority (hybrid ≥ X-X-mono − {h['margin']} mAP on Mo, "
            f"≥ X-Y − {h['margin']} on Cr and Mul, Holm-compatible intervals): {claim}. Over the {h['cells']} "
            "Mo/Cr/Mul mAP averages, hybrid batches have " + " and ".join(parts) + f" (seed- and paragraph-clustered "
            f"test, Holm-adjusted over {h.get('tests', 0)} tests, p < {h['alpha']}); cells: "
            + ", ".join(f"{k} {v}" for k, v in h["decisions"].items()))
    if differ:
        text += "; without pooling the seed variance: " + ", ".join(f"{k} {h['decisions_unpooled'][k]}" for k in differ)
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
                                                                              "ci": c["ci"], "seeds": c.get("seeds")}
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
                if key.endswith(("own@10", "en@10", "PEER@10", "PEER@100")):
                    out["language"].setdefault(key, {})[system] = c["mean"]
    return out


def _between(main: dict, key: str) -> str | None:
    """Where hybrid's mean sits against the two pure batchings on one cell."""
    v = {n: (main.get(n, {}).get(key) or {}).get("mean") for n in ("X-X-mono", "X-Y", "hybrid")}
    if None in v.values():
        return None
    lo, hi = sorted((v["X-X-mono"], v["X-Y"]))
    return "between" if lo <= v["hybrid"] <= hi else "above" if v["hybrid"] > hi else "below"


def _diff_cells(c: dict, unpooled: str | None) -> list[str]:
    if not c or c.get("diff_hybrid_minus") is None:
        return ["–", "–", "–"]
    dec = c.get("decision", "–") + (f" (unpooled: {unpooled})" if unpooled and unpooled != c.get("decision") else "")
    return [f"{c['diff_hybrid_minus']:+.4f} {format_interval(c.get('ci_adjusted'))}",
            f"{format_p(c['p_vs_hybrid'])} / {format_p(c.get('p_holm'))}", dec]


def answer_sentences(report: dict) -> list[str]:
    """The three sentences under the answer's table: where hybrid sits, whether the paper's claim is shown and
    which way the evidence leans, and the precision the study had. All read from report.json."""
    h, main = report["headline"], report["tables"]["main"]
    datasets = list(h["claim"])
    places = [_between(main, f"{d} {g} AP") for d in datasets for g in ("Mo", "Cr", "Mul")]
    n = len([x for x in places if x])
    first = (f"Hybrid's mean lies between X-X-mono's and X-Y's on {places.count('between')} of {n} averages"
             + "".join(f", {w} both on {places.count(w)}" for w in ("above", "below") if places.count(w)) + ".")
    shown = [d for d, v in h["claim"].items() if v == "holds"]
    failed = [d for d, v in h["claim"].items() if v == "fails"]
    dirn = h["direction"]
    m = dirn["claim_cells"]
    lean = ("against it" if dirn["negative"] > m / 2 and dirn["raw_interval_below_zero"] > dirn["raw_interval_above_zero"]
            else "for it" if m - dirn["negative"] > m / 2 and dirn["raw_interval_above_zero"] > dirn["raw_interval_below_zero"]
            else "neither way")
    second = ("The paper's claim (hybrid within " + f"{h['margin']} of X-X-mono on Mo and of X-Y on Cr and Mul) is "
              + (f"shown on {', '.join(shown)}" if shown else "shown on no set")
              + (f", refuted on {', '.join(failed)}" if failed else "")
              + f"; the evidence leans {lean}: {dirn['negative']} of its {m} differences are negative, "
              f"{dirn['raw_interval_below_zero']} unadjusted 95 % intervals lie below zero and "
              f"{dirn['raw_interval_above_zero']} above.")
    claim_power = [h["power"][k] for k in h.get("claim_cells", []) if k in h["power"]]
    if claim_power:
        mde = [x["mde_80"] for x in h["power"].values()]
        ni = [x["non_inferiority_power"] for x in claim_power]
        need = [x["seeds_for_80"] for x in claim_power]
        need_known = [x for x in need if x is not None]
        third = (f"With {claim_power[0]['seeds']} seeds per batching the tests found, with 80 % power, differences "
                 f"of {min(mde):.4f}–{max(mde):.4f} mAP or more, and showing non-inferiority at {h['margin']} on the "
                 f"claim's cells had {min(ni):.0%}–{max(ni):.0%} power had hybrid equalled the pure batching; "
                 + (f"{max(need_known)} seeds per batching would give 80 % on every claim cell"
                    if need_known and len(need_known) == len(need) else
                    "no number of seeds gives 80 % on " + f"{need.count(None)} claim cell(s) (question sampling alone "
                    "is too noisy for the margin)") + " (`plan` prints this per cell).")
    else:
        third = "The study's precision is not estimable (one seed per batching)."
    return [first, second, third]


def answer_markdown(report: dict, command: str) -> str:
    """The report's answer as README's block (README carries it verbatim between markers; a test compares):
    one table of the headline's cells and three sentences, read from ``report["headline"]``."""
    ans = report["answer"]
    if ans["partial"]:
        return (f"**The study: no headline yet.** {ans['units_done']} of {ans['units']} units are committed "
                f"({ans['machine_hours']:.1f} machine-hours so far); a partial grid gives no answer.")
    h, main = report["headline"], report["tables"]["main"]
    L = [f"**The study's answer** (`{command}`, {ans['units']} units, {ans['machine_hours']:.1f} machine-hours). "
         f"mAP over the full ranking (LAReQA's), mean ± sd over seeds; hybrid minus each pure batching with its "
         f"Holm-compatible interval (one family of {h.get('tests', 0)} tests: an interval excludes 0 exactly where "
         f"Holm's p < {h['alpha']}), p unadjusted / Holm; decisions within ±{h['margin']}; † marks the paper's "
         "claim (hybrid keeps X-X-mono's Mo and X-Y's Cr and Mul).", "",
         "| set | average | X-X-mono | X-Y | hybrid | hybrid − X-X-mono | p | decision | hybrid − X-Y | p | decision |",
         "|---|---|---:|---:|---:|---|---|---|---|---|---|"]
    for d in h["claim"]:
        for g in ("Mo", "Cr", "Mul"):
            key = f"{d} {g} AP"
            means = [(main.get(n, {}).get(key) or {}) for n in ("X-X-mono", "X-Y", "hybrid")]
            row = [d, g] + [f"{c['mean']:.4f} ± {c['sd']:.4f}" if c.get("sd") is not None else
                            f"{c.get('mean', float('nan')):.4f}" for c in means]
            for base in ("X-X-mono", "X-Y"):
                k = f"{base} {d} {g}"
                cells = _diff_cells(main.get(base, {}).get(key) or {}, h["decisions_unpooled"].get(k))
                if k in h.get("claim_cells", []):
                    cells[2] += " †"
                row += cells
            L.append("| " + " | ".join(row) + " |")
    L += [""] + answer_sentences(report)
    other = beside_sentence(report)  # with `report --beside`: how the answer moved from the other study's
    return "\n".join(L + ([other] if other else []))


def details_markdown(report: dict) -> list[str]:
    """The answer's longer lists, for report.md: the batchings' order by budget, each α mix against the line,
    what +native changes, the language-preference shares."""
    ans = report["answer"]
    L = []
    if ans.get("budget"):
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
    if ans.get("sweep"):
        parts = []
        for alpha, cells in ans["sweep"].items():
            parts.append(f"α = {alpha} ({next(iter(cells.values())).get('seeds', 1)} seed(s)): " + ", ".join(
                f"{k} {v['diff']:+.4f} [{v['ci'][0]:+.4f}, {v['ci'][1]:+.4f}] {v['side']}" for k, v in cells.items()))
        L.append("- α sweep: each mix's distance from the line between X-Y (α = 0) and X-X-mono (α = 1), with its "
                 "95 % seed-level interval (above/below: the interval excludes 0; on: it holds 0, which with one "
                 "seed is a wide interval, not closeness to the line): " + "; ".join(parts) + ".")
    if ans.get("native"):
        L.append("- +native minus without (one seed, no test): " + "; ".join(
            f"{n}: " + ", ".join(f"{k} {v:+.4f}" for k, v in d.items()) for n, d in ans["native"].items()) + ".")
    if ans.get("language"):
        L.append("- Language preference on the multilingual pool (share of the top 10 in the query's own language / "
                 "in English; PEER@k, 1 = no language ranked ahead of another): " + "; ".join(f"{k}: " + ", ".join(f"{s} {v:.3f}" for s, v in row.items())
                                             for k, row in ans["language"].items()) + ".")
    return L
