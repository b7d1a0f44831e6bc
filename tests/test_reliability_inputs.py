"""Inputs validated where they are read, flags before any work (issue 19), on tiny data cut from the real
files: MIRACL passages of the wrong type, duplicate docids, empty corpora, qrels naming passages the corpus
lacks, LAReQA fields of the wrong type, study languages that match nothing, queries too long for Lucene."""

import json
import sys
import textwrap

import pandas as pd
import pytest
from test_miracl_languages import miracl_language

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import read_jsonl
from pyserini_hybrid.core.trec import read_qrels, read_topics, write_run
from pyserini_hybrid.data.convert import convert, parse_lareqa


@pytest.fixture
def tiny_miracl(tmp_path, shared_data):
    """A data dir whose miracl-mini holds one small MIRACL language, de, cut from real sw lines."""
    root = tmp_path / "data"
    facts = miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 4), extra=10)
    return root, root / "miracl-mini" / "de", facts


def convert_de(root, tmp_path):
    return convert("miracl-mini", root, tmp_path / "topics", quiet=True, languages=["de"])


def set_line(path, n, change):
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[n - 1] = change(lines[n - 1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def with_field(key, value):
    return lambda line: json.dumps({**json.loads(line), key: value}, ensure_ascii=False)


# ------------------------------------------------------------------------------------------- MIRACL corpus


@pytest.mark.parametrize("line, change, message", [
    (3, with_field("text", None), r"corpus\.jsonl:3: text must be a string, got null"),
    (5, with_field("title", 7), r"corpus\.jsonl:5: title must be a string, got int"),
    (2, with_field("docid", 12), r"corpus\.jsonl:2: docid must be a string, got int"),
    (4, with_field("docid", " "), r"corpus\.jsonl:4: empty docid"),
    (6, lambda line: json.dumps({"id": "x", "contents": "y"}), r"corpus\.jsonl:6: lacks docid/text"),
    (7, lambda line: line[:20], r"corpus\.jsonl: malformed or truncated JSON on line 7"),
])
def test_bad_passage_names_the_line(tiny_miracl, tmp_path, line, change, message):
    root, de, _ = tiny_miracl
    set_line(de / "corpus.jsonl", line, change)
    with pytest.raises(InputError, match=message):
        convert_de(root, tmp_path)
    assert not (tmp_path / "topics" / "miracl-mini").exists()


def test_duplicate_docid_names_both_lines(tiny_miracl, tmp_path):
    root, de, _ = tiny_miracl
    lines = (de / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docid = json.loads(lines[2])["docid"]
    (de / "corpus.jsonl").write_text("\n".join(lines + [lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"corpus\.jsonl:{len(lines) + 1}: duplicate docid {docid} \(first on line 3\)"):
        convert_de(root, tmp_path)


@pytest.mark.parametrize("content", ["", "\n \n"])
def test_empty_corpus_fails_before_datasets(tiny_miracl, tmp_path, monkeypatch, content):
    root, de, _ = tiny_miracl
    (de / "corpus.jsonl").write_text(content, encoding="utf-8")
    monkeypatch.setitem(sys.modules, "datasets", None)  # importing it now would fail: it is never reached
    with pytest.raises(InputError, match=r"corpus\.jsonl: empty MIRACL corpus \(no passages\)"):
        convert_de(root, tmp_path)


def test_read_jsonl_numbers_lines_and_names_bad_bytes(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[2]\n{"b": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"x\.jsonl:4: not UTF-8 text \(byte 0xe9 at column 11"):
        list(read_jsonl(path))
    path.write_text('{"a": 1}\n\n[2]\n', encoding="utf-8")
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (3, [2])]


# ------------------------------------------------------------------------------------ qrels without passages


def test_qrels_naming_missing_passages_are_dropped_and_counted(tiny_miracl, tmp_path):
    """Half the judged passages are missing: their judgements are dropped with a warning, recorded in
    meta.json, and a run that finds every remaining relevant passage scores nDCG@10 = 1 (not less)."""
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir

    root, de, _ = tiny_miracl
    judgements = [line.split() for line in (de / "qrels.dev.tsv").read_text().splitlines()]
    relevant = sorted({d for _, _, d, r in judgements if int(r) > 0})
    others = sorted({d for _, _, d, _ in judgements} - set(relevant))
    gone = set(relevant[::2]) | set(others[::2])  # half the judged passages, half the relevant ones
    lines = (de / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    (de / "corpus.jsonl").write_text("\n".join(x for x in lines if json.loads(x)["docid"] not in gone) + "\n",
                                     encoding="utf-8")
    meta = convert_de(root, tmp_path)
    dropped = sum(d in gone for _, _, d, _ in judgements)
    assert meta["counts"]["de"]["judgements_without_passage"] == dropped > 0
    assert any(f"qrels.dev.tsv: {dropped} judgement(s) name docids not in the corpus of de; dropped" in w
               for w in meta["warnings"])
    on_disk = json.loads((tmp_path / "topics" / "miracl-mini" / "meta.json").read_text())
    assert on_disk["counts"]["de"]["judgements_without_passage"] == dropped
    qrels = read_qrels(tmp_path / "topics" / "miracl-mini" / "qrels" / "de-de.txt")
    assert qrels and not {d for docs in qrels.values() for d in docs} & gone
    assert set(read_topics(tmp_path / "topics" / "miracl-mini" / "topics.de.tsv")) == {
        q for q, _, d, _ in judgements if d not in gone}
    rows = [(q, d, i + 1, 10.0 - i) for q, docs in qrels.items() for i, d in enumerate(sorted(docs))]
    (tmp_path / "runs").mkdir()
    write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), tmp_path / "runs" / "de.trec", "t")
    result = evaluate_run_dir("miracl-mini", tmp_path / "runs", ["de"], tmp_path / "topics", data=root)
    assert result["settings"]["de-de"]["nDCG@10"] == pytest.approx(1.0)


def test_qrels_naming_no_passage_of_the_corpus_is_an_error(tiny_miracl, tmp_path):
    root, de, _ = tiny_miracl
    judged = {line.split()[2] for line in (de / "qrels.dev.tsv").read_text().splitlines()}
    lines = (de / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    (de / "corpus.jsonl").write_text("\n".join(x for x in lines if json.loads(x)["docid"] not in judged) + "\n",
                                     encoding="utf-8")
    with pytest.raises(InputError, match=rf"qrels\.dev\.tsv: none of its {len(judged)} judged docids is in the "
                                         r"corpus of de"):
        convert_de(root, tmp_path)


# -------------------------------------------------------------------------------------------------- LAReQA


@pytest.fixture
def lareqa_file(tmp_path, shared_data):
    raw = json.loads((shared_data / "lareqa/xquad-r/en.json").read_text(encoding="utf-8"))
    raw["data"] = [{**raw["data"][0], "paragraphs": raw["data"][0]["paragraphs"][:2]}]
    return tmp_path / "en.json", raw


def _para(raw):
    return raw["data"][0]["paragraphs"][1]


@pytest.mark.parametrize("change, message", [
    (lambda r: _para(r)["qas"][0]["answers"][0].update(answer_start="12"),
     r"data\[0\]\.paragraphs\[1\]\.qas\[0\]\.answers\[0\]\.answer_start: expected an integer, got str '12'"),
    (lambda r: r.update(data={"title": "x"}), r"not SQuAD format: data: expected a list, got dict"),
    (lambda r: _para(r)["sentences"].__setitem__(1, None), r"paragraphs\[1\]\.sentences\[1\]: expected a string, got null"),
    (lambda r: _para(r).update(context=None), r"paragraphs\[1\]\.context: expected a string, got null"),
    (lambda r: _para(r).pop("sentence_breaks"), r"paragraphs\[1\]: missing 'sentence_breaks'"),
    (lambda r: _para(r)["qas"][0].update(question=["a"]), r"qas\[0\]\.question: expected a string, got list"),
])
def test_lareqa_fields_of_the_wrong_type_are_one_line(lareqa_file, change, message):
    path, raw = lareqa_file
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert parse_lareqa(path, "en")[1]  # the intact slice parses
    change(raw)
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(InputError, match=r"en\.json: .*" + message) as e:
        parse_lareqa(path, "en")
    assert "\n" not in str(e.value)


# -------------------------------------------------------------------------------------------- flags, study


@pytest.mark.parametrize("argv, message", [
    (["bm25", "--threads", "0"], "--threads 0: must be at least 1"),
    (["bm25", "--hits", "-5"], "--hits -5: must be at least 1"),
    (["dense", "--batch-size", "0"], "--batch-size 0: must be at least 1"),
    (["dense", "--shard-num", "0"], "--shard-num 0: must be at least 1"),
    (["dense", "--model", "./no/such/model"], "--model ./no/such/model: no such model directory"),
    (["dense", "--model", "a/b/c"], "not a hub id"),
    (["fusion", "--hits", "0"], "--hits 0: must be at least 1"),
])
def test_flags_are_checked_before_any_work(argv, message, tmp_path, capsys, monkeypatch):
    import importlib

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main = importlib.import_module(f"pyserini_hybrid.{argv[0]}").main
    extra = (["--dense", str(tmp_path), "--sparse", str(tmp_path)] if argv[0] == "fusion"
             else ["--topics-dir", str(tmp_path / "topics")])
    with pytest.raises(SystemExit) as e:
        main(["--dataset", "miracl-mini", "--output", str(tmp_path / "out"), *argv[1:], *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip().splitlines() == [err.strip()] and err.startswith("error: ")
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing converted, no run directory


def test_a_hub_id_is_not_a_dense_model_directory(tmp_path, monkeypatch):
    from pyserini_hybrid.retrieval.options import check_flags

    monkeypatch.setattr("pyserini_hybrid.models.default_model.check_start_model", lambda name, what: None)
    with pytest.raises(InputError, match=r"--model intfloat/e5-small: a hub id, not a model directory"):
        check_flags(__import__("argparse").Namespace(model="intfloat/e5-small"))


STUDY = """\
[study]
name = "x"
recipe = "encoders/me5-small-hybrid-cpu.toml"
seeds = [1]
budgets = [2]
datasets = {datasets}
{extra}
[variants]
hybrid = 0.5
"""


def study_file(tmp_path, datasets='["xquad-r"]', extra=""):
    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(datasets=datasets, extra=textwrap.dedent(extra)), encoding="utf-8")
    return path


@pytest.mark.parametrize("extra, message", [
    ('languages = ["xx", "yy"]', r"\[study\] languages xx, yy: in none of the datasets \(xquad-r: ar, de, el"),
    ('curve_languages = { "xquad-r" = ["xx"] }', r"curve_languages\.xquad-r xx: none of the languages xquad-r has"),
    ('languages = ["en"]\ncurve_languages = { "xquad-r" = ["de"] }',
     r"curve_languages\.xquad-r de: none of the languages xquad-r has here \(en\)"),
])
def test_study_languages_matching_nothing_are_an_error(tmp_path, extra, message):
    from pyserini_hybrid.study.config import Study

    with pytest.raises(InputError, match=message):
        Study.load(study_file(tmp_path, extra=extra))


def test_study_languages_matching_part_say_what_was_skipped(tmp_path, capsys, shared_data):
    from pyserini_hybrid.study.config import Study

    study = Study.load(study_file(tmp_path, '["xquad-r", "miracl-mini"]',
                                  'languages = ["en", "xx"]\ncurve_languages = { "xquad-r" = ["en", "zz"] }'),
                       data=shared_data)
    err = capsys.readouterr().err
    assert "skipped: languages xx: in none of xquad-r, miracl-mini" in err
    assert "skipped: datasets miracl-mini: none of en, xx (miracl-mini: ar, fa, hi, sw, zh)" in err
    assert "skipped: curve_languages.xquad-r zz" in err
    assert study.datasets == ["xquad-r"] and study.languages == ["en", "xx"]


# ------------------------------------------------------------------------------------- long BM25 queries


def long_query(n_chars: int = 10_000) -> str:
    words, i = [], 0
    while sum(len(w) + 1 for w in words) < n_chars:
        words.append(f"neno{i}")
        i += 1
    return " ".join(words)


def test_long_queries_are_cut_for_bm25_with_a_warning(tmp_path, capsys):
    from pyserini_hybrid.retrieval.bm25 import MAX_QUERY_CHARS, cut_long_queries

    topics = tmp_path / "topics.sw.tsv"
    topics.write_text(f"1\tWho won?\n2\t{long_query()}\n3\t{'x' * 5000}\n", encoding="utf-8")
    warnings = []
    cut = cut_long_queries(topics, tmp_path / "run", warnings)
    queries = read_topics(cut)
    assert cut != topics and list(queries) == ["1", "2", "3"] and queries["1"] == "Who won?"
    assert 0.8 * MAX_QUERY_CHARS < len(queries["2"]) <= MAX_QUERY_CHARS and not queries["2"].endswith(" ")
    assert long_query().startswith(queries["2"] + " ") and queries["3"] == "x" * MAX_QUERY_CHARS
    assert warnings == [f"{topics}: 2 queries longer than {MAX_QUERY_CHARS} characters cut to {MAX_QUERY_CHARS} "
                        "for BM25 (Lucene allows 1,024 terms per query): 2, 3"]
    assert warnings[0] in capsys.readouterr().err
    short = tmp_path / "short.tsv"
    short.write_text("1\tWho won?\n", encoding="utf-8")
    assert cut_long_queries(short, tmp_path / "run", warnings) == short and len(warnings) == 1


@pytest.mark.slow
def test_a_10000_character_query_is_searched_by_bm25(tiny_miracl, tmp_path):
    """Pyserini fails a whole search on a query past Lucene's clause limit; cut, it is searched, and said."""
    from pyserini_hybrid.retrieval.bm25 import run_bm25

    root, de, _ = tiny_miracl
    lines = (de / "topics.dev.tsv").read_text(encoding="utf-8").splitlines()
    lines[1] = f"{lines[1]} {long_query()}"  # the question, then words enough for 1,500 distinct terms
    (de / "topics.dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    convert_de(root, tmp_path)
    info = run_bm25("miracl-mini", tmp_path / "run", ["de"], hits=10, threads=1, index_root=tmp_path / "idx",
                    topics_dir=tmp_path / "topics", data=str(root))
    run = pd.read_csv(tmp_path / "run" / "de.trec", sep=" ", header=None, dtype=str)
    assert set(run[0]) == {line.split("\t")[0] for line in lines}
    assert len(info["warnings"]) == 1 and "1 query longer than 1000 characters cut to 1000 for BM25" in info["warnings"][0]
    assert json.loads((tmp_path / "run" / "run-meta.json").read_text())["warnings"] == info["warnings"]
