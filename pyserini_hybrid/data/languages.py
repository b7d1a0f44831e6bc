"""Script, family and resource level of a language pair, read from the sourced table data/languages.tsv.

The study groups cross-lingual settings by these properties (distant and low-resource pairs), and NTREX-128's
evaluation its 128 languages (``group_of``); keeping the facts in a committed, cited data file lets a reader
check or change them without reading code. The table also maps NTREX-128's codes to ours (``ntrex_codes``).
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from ..core.errors import InputError
TABLE = Path(__file__).with_name("languages.tsv")  # package data: installed with the package
HIGH_RESOURCE_CLASS = 5  # Joshi et al. (2020) class 5, "the winners"; see the table's header
CODE = re.compile(r"[a-z][a-z0-9]{1,7}")  # as users' sets: no hyphen, since ids are <code>-<id>
GROUPINGS = {"resource class": "joshi_class", "script": "script", "family": "family"}


@lru_cache(maxsize=4)
def load_languages(path: Path = TABLE) -> dict[str, dict]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: language table not found")
    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    need = {"code", "name", "script", "family", "branch", "joshi_class"}
    if not rows or need - set(rows[0]):
        raise InputError(f"{path}: needs the columns {', '.join(sorted(need))}")
    table = {}
    for row in rows:
        if not CODE.fullmatch(row["code"] or ""):
            raise InputError(f"{path}: code {row['code']!r}: lower-case letters and digits, no hyphen")
        if row["code"] in table:
            raise InputError(f"{path}: code {row['code']} has two rows")
        try:
            row["joshi_class"] = int(row["joshi_class"])
        except ValueError:
            raise InputError(f"{path}: {row['code']}: joshi_class must be an integer 0-5") from None
        table[row["code"]] = row
    return table


def language(code: str) -> dict:
    table = load_languages()
    if code not in table:
        raise InputError(f"language {code!r} is not in pyserini_hybrid/data/{TABLE.name}; add a row "
                         f"({len(table)} languages known there)")
    return table[code]


def ntrex_codes(path: Path = TABLE) -> dict[str, str]:
    """NTREX-128's code (``newstest2019-ref.<ntrex>.txt``) -> ours, for every row that has one."""
    out: dict[str, str] = {}
    for code, row in load_languages(path).items():
        ntrex = (row.get("ntrex") or "").strip()
        if ntrex:
            if ntrex in out:
                raise InputError(f"{path}: NTREX code {ntrex} is given to both {out[ntrex]} and {code}")
            out[ntrex] = code
    return out


def group_of(code: str, grouping: str) -> str:
    """The group a language falls in: ``resource class`` (Joshi et al.'s 0-5), ``script`` or ``family``."""
    value = language(code)[GROUPINGS[grouping]]
    return f"class {value}" if grouping == "resource class" else str(value)


def same_script(x: str, y: str) -> bool:
    return language(x)["script"] == language(y)["script"]


def same_family(x: str, y: str, level: str = "top") -> bool:
    """Same top-level family (level="top") or also the same branch (level="branch")."""
    if level not in ("top", "branch"):
        raise ValueError(f"level must be 'top' or 'branch', not {level!r}")
    a, b = language(x), language(y)
    return a["family"] == b["family"] and (level == "top" or a["branch"] == b["branch"])


def resource_level(code: str) -> str:
    return "high" if language(code)["joshi_class"] >= HIGH_RESOURCE_CLASS else "low"


def resource_group(x: str, y: str) -> str:
    """'high-high', 'high-low' (either order) or 'low-low'."""
    levels = {resource_level(x), resource_level(y)}
    return "high-low" if len(levels) == 2 else f"{min(levels)}-{min(levels)}"
