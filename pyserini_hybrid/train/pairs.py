"""Training pairs from the declared training sets: (question, positive) with language and group.

A pair's positive has the evaluation candidates' format: for SQuAD-like data the sentence holding the answer
start, or with ``context=True`` that sentence followed by its paragraph (what ``--corpus context`` indexes);
a ``pairs``/``hf`` record's positive is its own. Sentences come from ``sentencex`` (Wikimedia's maintained
multilingual splitter: CJK 。！？ and Arabic ؟ included), not a splitter of our own.

Which sets exist is declared, never coded (``sets``: the package's ``training-sets.toml`` and the users'
files); how each format is read is ``readers``. In a ``parallel`` set one question id is one *group* across
languages, and a set that ``link``s to another joins its groups: both form one *pool* (the ``dataset`` a
batch is drawn from, named after the linked-to set). X-Y batches need groups present in both X and Y; a
batch never holds two pairs of one group, whose positives would be false negatives. Other sets are
monolingual (each question its own group), unless their records are pre-made cross-lingual pairs.

Decontamination (``decontaminate``): every group whose question, positive or paragraph text, normalised,
is a text of an evaluation set is dropped in all its languages, and so is every group whose id is in the
set's ``exclude_ids`` list; a paragraph whose groups all go goes with them. Counted per training set and
language (``dropped_evaluation``) and per evaluation set (``dropped_by_set``). On SQuAD this is the rule that
dropped XQuAD's paragraphs and, through the shared ids, their translations: 3,559 questions.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import data_dir
from ..data.languages import load_languages
from . import sets as ts
from .decontaminate import evaluation_texts
from .readers import read_ids, units

ID_LIST = "id list"
REASONS = ("dropped_impossible", "dropped_no_answer_start", "dropped_unaligned", "dropped_empty")


@dataclass
class Paragraph:
    sentences: list[str]
    context: str


@dataclass
class PairSet:
    """Column lists, one row per pair; ``paragraphs[p]`` holds the sentences hard negatives come from."""
    query: list[str] = field(default_factory=list)
    lang: list[str] = field(default_factory=list)
    dataset: list[str] = field(default_factory=list)      # the pool a batch is drawn from
    group: list[str] = field(default_factory=list)
    paragraph: list[int] = field(default_factory=list)   # index into paragraphs
    sentence: list[int] = field(default_factory=list)    # index of the positive in its paragraph
    split_key: list[str] = field(default_factory=list)   # paragraph identity shared by translations
    positive_lang: list[str] = field(default_factory=list)
    paragraphs: list[Paragraph] = field(default_factory=list)
    parallel: set = field(default_factory=set)            # pools whose groups link languages
    context: bool = False
    counts: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.query)

    def positive(self, i: int) -> str:
        return self.candidate(self.paragraph[i], self.sentence[i])

    def candidate(self, p: int, s: int) -> str:
        para = self.paragraphs[p]
        return f"{para.sentences[s]} {para.context}" if self.context and para.context else para.sentences[s]

    def paragraph_negatives(self, i: int) -> list[str]:
        """The other sentences of the positive's paragraph (a record's: its own negatives)."""
        p, s = self.paragraph[i], self.sentence[i]
        positive = self.paragraphs[p].sentences[s]
        return [self.candidate(p, j) for j, x in enumerate(self.paragraphs[p].sentences) if j != s and x != positive]


@functools.lru_cache(maxsize=1 << 17)  # a process that loads the pairs twice (other languages, sets) splits once
def split_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``; trailing spaces belong to the sentence."""
    from sentencex import get_sentence_boundaries

    spans = [(b["start_index"], b["end_index"]) for b in get_sentence_boundaries(lang, text)]
    return [(a, b) for a, b in spans if text[a:b].strip()] or [(0, len(text))]


def _norm(text: str) -> str:
    return " ".join(text.split())


def _answer_start(context: str, answers: list[dict]) -> int | None:
    """The first answer's start where its text is there; else the text's first occurrence; else None."""
    for ans in answers:
        start, text = ans.get("answer_start", -1), ans.get("text", "")
        if text and 0 <= start and context[start:start + len(text)] == text:
            return start
    for ans in answers:
        if ans.get("text") and ans["text"] in context:
            return context.index(ans["text"])
    return None


@dataclass
class _Para:
    """One unit after sentence splitting: its paragraph and (question, qid, sentence or a skip reason) rows."""
    set: ts.TrainingSet
    unit: object
    paragraph: Paragraph
    rows: list = field(default_factory=list)   # (question, group, sentence index or None, reason or None)


def _process(s: ts.TrainingSet, unit, pooled: bool) -> _Para:
    def group(qid: str) -> str:
        return qid if pooled else f"{s.name}:{qid}"
    if unit.context is None:  # a record: its positive, then its negatives, as the "paragraph"
        para = Paragraph([unit.positive.strip(), *(x.strip() for x in unit.negatives)], "")
        q = unit.questions[0]
        gid = unit.group if unit.group is not None and pooled else group(q.id)
        return _Para(s, unit, para, [(q.text.strip(), gid, 0, None)])
    text = unit.context
    spans = split_sentences(text, unit.lang)
    out = _Para(s, unit, Paragraph([text[a:b].strip() for a, b in spans], _norm(text)))
    for q in unit.questions:
        question = q.text.strip(" -\t\n")
        answers = [{**x, "answer_start": x.get("answer_start", -1) - unit.offset} for x in q.answers or []]
        start = None if q.impossible or not answers else _answer_start(text, answers)
        reason = ("dropped_impossible" if q.impossible else "dropped_no_answer_start" if q.no_start and not answers
                  else "dropped_unaligned" if start is None else "dropped_empty" if not question else None)
        sentence = None if start is None else next((k for k, (b, e) in enumerate(spans) if b <= start < e),
                                                   len(spans) - 1)
        out.rows.append((question, group(q.id), sentence, reason))
    return out


def load_pairs(root: str | Path | None = None, languages: list[str] | None = None,
               datasets: list[str] | None = None, context: bool = False, quiet: bool = False,
               decontaminate: list[str] | None = None) -> PairSet:
    """All training pairs of the chosen sets (the ``default`` ones when none are named) and languages, with
    every group that shares a text with an evaluation set (all in reach, or those named) removed."""
    root = data_dir(root)
    declared = ts.declared(root)
    chosen = ts.choose(declared, datasets)
    known = sorted({x for s in chosen for x in s.languages})
    missing = sorted(set(languages or []) - set(known)) if all(s.languages for s in chosen) else []
    if missing:
        raise InputError(f"no training data for language(s) {', '.join(missing)} in {', '.join(s.name for s in chosen)}; "
                         f"languages with data: {', '.join(known)}")
    ev = evaluation_texts(root, tuple(decontaminate or ()), quiet)
    ts.check_files(chosen)
    names = {s.name for s in chosen}
    pool = {s.name: s.link if s.link in names else s.name for s in chosen}
    parallel = {pool[s.name] for s in chosen if s.parallel}
    anchor_lang = {p: declared[p].languages[0] for p in parallel if declared[p].languages}
    paras: list[_Para] = []
    for s in chosen:
        if s.warning and not quiet:
            print(f"warning: training set {s.name}: {s.warning}", file=sys.stderr)
        keep = set(languages or []) if not s.parallel else set()  # parallel sets: every language (groups)
        for unit in tqdm(units(s, quiet), desc=f"read {s.name}", unit=" paragraphs", disable=quiet, leave=False):
            if keep and not _among(unit, keep):
                continue
            paras.append(_process(s, unit, pool[s.name] in parallel and s.parallel))
    _check_codes(paras, chosen)
    dropped = _contaminated(paras, ev, chosen)
    out = _emit(paras, dropped, pool, parallel, anchor_lang, set(languages or []), context, ev)
    empty = sorted(set(languages or []) - set(out.lang))
    if empty:
        raise InputError(f"no training pairs in language(s) {', '.join(empty)} in {', '.join(names)}; "
                         f"languages with pairs: {', '.join(sorted(set(out.lang)))}")
    out.counts["sets"] = {s.name: s.summary() for s in chosen}
    out.counts["decontamination"] = {**ev.record(), "id_lists": {s.name: str(s.exclude_ids) for s in chosen
                                                                 if s.exclude_ids}}
    if not quiet:
        print(summary_line(out.counts))
    return out


def _among(unit, languages: set) -> bool:
    """Whether a unit's query and positive languages are both among ``languages`` (data.languages)."""
    return unit.lang in languages and (unit.positive_lang or unit.lang) in languages


def _check_codes(paras: list[_Para], chosen: list) -> None:
    table, seen = load_languages(), set()
    for p in paras:
        for code in (p.unit.lang, p.unit.positive_lang):
            if code and (p.set.name, code) not in seen:
                seen.add((p.set.name, code))
                if code not in table:
                    raise InputError(f"{p.unit.where}: language code {code!r} is not in pyserini_hybrid/data/languages.tsv")
                if p.set.languages and code not in p.set.languages:
                    raise InputError(f"{p.unit.where}: language {code!r} is not among the set's languages "
                                     f"({', '.join(p.set.languages)})")
    for s in chosen:  # a parallel set's languages must share ids, or it links nothing
        langs: dict[str, set] = {}
        for p in paras:
            if p.set is s:
                langs.setdefault(p.unit.lang, set()).update(g for _, g, _, _ in p.rows)
        if s.parallel and len(langs) >= 2 and not any(a & b for x, a in langs.items() for y, b in langs.items()
                                                       if x < y):
            raise InputError(f"{s.where}: parallel = true, but its languages ({', '.join(langs)}) share no "
                             "question id")


def _contaminated(paras: list[_Para], ev, chosen: list) -> dict[str, int]:
    """group -> bit mask of the evaluation sets (and the id list, the next bit) it shares a text with."""
    id_bit = 1 << len(ev.names)
    ids = {s.name: read_ids(s.exclude_ids) for s in chosen if s.exclude_ids is not None}
    out: dict[str, int] = {}
    for p in paras:
        whole = ev.match(p.paragraph.context) if p.paragraph.context else 0
        listed = ids.get(p.set.name, ())
        for (question, group, sentence, _), q in zip(p.rows, p.unit.questions):
            mask = whole | ev.match(q.text) | (ev.match(p.paragraph.sentences[sentence]) if sentence is not None
                                               else 0)
            if listed and (q.id in listed or group in listed):
                mask |= id_bit
            if mask:
                out[group] = out.get(group, 0) | mask
    return out


def _emit(paras, dropped, pool, parallel, anchor_lang, languages, context, ev) -> PairSet:
    out = PairSet(context=context, parallel=set(parallel))
    names = ev.names + [ID_LIST]
    counts = {k: {} for k in ("questions", "pairs", "dropped_evaluation", *REASONS)}
    by_set: dict[str, dict] = {}

    def gone(p: _Para) -> bool:
        return bool(p.rows) and all(dropped.get(g) for _, g, _, _ in p.rows)
    anchors: dict[str, str] = {}  # a parallel pool's group -> the split key of its first language's paragraph
    for p in paras:
        if pool[p.set.name] in parallel and p.unit.lang == anchor_lang.get(pool[p.set.name]) and not gone(p):
            for _, g, _, _ in p.rows:
                if not dropped.get(g):
                    anchors[g] = p.unit.key
    for p in paras:
        if languages and not _among(p.unit, languages):
            continue
        key = f"{p.set.name}/{p.unit.lang}"
        for c in counts.values():
            c.setdefault(key, 0)
        drop_all = gone(p)
        if not drop_all:
            out.paragraphs.append(p.paragraph)
        pi = len(out.paragraphs) - 1
        for question, group, sentence, reason in p.rows:
            mask = dropped.get(group, 0)
            if mask or drop_all:
                counts["dropped_evaluation"][key] += 1
                for i, name in enumerate(names):
                    if mask >> i & 1:
                        by_set.setdefault(name, {}).setdefault(key, 0)
                        by_set[name][key] += 1
                continue
            counts["questions"][key] += 1
            if reason:
                counts[reason][key] += 1
                continue
            out.query.append(question)
            out.lang.append(p.unit.lang)
            out.positive_lang.append(p.unit.positive_lang or p.unit.lang)
            out.dataset.append(pool[p.set.name])
            out.group.append(group)
            out.paragraph.append(pi)
            out.sentence.append(sentence)
            # translations of a paragraph fall on the same side of the train/validation split: a parallel
            # pool's rows take the key of their group's paragraph in the pool's first language
            here = p.unit.key
            if pool[p.set.name] in parallel:
                here = anchors.setdefault(group, here)
            out.split_key.append(here)
            counts["pairs"][key] += 1
    counts["dropped_by_set"] = by_set
    counts["dropped_xquad"] = dict(by_set.get("xquad-r", {}))  # what older readers of the card show
    counts["pairs_total"] = len(out)
    out.counts = counts
    return out


def summary_line(counts: dict) -> str:
    def listing(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items() if v)
    by_set = {name: sum(d.values()) for name, d in counts["dropped_by_set"].items()}
    skipped = {k.removeprefix("dropped_").replace("_", " "): sum(counts[k].values()) for k in REASONS}
    return (f"training pairs: {counts['pairs_total']} ({listing(counts['pairs'])}); dropped as texts of evaluation "
            f"sets: {sum(counts['dropped_evaluation'].values())} ({listing(counts['dropped_evaluation'])}; by set: "
            f"{listing(by_set) or 'none'}); skipped: {listing(skipped) or 'none'}")


def split_validation(pairs: PairSet, percent: float) -> tuple[list[int], list[int]]:
    """(train rows, validation rows): whole paragraphs (and their translations) held out by a hash."""
    def held(key: str) -> bool:
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10000 < percent * 100
    val = [i for i, k in enumerate(pairs.split_key) if held(k)]
    held_out = set(val)
    return [i for i in range(len(pairs)) if i not in held_out], val


def __getattr__(name: str):
    """``SOURCES``: the declarations as {name: {"parallel", "files"}}, for the study's reader of set names
    (``study/config.py``) until it reads ``sets.declared``; computed from the files, not a dict in code."""
    if name == "SOURCES":
        return ts.sources_view()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
