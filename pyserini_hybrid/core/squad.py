"""The one validator of SQuAD-format JSON (SQuAD, its translations, the native QA sets, LAReQA).

``check_squad(raw, path)`` walks the whole structure once and fails on the first field of a wrong type
with one line naming the file and the field's JSON path, e.g.
``error: es.json: not SQuAD format: data[0].paragraphs[3].qas[1].answers[0].answer_start: expected an integer, got str '12'``,
instead of a TypeError deep inside whoever reads it. Extra fields are allowed (SQuAD v2's
``is_impossible``, LAReQA's ``sentences``); ``lareqa=True`` also requires LAReQA's ``sentences`` and
``sentence_breaks``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

BAD = "not SQuAD format"
_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer"}


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _need(path: Path, where: str, value, expect: type | tuple):
    types = expect if isinstance(expect, tuple) else (expect,)
    if isinstance(value, bool) or not isinstance(value, types):  # JSON true/false are not integers here
        shown = f" {value!r}"[:60] if isinstance(value, (str, int, float)) else ""
        want = " or ".join(_NAMES[t] for t in types)
        raise InputError(f"{path}: {BAD}: {where}: expected {want}, got {_kind(value)}{shown}")
    return value


def check_squad(raw, path: str | Path, lareqa: bool = False) -> list:
    """``raw["data"]`` after checking every article, paragraph, question and answer; else InputError."""
    path = Path(path)
    if not isinstance(raw, dict) or "data" not in raw:
        raise InputError(f"{path}: {BAD} (expected an object with a 'data' list of articles)")
    data = _need(path, "data", raw["data"], list)
    for a, article in enumerate(data):
        where = f"data[{a}]"
        _need(path, where, article, dict)
        if "paragraphs" not in article:
            raise InputError(f"{path}: {BAD}: {where}: missing 'paragraphs'")
        for p, para in enumerate(_need(path, f"{where}.paragraphs", article["paragraphs"], list)):
            pw = f"{where}.paragraphs[{p}]"
            _need(path, pw, para, dict)
            for key in ("context", "qas") + (("sentences", "sentence_breaks") if lareqa else ()):
                if key not in para:
                    raise InputError(f"{path}: {BAD}: {pw}: missing {key!r}")
            _need(path, f"{pw}.context", para["context"], str)
            if lareqa:
                for s, sentence in enumerate(_need(path, f"{pw}.sentences", para["sentences"], list)):
                    _need(path, f"{pw}.sentences[{s}]", sentence, str)
                for b, span in enumerate(_need(path, f"{pw}.sentence_breaks", para["sentence_breaks"], list)):
                    _need(path, f"{pw}.sentence_breaks[{b}]", span, list)
                    if len(span) != 2:
                        raise InputError(f"{path}: {BAD}: {pw}.sentence_breaks[{b}]: expected [start, end]")
                    for x in span:
                        _need(path, f"{pw}.sentence_breaks[{b}]", x, int)
            for q, qa in enumerate(_need(path, f"{pw}.qas", para["qas"], list)):
                qw = f"{pw}.qas[{q}]"
                _need(path, qw, qa, dict)
                for key in ("id", "question"):
                    if key not in qa:
                        raise InputError(f"{path}: {BAD}: {qw}: missing {key!r}")
                _need(path, f"{qw}.id", qa["id"], (str, int))
                _need(path, f"{qw}.question", qa["question"], str)
                for n, ans in enumerate(_need(path, f"{qw}.answers", qa.get("answers", []), list)):
                    aw = f"{qw}.answers[{n}]"
                    _need(path, aw, ans, dict)
                    _need(path, f"{aw}.text", ans.get("text"), str)
                    _need(path, f"{aw}.answer_start", ans.get("answer_start"), int)
    return data
