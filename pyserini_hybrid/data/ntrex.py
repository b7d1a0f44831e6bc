"""NTREX-128 (Federmann et al. 2022) as a bitext-retrieval topic set: 1,997 English news sentences (WMT
newstest2019) with human translations into 127 more languages, aligned by line.

Every language X gets X->en (X's sentences as topics, the English ones as candidates) and en->X, with the
line alignment as qrels, and a multilingual pool: the chosen languages' sentences in one corpus, where a
query's relevant candidates are its translations in every other pool language. The NTREX files are named by
NTREX's codes (``newstest2019-ref.deu.txt``); ``data/languages.tsv`` maps them to ours (``ntrex`` column),
and a file whose code has no row there stops the conversion in one line. Written (``topic_sets``' layout):

- ``topics.<X>.tsv``: X's sentences, qids ``<X>-<line>`` (the 1-based line of the NTREX file);
- ``corpus/sentence/<X>/docs.jsonl``: the same sentences as candidates, docids ``<X>-<line>``, so a pool
  query's own sentence is the candidate with its qid (``evaluate`` takes it out of the query's ranking);
  ``corpus/context/<X>`` is the same folder (a sentence has no context);
- ``qrels/<X>-en.txt`` and ``qrels/en-<X>.txt``: the aligned line, and any other line of the candidate
  language with exactly its text (a few translators repeated a sentence: indistinguishable, so relevant too);
- no pool qrels file: a query's relevant candidates follow from the alignment for whichever languages are
  evaluated (``relevant``), where a file would need 1,997 x (languages - 1) lines per language.

Only the chosen languages are converted (default: the set's ``default_languages``, a subset spanning every
resource class, script and family; ``all``: every language), each time added to those converted before.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.files import not_utf8
from ..core.trec import check_id, clean, write_qrels, write_topics
from .corpus import write_corpus
from .languages import TABLE, ntrex_codes
from .sources import origin_name, pick_languages, unchecked_warning, verify_source

FILE = re.compile(r"newstest2019-(src|ref|ref-\d+)\.([A-Za-z]+(?:-[A-Za-z]+)?)\.txt")
NAMES = ("default", "all")  # language selections by name


def scan(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Our code -> NTREX file, for every NTREX file of ``directory``; and the further references left out
    (``newstest2019-ref-2.spa.txt``: a second Spanish reference). A file name that is not NTREX's, or an
    NTREX code without a row in ``data/languages.tsv``, is one line."""
    if not directory.is_dir():
        raise InputError(f"{directory}: NTREX-128 directory not found (newstest2019-src.eng.txt, "
                         "newstest2019-ref.<code>.txt)")
    codes = ntrex_codes()
    found: dict[str, Path] = {}
    further: list[str] = []
    for path in sorted(directory.glob("newstest2019-*.txt")):
        m = FILE.fullmatch(path.name)
        if not m:
            raise InputError(f"{path}: not an NTREX file name (newstest2019-src.<code>.txt or "
                             "newstest2019-ref.<code>.txt)")
        kind, ntrex = m.groups()
        if ntrex not in codes:
            raise InputError(f"{path}: NTREX language code {ntrex!r} has no row in {TABLE.name} (its ntrex "
                             "column); add the language's row (code, script, family, resource class) first")
        if kind not in ("src", "ref"):
            further.append(path.name)
            continue
        if codes[ntrex] in found:
            raise InputError(f"{path}: a second file for {codes[ntrex]} (first: {found[codes[ntrex]].name})")
        found[codes[ntrex]] = path
    if not found:
        raise InputError(f"{directory}: no NTREX files (newstest2019-src.eng.txt, newstest2019-ref.<code>.txt)")
    return found, further


def read_sentences(path: Path, lines: int | None = None) -> list[str]:
    """The file's sentences, one per line (split on newlines only, a CR before one dropped, as Pyserini's
    readers split), each cleaned to one line; a file of another length than ``lines`` (the English source's)
    or an empty line is one error naming the file (and the line)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise not_utf8(path, data, e) from None
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    if lines is not None and len(rows) != lines:
        raise InputError(f"{path}: {len(rows)} lines, the English source has {lines} (NTREX files are aligned "
                         "by line: a missing or extra line shifts every sentence after it)")
    out = [clean(row) for row in rows]
    empty = next((n for n, s in enumerate(out, 1) if not s), None)
    if empty is not None:
        raise InputError(f"{path}:{empty}: empty line (every line is a topic and a candidate; a missing "
                         "translation would shift the alignment)")
    return out


def duplicate_groups(sentences: list[str]) -> list[list[int]]:
    """The 1-based lines that share their text with another line, one group per text."""
    seen: dict[str, list[int]] = {}
    for n, s in enumerate(sentences, 1):
        seen.setdefault(s, []).append(n)
    return [g for g in seen.values() if len(g) > 1]


def canonical(meta: dict, lang: str) -> np.ndarray:
    """Per line (index 1..lines; index 0 unused) the first line of ``lang`` with the same text: a candidate
    is relevant to a query of line i when its canonical line is that of line i."""
    out = np.arange(meta["lines"] + 1)
    for group in meta.get("duplicates", {}).get(lang, []):
        out[group] = group[0]
    return out


def relevant(meta: dict, query_lang: str, doc_lang: str):
    """(qid, docid) of every relevant pair of query_lang -> doc_lang: the aligned line and its duplicates."""
    canon = canonical(meta, doc_lang)
    groups: dict[int, list[int]] = {}
    for n in range(1, meta["lines"] + 1):
        groups.setdefault(int(canon[n]), []).append(n)
    for n in range(1, meta["lines"] + 1):
        for m in groups[int(canon[n])]:
            yield f"{query_lang}-{n}", f"{doc_lang}-{m}"


def expand(spec: dict, languages, present=None) -> list[str] | None:
    """``languages`` with the set's names replaced: ``default`` (the default subset), ``all`` (every language
    present, or known)."""
    if not languages:
        return None
    out: list[str] = []
    for x in languages:
        out += spec["default_languages"] if x == "default" else sorted(present or []) if x == "all" else [x]
    return list(dict.fromkeys(out))


def convert_ntrex(dataset: str, spec: dict, root: Path, out: Path, languages=None,
                  previous: dict | None = None) -> dict:
    """Convert the chosen languages (with English, and those converted before) into ``out``; returns meta."""
    warnings: list[str] = []
    directory = root / spec["dir"]
    files, further = scan(directory)
    pivot = spec["pivot"]
    if pivot not in files:
        raise InputError(f"{directory}: no English source (newstest2019-src.eng.txt): every setting needs it")
    known = list(ntrex_codes().values())
    before = [x for x in (previous or {}).get("languages", []) if x in files]
    wanted = expand(spec, languages, files) or list(spec["default_languages"])
    langs = pick_languages(dataset, known, list(files), [pivot, *wanted], before, str(directory), warnings)
    english = read_sentences(files[pivot])
    lines = len(english)
    if spec.get("lines") and lines != spec["lines"]:
        warnings.append(f"{files[pivot]}: {lines} lines, {origin_name(spec)} expects {spec['lines']}")
    sentences = {x: english if x == pivot else read_sentences(files[x], lines) for x in langs}
    meta = {"dataset": dataset, "format": "ntrex", "languages": langs, "pivot": pivot, "lines": lines,
            "counts": {}, "settings": {"cross": 2 * (len(langs) - 1), "multilingual": len(langs)},
            "corpus_variants": ["sentence", "context"], "sources": {}, "unchecked": [], "duplicates": {},
            "further_references_left_out": further}
    for x in langs:
        check_id(f"{x}-{lines}", "qid", f"{TABLE}: {x}")
        expected = spec.get("languages", {}).get(x, {})
        where = files[x].relative_to(root) if files[x].is_relative_to(root) else files[x]
        meta["sources"][x] = {"file": str(where),
                              "sha256": verify_source(files[x], expected.get("sha256"), warnings, origin_name(spec))}
        if not expected.get("sha256"):
            meta["unchecked"].append(x)
        groups = duplicate_groups(sentences[x])
        if groups:
            meta["duplicates"][x] = groups
        ids = [f"{x}-{n}" for n in range(1, lines + 1)]
        write_topics(out / f"topics.{x}.tsv", zip(ids, sentences[x]))
        write_corpus(out / "corpus" / "sentence" / x, zip(ids, sentences[x]), None, out / "docids" / f"{x}.npy")
        (out / "corpus" / "context").mkdir(parents=True, exist_ok=True)
        (out / "corpus" / "context" / x).symlink_to(Path("..") / "sentence" / x)
        meta["counts"][x] = {"questions": lines, "candidates": lines}
    for x in langs:
        if x != pivot:
            write_qrels(out / "qrels" / f"{x}-{pivot}.txt", relevant(meta, x, pivot))
            write_qrels(out / "qrels" / f"{pivot}-{x}.txt", relevant(meta, pivot, x))
    with open(out / "topics.all.tsv", "w", encoding="utf-8") as f:
        for x in langs:
            f.write((out / f"topics.{x}.tsv").read_text(encoding="utf-8"))
    meta["warnings"] = warnings + unchecked_warning(dataset, spec, meta["unchecked"])
    return meta
