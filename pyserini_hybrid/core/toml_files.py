"""TOML files read the one way every declaration file (recipes, studies, topic and training sets) is read:
a bad file is one line ``<file>[:<line>]: <problem>``, never Python's parser wording or a traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import tomllib

from .errors import InputError
from .files import not_utf8


def load_toml(path: str | os.PathLike, what: str = "TOML file") -> tuple[dict, str]:
    """A TOML file's table and text; a byte-order mark, a byte that is not UTF-8, a syntax error or tables
    and arrays nested too deeply for Python's parser (a ``RecursionError``) is one line
    ``<file>[:<line>]: <problem>`` (not Python's codec or parser wording, never a traceback)."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError(f"{path}:1: the file starts with a byte-order mark (BOM); save it as UTF-8 without BOM")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, data, e) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise InputError(f"{path}:{m[2]}: not a valid {what}: {m[1]} (column {m[3]})") from None
        line = text.count("\n") + 1
        raise InputError(f"{path}:{line}: not a valid {what}: {msg.replace(' (at end of document)', '')}") from None
    except RecursionError:  # e.g. a 10,000-deep inline table: tomllib recurses once per level
        table = None
    if table is None or _nesting(table) > TOML_MAX_NESTING:
        raise InputError(f"{path}: not a valid {what}: tables or arrays nested deeper than {TOML_MAX_NESTING} levels")
    return table, text


TOML_MAX_NESTING = 64  # whether the parser itself recurses too deep depends on the caller's stack; this does not


def _nesting(value) -> int:
    """How deeply tables and arrays nest in ``value`` (counted without recursion: the value may be deep)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            todo.extend((x, depth + 1) for x in (item.values() if isinstance(item, dict) else item))
    return deepest


def toml_line(text: str, section: str, key: str) -> int | None:
    """The line on which ``[section]``'s ``key`` is set (for ``<file>:<line>:`` messages), if it is plain."""
    current = ""
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = stripped.strip("[] ")
        elif current == section and stripped.split("=", 1)[0].strip().strip('"') == key and "=" in stripped:
            return n
    return None
