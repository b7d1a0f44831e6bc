"""Adversarial versions of a topic file: typos, stripped diacritics/tone marks, code-switched queries.

Each perturbation is deterministic in (seed, query id), so a perturbed topic set is reproducible and
its runs can be cached like any other. Query ids are kept: the same qrels judge the perturbed topics.
The CLI is ``python -m pyserini_hybrid.perturb`` (``pyserini_hybrid/perturb.py``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.trec import read_topics, write_topics

KINDS = ("typos", "strip_marks", "code_switch")
# Languages whose script carries marks that people drop when typing (accents, Greek tonos, Cyrillic
# breve, Arabic harakat, Devanagari nukta, Thai tone marks); for others strip_marks changes nothing.
HAS_MARKS = {"ar", "da", "de", "el", "es", "fa", "hi", "it", "ru", "th", "tr", "vi"}
NO_SPACES = {"zh", "ja", "th"}  # scripts written without spaces: characters are the units


def _rng(seed: int, qid: str, kind: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\0{kind}\0{qid}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def typos(text: str, rng: np.random.Generator, rate: float = 0.1) -> str:
    """Character noise: about `rate` of the letters get a swap, deletion, duplication or substitution
    (by another letter of the same query, so the script never changes); at least one edit per query."""
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    if len(letters) < 2:
        return text
    k = max(1, int(round(rate * len(letters))))
    for i in sorted(rng.choice(letters, size=min(k, len(letters)), replace=False), reverse=True):
        op = rng.integers(4)
        if op == 0 and i + 1 < len(chars) and chars[i + 1].isalpha() and chars[i + 1] != chars[i]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 1:
            del chars[i]
        elif op == 2:
            chars.insert(i, chars[i])
        else:
            pool = [chars[j] for j in letters if j < len(chars) and chars[j] != chars[i]]
            chars[i] = pool[rng.integers(len(pool))] if pool else chars[i] * 2
    return "".join(chars)


_THAI_TONES = {"\u0e48", "\u0e49", "\u0e4a", "\u0e4b"}
_DEVANAGARI_NUKTA = "\u093c"


def _droppable(mark: str) -> bool:
    cp = ord(mark)
    return (0x0300 <= cp <= 0x036F  # Combining Diacritical Marks: Latin accents, Greek tonos, Cyrillic breve
            or 0x064B <= cp <= 0x065F or cp == 0x0670  # Arabic harakat
            or mark in _THAI_TONES or mark == _DEVANAGARI_NUKTA)


def strip_marks(text: str) -> str:
    """Diacritics and tone marks removed, as people type without them; letters that are written with
    obligatory vowel signs (Devanagari matras, Thai vowels) keep them, or the words would change."""
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(c for c in decomposed if not (unicodedata.combining(c) or unicodedata.category(c) == "Mn")
                   or not _droppable(c))
    return unicodedata.normalize("NFC", kept.replace("đ", "d").replace("Đ", "D"))


def _units(text: str, lang: str) -> list[str]:
    return list(text.replace(" ", "")) if lang in NO_SPACES else text.split()


def code_switch(text: str, lang: str, other: str, other_lang: str) -> str:
    """The first half of the query, then the second half of its parallel question in another language."""
    a, b = _units(text, lang), _units(other, other_lang)
    if not a or not b:
        return text
    head = a[: max(1, len(a) // 2)]
    tail = b[len(b) // 2:]
    join_a = "" if lang in NO_SPACES else " "
    join_b = "" if other_lang in NO_SPACES else " "
    return (join_a.join(head) + " " + join_b.join(tail)).strip()


def perturb_topics(topics: dict[str, str], lang: str, kind: str, parallel: dict[str, dict[str, str]] | None = None,
                   switch_to: str | None = None, seed: int = 0) -> dict[str, str]:
    """Perturbed copy of `topics` (ids kept). For code_switch, `parallel` maps language -> {shared id:
    text} (ids are '<lang>-<shared id>', as in the LAReQA topics); the other language is `switch_to` or
    one drawn per query from the others."""
    if kind not in KINDS:
        raise InputError(f"unknown perturbation {kind!r}; choose from {', '.join(KINDS)}")
    out = {}
    others = sorted(x for x in (parallel or {}) if x != lang)
    if kind == "code_switch" and not (switch_to or others):
        raise InputError("code_switch needs the parallel topics of at least one other language")
    for qid, text in topics.items():
        rng = _rng(seed, qid, kind)
        if kind == "typos":
            out[qid] = typos(text, rng)
        elif kind == "strip_marks":
            out[qid] = strip_marks(text)
        else:
            shared = qid.split("-", 1)[1] if "-" in qid else qid
            candidates = [switch_to] if switch_to else [x for x in others if shared in parallel[x]]
            if not candidates:
                out[qid] = text
                continue
            y = candidates[rng.integers(len(candidates))]
            if shared not in parallel.get(y, {}):
                raise InputError(f"code_switch: no parallel question {shared!r} in {y}")
            out[qid] = code_switch(text, lang, parallel[y][shared], y)
    return out


def perturb_file(topics: Path, output: Path, lang: str, kind: str, parallel: list[Path] = (),
                 switch_to: str | None = None, seed: int = 0) -> tuple[int, int]:
    """``perturb_topics`` from a Pyserini TSV topic file to another; the parallel files' ids are
    '<lang>-<id>' (the language read from the first id). (topics written, topics changed)."""
    others = {}
    for path in parallel:
        read = read_topics(path)
        other = next(iter(read), "-").split("-", 1)[0]
        others[other] = {q.split("-", 1)[1]: t for q, t in read.items()}
    clean = read_topics(topics)
    out = perturb_topics(clean, lang, kind, others, switch_to, seed)
    write_topics(output, out)
    return len(out), sum(out[q] != t for q, t in clean.items())
