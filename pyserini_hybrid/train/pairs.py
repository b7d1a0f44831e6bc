"""Training pairs from SQuAD-format QA: (question, answer sentence) with language and parallel group.

A pair's positive has the evaluation candidates' format: the sentence holding the answer start, or with
``context=True`` that sentence followed by its paragraph (what ``--corpus context`` indexes). Sentences
come from ``sentencex`` (Wikimedia's maintained multilingual splitter: CJK 。！？ and Arabic ؟ included),
not a splitter of our own.

``squad/{en,es,it,da}`` are translations of SQuAD v1.1 dev sharing question ids, so one id is one
*group* across languages (X-Y batches need groups present in both X and Y; a batch never holds two
pairs of one group, whose positives would be false negatives). ``native/`` sets are monolingual.

Contamination: XQuAD (and so XQuAD-R) is 240 paragraphs of SQuAD v1.1 dev. Every English SQuAD
paragraph whose text or any question id is XQuAD's is dropped, and through the shared ids its
translations in es/it/da too (a translated paragraph goes when any of its questions does).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..core.files import data_dir, load_json
from ..core.squad import check_squad

# dataset -> {language: files under qa-train/}; "parallel" datasets share question ids across languages
SOURCES = {
    "squad": {"parallel": True, "files": {"en": ["squad/en.dev-v1.1.json"], "es": ["squad/es.dev-v1.1-small.json"],
                                          "it": ["squad/it.dev-v1.1.json"], "da": ["squad/da.dev-v1.1-small.json"]}},
    "arcd": {"parallel": False, "files": {"ar": ["native/ar.arcd.json"]}},
    "cmrc2018": {"parallel": False, "files": {"zh": ["native/zh.cmrc2018-dev.json", "native/zh.cmrc2018-trial.json"]}},
    # DRCD is Traditional Chinese: language "zh" (the evaluation sets' code), its own dataset
    "drcd": {"parallel": False, "files": {"zh": ["native/zh-tw.drcd-dev.json", "native/zh-tw.drcd-test.json"]}},
    "jsquad": {"parallel": False, "files": {"ja": ["native/ja.jsquad-valid-v1.3.json"]}},
}
XQUAD_EN = "lareqa/xquad-r/en.json"
JSQUAD_TITLE = re.compile(r"^[^\n]*? \[SEP\] ")  # JSQuAD contexts are "title [SEP] text"


@dataclass
class Paragraph:
    sentences: list[str]
    context: str


@dataclass
class PairSet:
    """Column lists, one row per pair; ``paragraphs[p]`` holds the sentences hard negatives come from."""
    query: list[str] = field(default_factory=list)
    lang: list[str] = field(default_factory=list)
    dataset: list[str] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    paragraph: list[int] = field(default_factory=list)   # index into paragraphs
    sentence: list[int] = field(default_factory=list)    # index of the answer sentence in its paragraph
    split_key: list[str] = field(default_factory=list)   # paragraph identity shared by translations
    paragraphs: list[Paragraph] = field(default_factory=list)
    context: bool = False
    counts: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.query)

    def positive(self, i: int) -> str:
        return self.candidate(self.paragraph[i], self.sentence[i])

    def candidate(self, p: int, s: int) -> str:
        para = self.paragraphs[p]
        return f"{para.sentences[s]} {para.context}" if self.context else para.sentences[s]

    def paragraph_negatives(self, i: int) -> list[str]:
        """The other sentences of the positive's paragraph (hard: same topic, same language)."""
        p, s = self.paragraph[i], self.sentence[i]
        positive = self.paragraphs[p].sentences[s]
        return [self.candidate(p, j) for j, x in enumerate(self.paragraphs[p].sentences) if j != s and x != positive]



def split_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``; trailing spaces belong to the sentence."""
    from sentencex import get_sentence_boundaries

    spans = [(b["start_index"], b["end_index"]) for b in get_sentence_boundaries(lang, text)]
    return [(a, b) for a, b in spans if text[a:b].strip()] or [(0, len(text))]


def xquad_contamination(root: Path) -> tuple[set[str], set[str]]:
    """XQuAD's question ids and normalised paragraph texts (from XQuAD-R English)."""
    path = root / XQUAD_EN
    if not path.is_file():
        raise InputError(f"{path}: missing; it is needed to drop XQuAD paragraphs from SQuAD training data")
    ids, texts = set(), set()
    for article in check_squad(load_json(path), path):
        for para in article["paragraphs"]:
            texts.add(_norm(para["context"]))
            ids.update(q["id"] for q in para["qas"])
    return ids, texts


def _norm(text: str) -> str:
    return " ".join(text.split())


def _read_squad(path: Path) -> list[dict]:
    """The articles of a SQuAD-format file, every field's type checked (one line naming the field)."""
    return check_squad(load_json(path), path)


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


def load_pairs(root: str | Path | None = None, languages: list[str] | None = None,
               datasets: list[str] | None = None, context: bool = False, quiet: bool = False) -> PairSet:
    """All training pairs of the chosen datasets and languages, XQuAD paragraphs removed."""
    root = data_dir(root)
    train = root / "qa-train"
    unknown = sorted(set(datasets or []) - set(SOURCES))
    if unknown:
        raise InputError(f"unknown training dataset(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    chosen = {d: s for d, s in SOURCES.items() if not datasets or d in datasets}
    available = sorted({x for s in chosen.values() for x in s["files"]})
    missing = sorted(set(languages or []) - set(available))
    if missing:
        raise InputError(f"no training data for language(s) {', '.join(missing)} in {', '.join(chosen)}; "
                         f"languages with data: {', '.join(available)}")
    xquad_ids, xquad_texts = xquad_contamination(root) if "squad" in chosen else (set(), set())

    out = PairSet(context=context)
    counts = {"questions": {}, "pairs": {}, "dropped_xquad": {}, "dropped_unaligned": {}, "dropped_empty": {}}
    drop_ids: set[str] = set()
    english: dict[str, str] = {}  # SQuAD id -> English paragraph key
    for name, source in chosen.items():
        langs = [x for x in source["files"] if not languages or x in languages]
        # English first: it defines which SQuAD ids are XQuAD's (also when English itself is not trained)
        order = (["en"] if name == "squad" else []) + [x for x in source["files"] if x != "en" or name != "squad"]
        for lang in order:
            use = lang in langs
            if not use and not (name == "squad" and lang == "en"):
                continue
            key = f"{name}/{lang}"
            if use:
                for c in counts.values():
                    c.setdefault(key, 0)
            for rel in source["files"][lang]:
                path = train / rel
                if not path.is_file():
                    raise InputError(f"{path}: training file missing (data dir {root}; see its README)")
                for a, article in enumerate(_read_squad(path)):
                    for p, para in enumerate(article["paragraphs"]):
                        ids = [str(q["id"]) for q in para["qas"]]
                        if name == "squad":
                            if lang == "en" and (_norm(para["context"]) in xquad_texts or xquad_ids & set(ids)):
                                drop_ids.update(ids)
                            if drop_ids & set(ids):
                                if use:
                                    counts["dropped_xquad"][key] += len(ids)
                                continue
                        if name == "squad" and lang == "en":
                            english.update((qid, f"{name}:{rel}:{a}:{p}") for qid in ids)
                        if not use:
                            continue
                        _add_paragraph(out, counts, key, name, lang, rel, a, p, para, english)
    counts["pairs_total"] = len(out)
    out.counts = counts
    if not quiet:
        print(f"training pairs: {len(out)} ({', '.join(f'{k} {v}' for k, v in counts['pairs'].items() if v)}); "
              f"dropped as XQuAD paragraphs: {sum(counts['dropped_xquad'].values())} "
              f"({', '.join(f'{k} {v}' for k, v in counts['dropped_xquad'].items() if v)}); "
              f"answer not found in context: {sum(counts['dropped_unaligned'].values())}")
    return out


def _add_paragraph(out: PairSet, counts: dict, key: str, name: str, lang: str, rel: str, a: int, p: int,
                   para: dict, english: dict) -> None:
    context = para["context"]
    offset = 0
    if name == "jsquad":
        m = JSQUAD_TITLE.match(context)
        offset = m.end() if m else 0
    text = context[offset:]
    spans = split_sentences(text, lang)
    sentences = [text[s:e].strip() for s, e in spans]
    out.paragraphs.append(Paragraph(sentences, _norm(text)))
    pi = len(out.paragraphs) - 1
    for q in para["qas"]:
        counts["questions"][key] += 1
        question = str(q.get("question", "")).strip(" -\t\n")
        answers = [{**x, "answer_start": x.get("answer_start", -1) - offset} for x in q.get("answers") or []]
        start = _answer_start(text, answers)
        if start is None:
            counts["dropped_unaligned"][key] += 1
            continue
        if not question:
            counts["dropped_empty"][key] += 1
            continue
        s = next((k for k, (b, e) in enumerate(spans) if b <= start < e), len(spans) - 1)
        qid = str(q["id"])
        out.query.append(question)
        out.lang.append(lang)
        out.dataset.append(name)
        out.group.append(qid if SOURCES[name]["parallel"] else f"{name}:{qid}")
        out.paragraph.append(pi)
        out.sentence.append(s)
        # translations of a paragraph must fall on the same side of the train/validation split: the
        # parallel sets take the English paragraph's position through the shared question id
        here = f"{name}:{rel}:{a}:{p}"
        if SOURCES[name]["parallel"]:
            here = english.setdefault(qid, here) if lang == "en" else english.get(qid, here)
        out.split_key.append(here)
        counts["pairs"][key] += 1


def split_validation(pairs: PairSet, percent: float) -> tuple[list[int], list[int]]:
    """(train rows, validation rows): whole paragraphs (and their translations) held out by a hash."""
    def held(key: str) -> bool:
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10000 < percent * 100
    val = [i for i, k in enumerate(pairs.split_key) if held(k)]
    held_out = set(val)
    return [i for i in range(len(pairs)) if i not in held_out], val
