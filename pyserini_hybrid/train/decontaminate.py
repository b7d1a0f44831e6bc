"""Decontamination: the texts of the evaluation sets, so that no training group that shares one is trained on.

Every topic set the registry knows (``data.topic_sets.manifest``: the built-in XQuAD-R, MLQA-R, MIRACL-mini,
full MIRACL where its files are local, NTREX-128 when that set is declared, and every user topic set in
reach), or the ones a recipe names (``data.decontaminate``), is read from its source files: questions,
candidate sentences and paragraphs (LAReQA), queries and passages (MIRACL layout, Pyserini files), every
line (NTREX). Texts are compared after normalisation: Unicode NFKC, case folded, whitespace collapsed.
``pairs`` drops every training group whose question, positive or paragraph text is among them, in every
language of the group, and counts the drops per training set, language and evaluation set.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import load_json, read_jsonl
from ..core.squad import check_squad
from ..core.trec import read_topics
from ..data import topic_sets as tp
from ..data import user_sets
from ..data.miracl import known_languages, language_spec


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _digest(text: str) -> bytes | None:
    n = normalise(text)
    return hashlib.blake2b(n.encode("utf-8"), digest_size=16).digest() if n else None


@dataclass
class EvaluationTexts:
    names: list[str] = field(default_factory=list)           # the sets read, in bit order
    skipped: dict[str, str] = field(default_factory=dict)     # set -> why it was not read
    texts: dict[str, int] = field(default_factory=dict)       # set -> distinct texts read
    index: dict[bytes, int] = field(default_factory=dict)     # normalised text -> bit mask of sets

    def add(self, name: str, texts) -> None:
        if name not in self.names:
            self.names.append(name)
        bit, n = 1 << self.names.index(name), 0
        for t in texts:
            d = _digest(t) if isinstance(t, str) else None
            if d is not None:
                old = self.index.get(d, 0)
                n += not old & bit
                self.index[d] = old | bit
        self.texts[name] = self.texts.get(name, 0) + n

    def match(self, text: str | None) -> int:
        d = _digest(text) if text else None
        return self.index.get(d, 0) if d is not None else 0

    def sets_of(self, mask: int) -> list[str]:
        return [n for i, n in enumerate(self.names) if mask >> i & 1]

    def record(self) -> dict:
        return {"evaluation_sets": dict(self.texts), "not_read": dict(self.skipped),
                "normalisation": "NFKC, case folded, whitespace collapsed"}


def _lareqa(path: Path):
    for article in check_squad(load_json(path), path, lareqa=True):
        for para in article["paragraphs"]:
            yield para["context"]
            yield from para["sentences"]
            yield from (q["question"] for q in para["qas"])


def _jsonl_texts(path: Path, keys: tuple[str, ...]):
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    for f in files:
        for _, obj in read_jsonl(f):
            if isinstance(obj, dict):
                yield from (obj[k] for k in keys if isinstance(obj.get(k), str))


def _lines(path: Path):
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from f


def _files(spec: dict, base: Path) -> list[tuple[str, Path, object]]:
    """(language, file, reader) of every local source file of a topic set; unknown formats: none."""
    fmt, out = spec["format"], []
    if fmt == "lareqa":
        out = [(x, base / v["file"], _lareqa) for x, v in spec["languages"].items()]
    elif fmt == "miracl":
        for x in known_languages(spec):
            lspec = language_spec(spec, x)
            if "corpus" in lspec:
                out.append((x, base / lspec["corpus"], lambda p: _jsonl_texts(p, ("text",))))
            if "topics" in lspec:
                out.append((x, base / lspec["topics"], lambda p: read_topics(p).values()))
    elif fmt == "pyserini":
        for x, v in spec["languages"].items():
            out += [(x, base / v["topics"], lambda p: read_topics(p).values()),
                    (x, base / v["corpus"], lambda p: _jsonl_texts(p, ("contents", "text")))]
    elif fmt == "ntrex":
        listed = [(x, base / v["file"], _lines) for x, v in spec.get("languages", {}).items()
                  if isinstance(v, dict) and "file" in v]
        folder = base / spec.get("dir", "")
        out = listed or [(p.name, p, _lines) for p in sorted(folder.glob("*.txt"))]
    return [(x, p, r) for x, p, r in out if p.exists()]


def evaluation_texts(root: Path, names: tuple[str, ...] = (), quiet: bool = True) -> EvaluationTexts:
    """The texts of the named topic sets (none named: every set the registry knows with local files)."""
    return _cached(str(root), tuple(names), tuple(str(p) for p in user_sets.files(root)), quiet)


@functools.lru_cache(maxsize=4)
def _cached(root: str, names: tuple, _files_in_reach: tuple, quiet: bool) -> EvaluationTexts:
    specs = tp.manifest(root)
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise InputError(f"data.decontaminate: unknown topic set(s) {', '.join(unknown)} (known: {', '.join(specs)})")
    out = EvaluationTexts()
    todo = []
    for name in names or list(specs):
        spec = specs[name]
        base = Path(spec["root"]) if spec.get("root") else Path(root)
        found = _files(spec, base)
        if not found:
            why = (f"format {spec['format']} has no text reader" if spec["format"] not in
                   ("lareqa", "miracl", "pyserini", "ntrex") else "no local files")
            if names:
                raise InputError(f"data.decontaminate: topic set {name}: {why} under {base}")
            out.skipped[name] = why
            continue
        todo += [(name, path, reader) for _, path, reader in found]
    for name, path, reader in tqdm(todo, desc="evaluation texts", unit="file", disable=quiet):
        out.add(name, reader(path))
    return out
