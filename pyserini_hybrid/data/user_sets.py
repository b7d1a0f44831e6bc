"""Users' own topic sets, declared in a small TOML or JSON file of theirs, named like the built-in ones.

Where the files come from (all of them are read; a name may be declared once):

- ``--topic-sets FILE`` on our commands (``register``), or ``$PYSERINI_HYBRID_TOPIC_SETS`` (paths joined
  by ``:``), which reaches every command, the study's included;
- ``topic-sets.toml`` or ``topic-sets.json`` at the top of the data directory (``--data-dir``,
  ``$PYSERINI_HYBRID_DATA`` or ``../shared/data``).

Each top-level table is one set: ``format`` = ``lareqa`` (XQuAD-R / MLQA-R files: ``languages`` maps a code
to its file), ``miracl`` (``dir`` in MIRACL layout, ``<dir>/<lang>/{corpus.jsonl,topics.dev.tsv,
qrels.dev.tsv}``; optional ``languages`` list, default every MIRACL language found there) or ``pyserini``
(``languages.<code>`` = ``topics`` TSV, ``qrels`` TREC file, ``corpus`` JsonCollection file or
directory). Relative paths are relative to the file's own directory. Optional per file: ``sha256``.
The package's ``data/manifest.json`` stays the built-in default; a user set may not reuse its names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..core.errors import InputError
from ..core.files import DATA_DIR_ENV, PROJECT_ROOT, load_json
from ..core.toml_files import load_toml

ENV = "PYSERINI_HYBRID_TOPIC_SETS"
DATA_DIR_FILES = ("topic-sets.toml", "topic-sets.json")
FORMATS = ("lareqa", "miracl", "pyserini")
NAME = re.compile(r"^[a-z0-9][a-z0-9.]*(-[a-z0-9.]+)*$")
CODE = re.compile(r"^[a-z][a-z0-9]{1,7}$")  # no hyphen: names are <set>-<X>[-<Y>]
RESERVED_CODES = {"all", "pool"}
KEYS = {"lareqa": {"file", "sha256", "questions", "candidates"},
        "miracl": {"corpus", "topics", "qrels", "sha256", "queries", "passages", "bundled_topics",
                   "hub_corpus", "prebuilt_index"},
        "pyserini": {"topics", "qrels", "corpus", "sha256"}}

_registered: list[Path] = []
_data_dir: list[str | None] = [None]


def register(paths) -> None:
    """Topic-set files named on a command line (``--topic-sets``), for the rest of this process."""
    for path in paths or []:
        path = Path(path).resolve()
        if not path.is_file():
            raise InputError(f"{path}: topic-set file not found")
        if path not in _registered:
            _registered.append(path)


def use_data_dir(data: str | os.PathLike | None) -> None:
    """The data directory a command was given, whose ``topic-sets.toml`` then counts too."""
    if data is not None:
        _data_dir[0] = str(data)


def _data_root(data=None) -> Path | None:
    for candidate in (data, _data_dir[0], os.environ.get(DATA_DIR_ENV) or None,
                      PROJECT_ROOT.parent / "shared" / "data"):
        if candidate is not None:
            return Path(candidate) if Path(candidate).is_dir() else None
    return None


def files(data=None) -> list[Path]:
    found = list(_registered)
    for item in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        path = Path(item).resolve()
        if not path.is_file():
            raise InputError(f"{path}: topic-set file not found (from ${ENV})")
        found.append(path)
    root = _data_root(data)
    if root is not None:
        found += [(root / name).resolve() for name in DATA_DIR_FILES if (root / name).is_file()]
    return list(dict.fromkeys(found))


def user_sets(builtin: dict, data=None) -> dict:
    """name -> normalised spec (with ``root`` and ``origin``) of every user set in reach."""
    sets: dict[str, dict] = {}
    for path in files(data):
        for name, spec in load_file(path).items():
            if name in builtin:
                raise InputError(f"{path}: [{name}]: a built-in topic set has that name; choose another")
            if name in sets:
                raise InputError(f"{path}: [{name}]: already declared in {sets[name]['origin']}")
            sets[name] = spec
    return sets


def load_file(path: Path) -> dict:
    if path.suffix == ".json":
        raw = load_json(path)  # <file>: malformed JSON (...; line L, column C), or not UTF-8 by line
    else:
        raw, _ = load_toml(path, "topic-set file")  # <file>:<line>: ..., a BOM or a byte that is not UTF-8
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path}: no topic sets (one table per set, e.g. [my-set] with format = ...)")
    return {name: normalise(path, name, spec) for name, spec in raw.items() if not name.startswith("_")}


def normalise(path: Path, name: str, spec) -> dict:
    where = f"{path}: [{name}]"
    if not NAME.match(name):
        raise InputError(f"{where}: a set name is lower-case letters, digits, dots and single hyphens")
    if not isinstance(spec, dict) or spec.get("format") not in FORMATS:
        raise InputError(f"{where}: format must be one of {', '.join(FORMATS)}")
    fmt = spec["format"]
    unknown = set(spec) - {"format", "description", "languages", "dir", "source"}
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    langs = spec.get("languages", [] if fmt == "miracl" else None)
    if fmt == "lareqa" and isinstance(langs, dict):
        langs = {x: v if isinstance(v, dict) else {"file": v} for x, v in langs.items()}
    if fmt == "miracl" and isinstance(langs, list):
        langs = {x: {} for x in langs}
    if not isinstance(langs, dict) or (fmt != "miracl" and not langs):
        raise InputError(f"{where}: languages: " + ("a list of codes or a table per code" if fmt == "miracl"
                                                    else "a table with one entry per language code"))
    for code, lspec in langs.items():
        if not CODE.match(code) or code in RESERVED_CODES:
            raise InputError(f"{where}: language code {code!r}: lower-case letters and digits, no hyphen")
        if not isinstance(lspec, dict) or set(lspec) - KEYS[fmt]:
            raise InputError(f"{where}: languages.{code}: keys are {', '.join(sorted(KEYS[fmt]))}")
        need = {"lareqa": ("file",), "pyserini": ("topics", "qrels", "corpus"), "miracl": ()}[fmt]
        missing = [k for k in need if k not in lspec]
        if missing:
            raise InputError(f"{where}: languages.{code}: needs {', '.join(missing)}")
        if isinstance(lspec.get("sha256"), str):
            lspec = {**lspec, "sha256": lspec["sha256"] if fmt == "lareqa" else {"corpus": lspec["sha256"]}}
        langs[code] = lspec
    if fmt == "miracl" and not isinstance(spec.get("dir"), str) and \
            (not langs or not all({"corpus", "topics", "qrels"} <= set(v) for v in langs.values())):
        raise InputError(f"{where}: a miracl set needs dir = \"<folder in MIRACL layout>\" "
                         "(or corpus, topics and qrels for each language)")
    if fmt == "miracl" and spec.get("source", "files") not in ("files", "hub"):
        raise InputError(f"{where}: source must be \"files\" or \"hub\" (corpus from the hub, Pyserini's topics)")
    out = {"format": fmt, "description": spec.get("description", f"user topic set from {path}"),
           "languages": langs, "root": str(path.parent), "origin": str(path)}
    if fmt == "miracl":
        out["dir"] = spec.get("dir")
        out["source"] = spec.get("source", "files")
        if not spec.get("languages"):
            out["discover"] = "miracl"  # every MIRACL language present in dir
    return out
