"""Training sets are declared, never coded: ``training-sets.toml`` (or ``.json``) files, one table per set.

Where declarations come from (all are read; a name may be declared once):

- the built-in sets, ``training-sets.toml`` beside this module (shipped inside the package; their paths are
  relative to the data directory, so they work from any checkout or install);
- ``--training-sets FILE`` on ``python -m pyserini_hybrid.train`` (``register``), or
  ``$PYSERINI_HYBRID_TRAINING_SETS`` (paths joined by ``:``), which also reaches the study;
- ``training-sets.toml`` or ``training-sets.json`` at the top of the data directory.

A user file's paths are relative to the file's own folder. Keys of a set (``docs/training.md``): ``format``
(``squad``, ``pairs``, ``hf``), ``languages`` (squad: code -> files; a file is a path, a glob, or
``{zip = ..., member = ...}``), ``files`` (pairs), ``name``/``config``/``split``/``columns``/``language``
(hf), ``parallel``, ``link`` (join another parallel set's groups), ``dir``, ``default``,
``context_prefix`` (a regex taken off every context), ``exclude_ids`` (a file of ids to drop),
``description``, ``licence``, ``warning``. A bad declaration is one line ``<file>:[<set>]: <problem>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..core.files import data_dir, load_json
from ..core.toml_files import load_toml
from ..data.languages import load_languages

BUILTIN = Path(__file__).with_name("training-sets.toml")
ENV = "PYSERINI_HYBRID_TRAINING_SETS"
DATA_DIR_FILES = ("training-sets.toml", "training-sets.json")
FORMATS = ("squad", "pairs", "hf")
NAME = re.compile(r"^[a-z0-9][a-z0-9.]*(-[a-z0-9.]+)*$")
COMMON = {"format", "description", "licence", "warning", "default", "dir", "parallel", "link", "exclude_ids"}
KEYS = {"squad": COMMON | {"languages", "context_prefix"}, "pairs": COMMON | {"files", "languages"},
        "hf": COMMON | {"name", "config", "split", "columns", "language", "context_prefix"}}
COLUMNS = ("query", "positive", "context", "answers", "id", "group", "lang", "negatives", "positive_lang")
TYPES = {"description": str, "licence": str, "warning": str, "default": bool, "dir": str, "parallel": bool,
         "link": str, "exclude_ids": str, "context_prefix": str, "name": str, "config": str, "split": str,
         "language": str}

_registered: list[Path] = []


@dataclass(frozen=True)
class FileRef:
    path: Path            # the file (a .zip for a member)
    label: str            # as declared, relative to the set's folder: part of split keys and messages
    member: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)


@dataclass(frozen=True)
class TrainingSet:
    name: str
    format: str
    origin: str                       # the declaration file
    where: str                        # "<file>:[<name>]" for messages
    base: Path                        # the folder the set's paths are relative to
    files: dict = field(default_factory=dict)    # squad: code -> [FileRef]; pairs: "" -> [FileRef]
    languages: tuple = ()             # declared codes (pairs: optional; hf: the one language, if no column)
    parallel: bool = False
    link: str | None = None
    default: bool = False
    description: str = ""
    licence: str = ""
    warning: str = ""
    context_prefix: str | None = None
    exclude_ids: Path | None = None
    hf: dict = field(default_factory=dict)      # name, config, split, columns

    def summary(self) -> dict:
        # a report names the declaration file, never this machine's path to it (committed reports travel)
        origin = "built-in (train/training-sets.toml)" if self.origin == str(BUILTIN) else Path(self.origin).name
        return {"format": self.format, "origin": origin, "languages": list(self.languages),
                "parallel": self.parallel, "link": self.link, "licence": self.licence, "warning": self.warning}


def register(paths) -> None:
    """Declaration files named on a command line (``--training-sets``), for the rest of this process."""
    for path in paths or []:
        path = Path(path).resolve()
        if not path.is_file():
            raise InputError(f"{path}: training-set file not found")
        if path not in _registered:
            _registered.append(path)


def files(root: Path | None) -> list[Path]:
    """The user declaration files in reach (the built-in file not included)."""
    found = list(_registered)
    for item in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        path = Path(item).resolve()
        if not path.is_file():
            raise InputError(f"{path}: training-set file not found (from ${ENV})")
        found.append(path)
    if root is not None:
        found += [(root / n).resolve() for n in DATA_DIR_FILES if (root / n).is_file()]
    return list(dict.fromkeys(found))


def declared(root: Path | None) -> dict[str, TrainingSet]:
    """name -> set, the built-in ones first, then the users' in file order. ``root``: the data directory."""
    out = _load(BUILTIN, root)
    for path in files(root):
        for name, ts in _load(path, None).items():
            if name in out:
                first = "a built-in training set" if out[name].origin == str(BUILTIN) else out[name].origin
                raise InputError(f"{ts.where}: already declared ({first}); choose another name")
            out[name] = ts
    for ts in out.values():
        target = out.get(ts.link) if ts.link else None
        if ts.link and (target is None or not target.parallel or not ts.parallel or target.link):
            raise InputError(f"{ts.where}: link = {ts.link!r} must name a parallel set that links to none, and "
                             "the set itself must be parallel = true")
    return out


def _load(path: Path, root: Path | None) -> dict[str, TrainingSet]:
    if path.suffix == ".json":
        raw = load_json(path)
    else:
        raw, _ = load_toml(path, "training-set file")
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{path}: no training sets (one table per set, e.g. [my-set] with format = ...)")
    base = root if path == BUILTIN else path.parent
    return {name: _normalise(path, name, spec, base) for name, spec in raw.items()}


def _normalise(path: Path, name: str, spec, base: Path | None) -> TrainingSet:
    where = f"{path}:[{name}]"
    if not NAME.match(name):
        raise InputError(f"{where}: a set name is lower-case letters, digits, dots and single hyphens")
    if not isinstance(spec, dict) or spec.get("format") not in FORMATS:
        raise InputError(f"{where}: format must be one of {', '.join(FORMATS)}")
    fmt = spec["format"]
    unknown = sorted(set(spec) - KEYS[fmt])
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)} (a {fmt} set has "
                         f"{', '.join(sorted(KEYS[fmt]))})")
    for key, kind in TYPES.items():
        if key in spec and not isinstance(spec[key], kind):
            raise InputError(f"{where}: {key} must be a {kind.__name__}, got {spec[key]!r}"[:300])
    folder = (base or Path(".")) / spec.get("dir", "")
    prefix = spec.get("context_prefix")
    if prefix is not None:
        try:
            re.compile(prefix)
        except re.error as e:
            raise InputError(f"{where}: context_prefix is not a regular expression ({e})") from None
    common = dict(name=name, format=fmt, origin=str(path), where=where, base=folder,
                  parallel=spec.get("parallel", False), link=spec.get("link"), default=spec.get("default", False),
                  description=spec.get("description", ""), licence=spec.get("licence", ""),
                  warning=spec.get("warning", ""), context_prefix=prefix,
                  exclude_ids=folder / spec["exclude_ids"] if "exclude_ids" in spec else None)
    if fmt == "squad":
        langs = spec.get("languages")
        if not isinstance(langs, dict) or not langs:
            raise InputError(f"{where}: languages must be a table of language code = [files]")
        refs = {code: _refs(where, folder, f"languages.{code}", v) for code, v in langs.items()}
        return TrainingSet(files=refs, languages=tuple(langs), **common)
    if fmt == "pairs":
        langs = spec.get("languages", [])
        if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
            raise InputError(f"{where}: languages must be a list of codes (optional: the codes the files hold)")
        return TrainingSet(files={"": _refs(where, folder, "files", spec.get("files"))}, languages=tuple(langs),
                           **common)
    return _hf(where, spec, folder, common)


def _hf(where: str, spec: dict, folder: Path, common: dict) -> TrainingSet:
    if not spec.get("name"):
        raise InputError(f"{where}: an hf set needs name = \"<datasets name or local dataset directory>\"")
    columns = spec.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise InputError(f"{where}: columns must be a table of field = \"column\"")
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise InputError(f"{where}: columns: unknown field(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    columns = {"query": "query", **columns}
    if "positive" not in columns and not {"context", "answers"} <= set(columns):
        columns = {"positive": "positive", **columns}
    if "lang" not in columns and not spec.get("language"):
        raise InputError(f"{where}: give language = \"<code>\" or a lang column (columns.lang)")
    local = folder / spec["name"]
    name = str(local) if local.exists() else spec["name"]
    hf = {"name": name, "config": spec.get("config"), "split": spec.get("split", "train"), "columns": columns}
    langs = (spec["language"],) if spec.get("language") else ()
    return TrainingSet(hf=hf, languages=langs, **common)


def _refs(where: str, folder: Path, key: str, value) -> list[FileRef]:
    items = [value] if isinstance(value, (str, dict)) else value
    if not isinstance(items, list) or not items:
        raise InputError(f"{where}: {key} must be a file, a glob, {{zip = ..., member = ...}} or a list of them")
    out = []
    for item in items:
        if isinstance(item, dict):
            if set(item) != {"zip", "member"} or not all(isinstance(v, str) for v in item.values()):
                raise InputError(f"{where}: {key}: a zip member is {{zip = \"file.zip\", member = \"path/in/zip\"}}")
            out.append(FileRef(folder / item["zip"], f"{item['zip']}:{item['member']}", item["member"]))
        elif isinstance(item, str) and any(c in item for c in "*?["):
            found = sorted(folder.glob(item))
            out += [FileRef(p, p.relative_to(folder).as_posix()) for p in found if p.is_file()]
            if not found:
                out.append(FileRef(folder / item, item))  # reported as missing when the set is used
        elif isinstance(item, str) and item:
            out.append(FileRef(folder / item, item))
        else:
            raise InputError(f"{where}: {key}: {item!r} is not a file name")
    return out


def check_languages(ts: TrainingSet) -> None:
    """Every declared code must be a row of ``data/languages.tsv`` (only for sets in use: the table grows)."""
    table = load_languages()
    for code in ts.languages:
        if code not in table:
            raise InputError(f"{ts.where}: language code {code!r} is not in pyserini_hybrid/data/languages.tsv (add its row "
                             "first: code, name, script, family, resource class)")


def choose(sets: dict[str, TrainingSet], names: list[str] | None, where: str = "data.datasets") -> list[TrainingSet]:
    """The named sets (all ``default`` ones when none are named), in declaration order."""
    unknown = sorted(set(names or []) - set(sets))
    if unknown:
        raise InputError(f"{where}: unknown training set(s) {', '.join(unknown)} (declared: {', '.join(sets)}; "
                         "declare your own in a training-set file: --training-sets FILE)")
    chosen = [s for n, s in sets.items() if (n in names if names else s.default)]
    if not chosen:
        raise InputError(f"{where}: no training set named and none declared default = true")
    for ts in chosen:
        check_languages(ts)
    return chosen


def check_files(chosen: list[TrainingSet]) -> None:
    """Every file of the chosen sets is there (before anything is read)."""
    for ts in chosen:
        for refs in ts.files.values():
            for ref in refs:
                if not ref.path.is_file():
                    raise InputError(f"{ts.where}: {ref.path}: training file missing (see the data's README)")
        if ts.exclude_ids is not None and not ts.exclude_ids.is_file():
            raise InputError(f"{ts.where}: exclude_ids {ts.exclude_ids}: file not found")


def sources_view(root: Path | None = None) -> dict:
    """The declarations as the study's older reader expects them (``{name: {"parallel", "files"}}``)."""
    try:
        root = data_dir(root)
    except InputError:
        root = None
    return {n: {"parallel": s.parallel, "files": {x: [r.label for r in s.files.get(x, [])] for x in s.languages}}
            for n, s in declared(root).items()}
