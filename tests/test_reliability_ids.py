"""Ids and references checked once, where they are read (probe of 2026-12-07: the ID check, A2, A4, A5).

Every id that enters a TREC or Pyserini file (qids, docids; topics, qrels, runs, corpora of every format,
LAReQA question ids) goes through ``core.trec.check_id``: whitespace or a control character is one line
naming the file and the line. A run's docids must be candidates of its language (A2); judgements of
passages a Pyserini-format corpus lacks are dropped and counted as MIRACL's are (A4); a Pyserini-format
corpus is checked as MIRACL's is (A5). All on tiny sets cut from the real shared data."""

import json
import os
import re
import shutil

import pandas as pd
import pytest
from test_miracl_languages import OFFLINE, miracl_language

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.trec import check_id, read_qrels, read_run, read_topics, write_run
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data import user_sets
from pyserini_hybrid.data.convert import convert, parse_lareqa
from pyserini_hybrid.evaluate.measures import evaluate_run_dir

SETS = """\
[tiny-qa]
format = "lareqa"
languages = { de = "tiny-qa/de.json", en = "tiny-qa/en.json" }

[my-trec]
format = "pyserini"
[my-trec.languages.sw]
topics = "my-trec/topics.sw.tsv"
qrels = "my-trec/qrels.sw.txt"
corpus = "my-trec/corpus.jsonl"
"""


@pytest.fixture(autouse=True)
def no_leftover_registrations(monkeypatch):
    monkeypatch.setattr(user_sets, "_registered", [])
    monkeypatch.setattr(user_sets, "_data_dir", [None])
    monkeypatch.delenv(user_sets.ENV, raising=False)


@pytest.fixture
def mine(tmp_path, shared_data):
    """A data dir with a LAReQA pair (two XQuAD-R paragraphs, de and en) and a Pyserini-format sw set (real
    MIRACL-mini lines), declared in sets.toml and registered as --topic-sets does."""
    root = tmp_path / "mine"
    for lang in ("de", "en"):
        raw = json.loads((shared_data / "lareqa/xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        raw["data"] = [{**raw["data"][0], "paragraphs": raw["data"][0]["paragraphs"][:2]}]
        (root / "tiny-qa").mkdir(parents=True, exist_ok=True)
        (root / "tiny-qa" / f"{lang}.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    sw = miracl_language(shared_data, tmp_path / "src" / "sw", slice(0, 4), extra=10)
    (root / "my-trec").mkdir()
    (root / "my-trec" / "corpus.jsonl").write_text("".join(
        json.dumps({"id": (d := json.loads(x))["docid"], "contents": f"{d['title']} {d['text']}"}, ensure_ascii=False)
        + "\n" for x in sw["lines"]), encoding="utf-8")
    shutil.copy(tmp_path / "src/sw/topics.dev.tsv", root / "my-trec" / "topics.sw.tsv")
    shutil.copy(tmp_path / "src/sw/qrels.dev.tsv", root / "my-trec" / "qrels.sw.txt")
    (root / "sets.toml").write_text(SETS, encoding="utf-8")
    tp.register_topic_sets([root / "sets.toml"])
    return root


def perfect_run(topics, dataset, x, y, path):
    """Each query of X with qrels X-Y: its relevant candidates first, score descending."""
    rows = [(q, d, i + 1, 10.0 - i) for q, docs in read_qrels(tp.qrels_path(dataset, x, y, topics)).items()
            for i, d in enumerate(sorted(docs))]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), path, "t")


# ----------------------------------------------------------------------------------------- the one check


@pytest.mark.parametrize("value, problem", [
    ("a b", "docid 'a b' contains whitespace"),
    ("a\u00a0b", r"docid 'a\xa0b' contains whitespace"),
    ("a\u3000b", r"docid 'a\u3000b' contains whitespace"),
    ("a\x01b", r"docid 'a\x01b' contains a control character"),
    ("a\x7f", r"docid 'a\x7f' contains a control character"),
    ("\ud800", r"docid '\ud800' contains a lone surrogate"),
    ("", "empty docid"),
])
def test_check_id_says_what_is_wrong_on_one_line(value, problem):
    with pytest.raises(InputError) as e:
        check_id(value, "docid", "f.jsonl:3")
    assert str(e.value).startswith(f"f.jsonl:3: {problem}")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["en-0-1-2", "9266#1", "zh-问题-1", "ñandú_ü.3", "doc:42/a"])
def test_check_id_accepts_real_ids(value):
    assert check_id(value, "docid", "f") == value


# ------------------------------------------------------------------------------- every reader, every file


@pytest.mark.parametrize("text, message", [
    ("q1\tWhat?\nq\x012\tWhy?\n", r"topics\.tsv:2: qid 'q\\x012' contains a control character"),
    ("q1\tWhat?\nq\u00a02\tWhy?\n", r"topics\.tsv:2: qid 'q\\xa02' contains whitespace"),
])
def test_topic_qids_are_checked(tmp_path, text, message):
    (tmp_path / "topics.tsv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_topics(tmp_path / "topics.tsv")


@pytest.mark.parametrize("text, message", [
    ("q1 0 d1 1\nq2 0 d\x7f2 1\n", r"qrels\.txt:2: docid 'd\\x7f2' contains a control character"),
    ("q1 0 d1 1\nq\x1b2 0 d2 1\n", r"qrels\.txt:2: qid 'q\\x1b2' contains a control character"),
])
def test_qrels_ids_are_checked(tmp_path, text, message):
    (tmp_path / "qrels.txt").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_qrels(tmp_path / "qrels.txt")


@pytest.mark.parametrize("field, value, message", [
    (2, "en-0-0-1\u00a0x", r"en\.trec:3: docid 'en-0-0-1\\xa0x' contains whitespace"),  # pandas keeps it in one field
    (0, "en-5\x01", r"en\.trec:3: qid 'en-5\\x01' contains a control character"),
])
def test_run_ids_are_checked(tmp_path, field, value, message):
    lines = [f"en-{q} Q0 en-0-0-{d} {d + 1} {5 - d}.0 t" for q in (1, 2) for d in range(2)]
    parts = lines[2].split()
    parts[field] = value
    lines[2] = " ".join(parts)
    (tmp_path / "en.trec").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_run(tmp_path / "en.trec")


def test_a_lareqa_question_id_with_a_control_character_fails_at_conversion(mine):
    path = mine / "tiny-qa" / "de.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["data"][0]["paragraphs"][1]["qas"][0]["id"] = "abc\x07def"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(InputError, match=r"de\.json: article 0 paragraph 1: question id 'abc\\x07def' contains a "
                                         "control character"):
        parse_lareqa(path, "de")


def test_a_miracl_docid_with_a_space_is_one_line_naming_file_and_line(tmp_path, shared_data, cli_error):
    """The ID CHECK: it used to convert (exit 0) and break every whitespace-separated TREC file downstream."""
    root = tmp_path / "data"
    miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 3), extra=5)
    corpus = root / "miracl-mini" / "de" / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[3] = json.dumps({**json.loads(lines[3]), "docid": "a b"}, ensure_ascii=False)
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    error = cli_error(["pyserini_hybrid.topics", "convert", "miracl-mini", "--languages", "de", "--data-dir", str(root),
                       "--topics-dir", str(tmp_path / "topics")], {**os.environ, **OFFLINE})
    assert error == f"error: {corpus}:4: docid 'a b' contains whitespace"
    assert not (tmp_path / "topics" / "miracl-mini").exists()


# ------------------------------------------------------------------------------------------ A5: corpora


@pytest.mark.parametrize("line, message", [
    ({"id": None, "contents": "x"}, r"corpus\.jsonl:{n}: id must be a string, got null"),
    ({"id": 7, "contents": "x"}, r"corpus\.jsonl:{n}: id must be a string, got int"),
    ({"id": "n1", "contents": None}, r"corpus\.jsonl:{n}: contents must be a string, got null"),
    ({"id": "e1", "contents": ""}, r"corpus\.jsonl:{n}: empty passage: docid e1 has no text"),
    ({"id": "e2", "contents": " \n "}, r"corpus\.jsonl:{n}: empty passage: docid e2 has no text"),
    ({"id": "a b", "contents": "x"}, r"corpus\.jsonl:{n}: docid 'a b' contains whitespace"),
    ({"id": "dup"}, r"corpus\.jsonl:{n}: duplicate docid {first} \(first on line 1\)"),
])
def test_a_bad_pyserini_corpus_line_is_one_line(mine, tmp_path, line, message):
    corpus = mine / "my-trec" / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])["id"]
    extra = lines[0] if line == {"id": "dup"} else json.dumps(line)
    corpus.write_text("\n".join(lines + [extra]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message.format(n=len(lines) + 1, first=re.escape(first))) as e:
        convert("my-trec", mine, tmp_path / "topics", quiet=True)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "topics" / "my-trec").exists()


def test_a_miracl_passage_without_text_is_one_line(tmp_path, shared_data):
    """The same rule for MIRACL: Anserini skips an empty passage, and BM25 then fails on a count."""
    root = tmp_path / "data"
    miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 3), extra=5)
    corpus = root / "miracl-mini" / "de" / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "title": "", "text": "  "}, ensure_ascii=False)
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"corpus\.jsonl:2: empty passage: docid .* has no text"):
        convert("miracl-mini", root, tmp_path / "topics", quiet=True, languages=["de"])


# ---------------------------------------------------------------------- A4: judgements without passages


def test_pyserini_judgements_of_missing_passages_are_dropped_and_counted(mine, tmp_path):
    """A4: a qrels line naming X<docid> (not in the corpus) scored every query holding it lower, with
    ``warnings: []``. Now: dropped, said, counted in meta.json, and a perfect run scores 1."""
    qrels = mine / "my-trec" / "qrels.sw.txt"
    lines = qrels.read_text(encoding="utf-8").splitlines()
    q, _, d, _ = lines[0].split()
    qrels.write_text("\n".join(lines + [f"{q} 0 X{d} 1"]) + "\n", encoding="utf-8")
    topics = tmp_path / "topics"
    meta = convert("my-trec", mine, topics, quiet=True)
    assert meta["counts"]["sw"]["judgements_without_passage"] == 1
    assert any(w.startswith(f"{qrels}: 1 judgement(s) name docids not in the corpus of sw; dropped")
               for w in meta["warnings"])
    assert json.loads((topics / "my-trec" / "meta.json").read_text())["counts"]["sw"]["judgements_without_passage"] == 1
    assert f"X{d}" not in (topics / "my-trec" / "qrels" / "sw-sw.txt").read_text()
    perfect_run(topics, "my-trec", "sw", "sw", tmp_path / "runs" / "sw.trec")
    result = evaluate_run_dir("my-trec", tmp_path / "runs", ["sw"], topics)
    assert result["settings"]["sw-sw"]["nDCG@10"] == pytest.approx(1.0)


def test_pyserini_qrels_naming_no_passage_of_the_corpus_is_an_error(mine, tmp_path):
    qrels = mine / "my-trec" / "qrels.sw.txt"
    qrels.write_text("".join(f"{q} {i} X{d} {r}\n" for q, i, d, r in map(str.split, qrels.read_text().splitlines())))
    with pytest.raises(InputError, match=r"qrels\.sw\.txt: none of its \d+ judged docids is in the corpus of sw"):
        convert("my-trec", mine, tmp_path / "topics", quiet=True)


# ------------------------------------------------------------------------ A2: runs of another language


def test_a_run_of_another_language_is_refused(mine, tmp_path):
    """A2: en.trec copied over de.trec was scored as German (0.0000) with no word; the qids are all
    topics of the set, so only the docids tell. The genuine runs still pass, pool included."""
    topics = tmp_path / "topics"
    convert("tiny-qa", mine, topics, quiet=True)
    runs = tmp_path / "runs"
    runs.mkdir()
    for x in ("de", "en"):  # <X>.trec holds every query language's queries against X's candidates
        rows = [(q, d, 1, 1.0) for y in ("de", "en")
                for q, docs in read_qrels(tp.qrels_path("tiny-qa", y, x, topics)).items() for d in docs]
        write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), runs / f"{x}.trec", "t")
    perfect_run(topics, "tiny-qa", "en", "pool", runs / "pool.trec")
    result = evaluate_run_dir("tiny-qa", runs, ["de", "en"], topics)
    assert result["macro"]["Mo"]["AP"] == pytest.approx(1.0)
    shutil.copy(runs / "en.trec", runs / "de.trec")
    with pytest.raises(InputError, match=r"de\.trec: \d+ of \d+ docids are not tiny-qa candidates in the de corpus "
                                         r"\(e\.g\. 'en-0-"):
        evaluate_run_dir("tiny-qa", runs, ["de", "en"], topics)
    shutil.rmtree(topics / "tiny-qa" / "docids")  # converted before the docid list was kept: the corpus says it
    with pytest.raises(InputError, match=r"de\.trec: \d+ of \d+ docids are not tiny-qa candidates"):
        evaluate_run_dir("tiny-qa", runs, ["de", "en"], topics)


def test_a_monolingual_run_of_other_data_is_refused(mine, tmp_path):
    """No language prefix in MIRACL-style docids: the check is against the corpus itself."""
    topics = tmp_path / "topics"
    convert("my-trec", mine, topics, quiet=True)
    perfect_run(topics, "my-trec", "sw", "sw", tmp_path / "runs" / "sw.trec")
    run = tmp_path / "runs" / "sw.trec"
    lines = run.read_text().splitlines()
    lines[-1] = lines[-1].replace(lines[-1].split()[2], "9266#99999")
    run.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"sw\.trec: 1 of \d+ docids are not my-trec candidates in the sw corpus "
                                         r"\(e\.g\. '9266#99999'\)"):
        evaluate_run_dir("my-trec", tmp_path / "runs", ["sw"], topics)

