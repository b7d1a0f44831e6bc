"""Readers of the three training-set formats, each yielding ``Unit``s: a paragraph with its questions, or one
record with its own positive. No sentence splitting here (``pairs`` does that), no filtering beyond the
format's own rules.

- ``squad``: SQuAD v1.1/v2.0 JSON, plain, ``.gz`` or a member of a ``.zip``; or the same records flattened
  one per line (JSONL, the Hugging Face ``squad`` layout: ``id``, ``context``, ``question``,
  ``answers = {text: [...], answer_start: [...]}``; consecutive records of one context are one paragraph).
  Answers without a usable ``answer_start`` (missing or null) are left out and counted; ``is_impossible``
  questions are marked (and skipped by ``pairs``).
- ``pairs``: JSONL (``.gz`` too), one pair a line: ``query``, ``positive``, ``lang``, optional ``group``
  (links translations), ``negatives`` (a list) and ``positive_lang`` (a pre-made cross-lingual pair).
- ``hf``: ``datasets.load_dataset(name, config, split=...)`` (a hub name or a local dataset folder of
  JSON/CSV/parquet files) or ``load_from_disk`` (a folder written by ``save_to_disk``), with a column
  mapping to the ``pairs`` fields, or to ``context`` + ``answers`` (SQuAD-like rows).
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.files import load_json, not_utf8
from ..core.squad import check_squad
from .sets import FileRef, TrainingSet


@dataclass
class Question:
    id: str
    text: str
    answers: list | None = None     # [{"text", "answer_start"}]; None: the unit's positive is given
    impossible: bool = False
    no_start: int = 0               # answers left out for lacking a usable answer_start


@dataclass
class Unit:
    lang: str
    key: str                        # the paragraph's (record's) place: the train/validation split hashes it
    context: str | None             # paragraph text after the set's context_prefix; None: a given positive
    questions: list[Question]
    offset: int = 0                 # characters the context_prefix took off
    positive: str | None = None
    negatives: tuple = ()
    positive_lang: str | None = None
    group: str | None = None        # a record's declared group
    where: str = ""


def units(ts: TrainingSet, quiet: bool = True):
    """Every unit of a set, in declaration order (squad: language by language, file by file)."""
    if ts.format == "squad":
        prefix = re.compile(ts.context_prefix) if ts.context_prefix else None
        for lang in ts.languages:
            for ref in ts.files[lang]:
                if ref.label.removesuffix(".gz").endswith(".jsonl"):
                    yield from _flat_squad(ts, lang, ref, _lines(ref), prefix)
                else:
                    yield from _squad(ts, lang, ref, prefix)
    elif ts.format == "pairs":
        for ref in ts.files[""]:
            for n, obj in _lines(ref):
                yield _record(ts, obj, f"{ref}:{n}", f"{ts.name}:{ref.label}:{n}")
    else:
        yield from _hf(ts, quiet)


def _bytes(ref: FileRef) -> bytes:
    try:
        if ref.member:
            with zipfile.ZipFile(ref.path) as z:
                data = z.read(ref.member)
        else:
            data = ref.path.read_bytes()
        if (ref.member or ref.label).endswith(".gz"):
            data = gzip.decompress(data)
    except KeyError:
        raise InputError(f"{ref.path}: the zip has no member {ref.member!r}") from None
    except (zipfile.BadZipFile, gzip.BadGzipFile, EOFError, OSError) as e:
        raise InputError(f"{ref}: not readable ({type(e).__name__}: {e})") from None
    return data


def _json(ref: FileRef):
    if not ref.member and not ref.label.endswith(".gz"):
        return load_json(ref.path)  # its wording: truncated / malformed JSON with line and column
    data = _bytes(ref)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise not_utf8(Path(str(ref)), data, e) from None
    except json.JSONDecodeError as e:
        raise InputError(f"{ref}: malformed or truncated JSON ({e.msg}; line {e.lineno}, column {e.colno})") from None


def _lines(ref: FileRef):
    """(line number, object) of every non-blank line of a JSONL file (plain, .gz or a zip member)."""
    data = _bytes(ref)
    for n, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise not_utf8(Path(str(ref)), raw, e, n) from None
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{ref}:{n}: malformed JSON ({e.msg}; column {e.colno})") from None


def _drop_startless(raw) -> None:
    """Answers without a usable ``answer_start`` (missing or null) are taken out and counted on their question
    (``_no_start``), before the format check, which rejects every other wrong type by name."""
    data = raw.get("data") if isinstance(raw, dict) else None
    for article in data if isinstance(data, list) else []:
        paras = article.get("paragraphs") if isinstance(article, dict) else None
        for para in paras if isinstance(paras, list) else []:
            qas = para.get("qas") if isinstance(para, dict) else None
            for qa in qas if isinstance(qas, list) else []:
                answers = qa.get("answers") if isinstance(qa, dict) else None
                if isinstance(answers, list):
                    keep = [x for x in answers if not (isinstance(x, dict) and x.get("answer_start") is None)]
                    if len(keep) < len(answers):
                        qa["answers"], qa["_no_start"] = keep, len(answers) - len(keep)


def _strip(context: str, prefix) -> int:
    m = prefix.match(context) if prefix else None
    return m.end() if m else 0


def _squad(ts: TrainingSet, lang: str, ref: FileRef, prefix):
    raw = _json(ref)
    _drop_startless(raw)
    for a, article in enumerate(check_squad(raw, str(ref))):
        for p, para in enumerate(article["paragraphs"]):
            offset = _strip(para["context"], prefix)
            questions = [Question(str(q["id"]), str(q.get("question", "")), q.get("answers") or [],
                                  q.get("is_impossible") is True, q.get("_no_start", 0)) for q in para["qas"]]
            yield Unit(lang, f"{ts.name}:{ref.label}:{a}:{p}", para["context"][offset:], questions, offset,
                       where=f"{ref}: data[{a}].paragraphs[{p}]")


def _answers(value, where: str) -> tuple[list, int]:
    """The Hugging Face layout ``{text: [...], answer_start: [...]}`` (or SQuAD's list) as SQuAD's list."""
    if isinstance(value, dict):
        texts, starts = value.get("text") or [], value.get("answer_start") or []
        if not isinstance(texts, list) or not isinstance(starts, list):
            raise InputError(f"{where}: answers: expected lists text and answer_start")
        value = [{"text": t, "answer_start": starts[i] if i < len(starts) else None} for i, t in enumerate(texts)]
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise InputError(f"{where}: answers: expected {{text: [...], answer_start: [...]}} or a list of answers")
    keep = [x for x in value if isinstance(x.get("answer_start"), int) and not isinstance(x["answer_start"], bool)
            and isinstance(x.get("text"), str)]
    return keep, len(value) - len(keep)


def _flat_squad(ts: TrainingSet, lang: str, ref_or_name, rows, prefix, columns: dict | None = None):
    """SQuAD records one per row, consecutive rows of one context forming one paragraph."""
    c = columns or {"id": "id", "query": "question", "context": "context", "answers": "answers"}
    current, p = None, -1
    for n, row in rows:
        where = f"{ref_or_name}:{n}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected an object")
        context, question = row.get(c["context"]), row.get(c["query"])
        qid = row.get(c.get("id", "id"), row.get("question_id", n))
        if not isinstance(context, str) or not isinstance(question, str) or not isinstance(qid, (str, int)):
            raise InputError(f"{where}: a SQuAD record needs a context and a question (strings) and an id")
        answers, no_start = _answers(row.get(c["answers"], []), where)
        q = Question(str(qid), question, answers, row.get("is_impossible") is True, no_start)
        row_lang = str(row.get(c["lang"], lang)) if "lang" in c else lang
        if current is not None and current.context == context[current.offset:] and current.lang == row_lang:
            current.questions.append(q)
            continue
        if current is not None:
            yield current
        p += 1
        label = ref_or_name.label if isinstance(ref_or_name, FileRef) else ref_or_name
        offset = _strip(context, prefix)
        current = Unit(row_lang, f"{ts.name}:{label}:{p}", context[offset:], [q], offset, where=where)
    if current is not None:
        yield current


def _text(obj: dict, key: str, where: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {'no ' + key if value in (None, '') else key + ' must be a non-empty string'}")
    return value


def _record(ts: TrainingSet, obj, where: str, key: str, columns: dict | None = None) -> Unit:
    c = columns or {k: k for k in ("query", "positive", "lang", "group", "negatives", "positive_lang", "id")}
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected an object with query, positive and lang")
    query = _text(obj, c["query"], where)
    positive = _text(obj, c["positive"], where)
    lang = obj.get(c["lang"]) if "lang" in c else None
    if lang is None and ts.format == "hf" and ts.languages:  # an hf set's one language
        lang = ts.languages[0]
    if not isinstance(lang, str) or not lang:
        raise InputError(f"{where}: no lang (the query's language code)")
    group = obj.get(c["group"]) if "group" in c else None
    if group is not None and not isinstance(group, (str, int)):
        raise InputError(f"{where}: group must be a string or an integer")
    negatives = obj.get(c["negatives"]) if "negatives" in c else None
    if negatives is None:
        negatives = []
    if not isinstance(negatives, list) or not all(isinstance(x, str) and x.strip() for x in negatives):
        raise InputError(f"{where}: negatives must be a list of non-empty strings")
    positive_lang = obj.get(c["positive_lang"]) if "positive_lang" in c else None
    if positive_lang is not None and not isinstance(positive_lang, str):
        raise InputError(f"{where}: positive_lang must be a language code")
    rid = obj.get(c["id"]) if "id" in c else None
    qid = str(group if group is not None else rid if isinstance(rid, (str, int)) else key)  # key: unique
    return Unit(lang, key, None, [Question(qid, query)], positive=positive, negatives=tuple(negatives),
                positive_lang=positive_lang or lang, group=None if group is None else str(group), where=where)


def _hf(ts: TrainingSet, quiet: bool):
    import datasets

    h, name = ts.hf, ts.hf["name"]
    try:
        if Path(name).is_dir() and ((Path(name) / "state.json").is_file() or
                                    (Path(name) / "dataset_dict.json").is_file()):
            ds = datasets.load_from_disk(name)  # a folder written by save_to_disk
            ds = ds[h["split"]] if isinstance(ds, datasets.DatasetDict) else ds
        else:
            ds = datasets.load_dataset(name, h["config"], split=h["split"])
    except Exception as e:  # noqa: BLE001 - offline, missing files, a wrong split: one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{ts.where}: {name} (split {h['split']}) not readable through datasets "
                         f"({type(e).__name__}: {reason})"[:500]) from None
    columns = h["columns"]
    missing = sorted({v for k, v in columns.items()} - set(ds.column_names))
    if missing:
        raise InputError(f"{ts.where}: columns: {', '.join(missing)} not in {name} (its columns: "
                         f"{', '.join(ds.column_names)})")
    rows = ((n, row) for n, row in enumerate(ds, 1))
    if "positive" in columns:
        for n, row in rows:
            yield _record(ts, row, f"{name}:{n}", f"{ts.name}:{h['split']}:{n}", columns)
    else:
        prefix = re.compile(ts.context_prefix) if ts.context_prefix else None
        lang = ts.languages[0] if ts.languages else ""
        yield from _flat_squad(ts, lang, f"{name}[{h['split']}]", rows, prefix, columns)


def read_ids(path: Path) -> set[str]:
    """An id list: one id a line; blank lines and lines starting with # are skipped."""
    text = path.read_text(encoding="utf-8")
    return {x.strip() for x in text.splitlines() if x.strip() and not x.lstrip().startswith("#")}
