"""``python -m pyserini_hybrid.train data``: the declared training sets and what training could draw from them.

This module is the report; its command line is ``train/__main__.data_main``.

For every set: its format, languages, licence, and pairs per language after filtering and decontamination
(with what was dropped, per evaluation set, and skipped); for every pool (a parallel set with the sets that
link to it): how many groups (question ids) are present in at least k languages and how many ordered
cross-lingual pairs (X-Y batches' items) are available, overall and per language pair. These are the numbers
for choosing alpha and languages: a language with few pairs caps X-X batches, pairs sharing few groups cap
X-Y batches.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .pairs import REASONS, PairSet


def pools(pairs: PairSet) -> dict[str, dict]:
    """pool -> {"languages", "groups_in_at_least", "ordered_pairs", "by_pair"} over the loaded rows."""
    out: dict[str, dict] = {}
    for pool in sorted(set(pairs.dataset)):
        rows = [i for i, d in enumerate(pairs.dataset) if d == pool]
        groups: dict[str, set] = {}
        made: Counter = Counter()
        for i in rows:
            x, y = pairs.lang[i], pairs.positive_lang[i]
            if x != y:
                made[(x, y)] += 1
            elif pool in pairs.parallel:
                groups.setdefault(pairs.group[i], set()).add(x)
        sizes = Counter(len(v) for v in groups.values())
        most = max(sizes, default=1)
        by_pair: Counter = Counter(made)
        for langs in groups.values():
            for x in langs:
                for y in langs:
                    if x != y:
                        by_pair[(x, y)] += 1
        out[pool] = {"languages": sorted({pairs.lang[i] for i in rows}),
                     "groups_in_at_least": {k: sum(n for s, n in sizes.items() if s >= k) for k in range(2, most + 1)},
                     "ordered_pairs": sum(by_pair.values()),
                     "by_pair": {f"{x}-{y}": n for (x, y), n in sorted(by_pair.items())}}
    return out


def _n(value: int) -> str:
    return f"{value:,}"


def render(pairs: PairSet, declared: dict, root: Path) -> str:
    c = pairs.counts
    ev = c["decontamination"]
    lines = [f"data directory: {root}",
             "decontaminated against: " + (", ".join(f"{k} ({_n(v)} texts)" for k, v in ev["evaluation_sets"].items())
                                           or "nothing")
             + "".join(f"; not read: {k} ({v})" for k, v in ev["not_read"].items()), ""]
    for name, info in c["sets"].items():
        s = declared[name]
        keys = [k for k in c["pairs"] if k.split("/")[0] == name]
        per = ", ".join(f"{k.split('/')[1]} {_n(c['pairs'][k])}" for k in keys)
        drops = {e: sum(v for k, v in d.items() if k.split("/")[0] == name) for e, d in c["dropped_by_set"].items()}
        skipped = {r.removeprefix("dropped_").replace("_", " "): sum(c[r][k] for k in keys) for r in REASONS}
        lines += [f"{name}  [{s.format}{', default' if s.default else ''}{', parallel' if s.parallel else ''}"
                  f"{', links to ' + s.link if s.link else ''}]  {s.description}",
                  f"    origin {info['origin']}; licence {s.licence or 'not given'}"
                  + (f"; WARNING: {s.warning}" if s.warning else ""),
                  f"    pairs: {_n(sum(c['pairs'][k] for k in keys))} ({per})",
                  "    dropped as texts of evaluation sets: "
                  + (", ".join(f"{e} {_n(n)}" for e, n in drops.items() if n) or "none")
                  + "; skipped: " + (", ".join(f"{r} {_n(n)}" for r, n in skipped.items() if n) or "none")]
    lines += ["", "pools (a batch draws from one; X-Y batches need a group in both languages):"]
    for pool, p in pools(pairs).items():
        members = [n for n in c["sets"] if n == pool or declared[n].link == pool]
        at_least = ", ".join(f">= {k}: {_n(v)}" for k, v in p["groups_in_at_least"].items())
        lines += [f"{pool} ({', '.join(members)}): languages {' '.join(p['languages'])}; groups in "
                  f"{at_least or '>= 2: 0'}; ordered cross-lingual pairs {_n(p['ordered_pairs'])}"]
        if p["by_pair"]:
            lines.append("    " + ", ".join(f"{k} {_n(v)}" for k, v in p["by_pair"].items()))
    return "\n".join(lines)
