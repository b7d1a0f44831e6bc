"""The core readers validate fully where they read (issue 19): encodings, empty files, field types,
duplicates, each a one-line error naming the file and the line; on real files from the shared data."""

import shutil

import numpy as np
import pandas as pd
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.trec import read_qrels, read_run, read_topics, write_run


@pytest.fixture
def sw_topics(tmp_path, shared_data):
    """A real MIRACL topics file (Swahili dev), copied so that a test may break it."""
    path = tmp_path / "topics.dev.tsv"
    shutil.copy(shared_data / "miracl-mini/sw/topics.dev.tsv", path)
    return path


def lines_of(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_real_topics_and_qrels_read(sw_topics, shared_data):
    topics = read_topics(sw_topics)
    assert len(topics) == len(lines_of(sw_topics)) and all(topics.values())
    qrels = read_qrels(shared_data / "miracl-mini/sw/qrels.dev.tsv")
    assert sum(len(d) for d in qrels.values()) == len(lines_of(shared_data / "miracl-mini/sw/qrels.dev.tsv"))


def test_latin1_byte_in_topics_names_the_line(sw_topics):
    raw = sw_topics.read_bytes().split(b"\n")
    raw[4] = raw[4] + " caf\xe9".encode("latin-1")
    sw_topics.write_bytes(b"\n".join(raw))
    with pytest.raises(InputError, match=r"topics\.dev\.tsv:5: not UTF-8 text \(byte 0xe9"):
        read_topics(sw_topics)


@pytest.mark.parametrize("text,message", [
    ("", r"topics\.dev\.tsv: empty topic file \(0 bytes\)"),
    ("\n  \n", r"topics\.dev\.tsv: empty topic file"),
    ("1\tWhat?\n2\t   \n", r"topics\.dev\.tsv:2: empty question for qid 2"),
    ("1\tWhat?\n2\t\n", r"topics\.dev\.tsv:2: empty question for qid 2"),
    ("1\tWhat?\n\n1\tAgain?\n", r"topics\.dev\.tsv:3: duplicate qid 1 \(first on line 1\)"),
    ("\tWhat?\n", r"topics\.dev\.tsv:1: empty qid"),
    ("1\tWhat\tnow?\n", r"topics\.dev\.tsv:1: more than one tab"),
])
def test_bad_topic_files(sw_topics, text, message):
    sw_topics.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_topics(sw_topics)


def test_topic_text_with_a_line_separator_is_one_topic(sw_topics):
    """Pyserini splits topic files on newlines only; U+2028 inside a question is not a line break."""
    sw_topics.write_text("1\tWho\u2028won?\n", encoding="utf-8")
    assert read_topics(sw_topics) == {"1": "Who won?"}


def test_duplicate_qrels_judgement_names_both_lines(tmp_path, shared_data):
    path = tmp_path / "qrels.dev.tsv"
    lines = lines_of(shared_data / "miracl-mini/sw/qrels.dev.tsv")
    path.write_text("\n".join(lines + [lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"qrels\.dev\.tsv:{len(lines) + 1}: duplicate judgement of .* \(first on line 3\)"):
        read_qrels(path)


@pytest.mark.parametrize("text,message", [
    ("", r"qrels\.dev\.tsv: empty qrels file"),
    ("1 0 d1 1\n1 0 d2 yes\n", r"qrels\.dev\.tsv:2: not a TREC qrels line"),
])
def test_bad_qrels_files(tmp_path, text, message):
    path = tmp_path / "qrels.dev.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_qrels(path)


@pytest.fixture
def real_run(tmp_path, shared_data):
    """A small run over real MIRACL ids: each sw query retrieves its judged passages, best first."""
    qrels = read_qrels(shared_data / "miracl-mini/sw/qrels.dev.tsv")
    rows = [(q, d, i + 1, 10.0 - i) for q, docs in qrels.items() for i, d in enumerate(sorted(docs))]
    path = tmp_path / "sw.trec"
    write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), path, "test")
    return path


@pytest.mark.parametrize("bad,message", [
    ("abc", r"sw\.trec: not a TREC run .*\(line 7: score 'abc' is not a number\)"),
    ("nan", r"sw\.trec: not a TREC run .*\(line 7: score 'nan' is not a number\)"),
    ("inf", r"sw\.trec:7: score inf is not a finite number"),
])
def test_bad_score_names_the_line(real_run, bad, message):
    lines = lines_of(real_run)
    parts = lines[6].split()
    parts[4] = bad
    lines[6] = " ".join(parts)
    real_run.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message):
        read_run(real_run)


def test_duplicate_run_line_names_both_lines(real_run):
    assert len(read_run(real_run)) == len(lines_of(real_run))
    lines = lines_of(real_run)
    q, _, d = lines[3].split()[:3]
    real_run.write_text("\n".join(lines + [f"{q} Q0 {d} 99 0.5 test"]) + "\n")
    with pytest.raises(InputError, match=rf"sw\.trec:{len(lines) + 1}: duplicate docid {d} for query {q} \(first on line 4"):
        read_run(real_run)


@pytest.mark.parametrize("content,message", [
    (b"", r"sw\.trec: empty run \(0 bytes\)"),
    (b"\n\n", r"sw\.trec: empty run"),
    (b"1 Q0 d\xe9 1 1.0 t\n", r"sw\.trec:1: not UTF-8 text"),
    (b"1 Q0 d1 1 1.0 t\n\n\n1 Q0 d2 x 0.5 t\n", r"sw\.trec: not a TREC run .*\(line 4: rank 'x' is not an integer\)"),
    (b"1 Q0 d1 1 1.0 t\n\n1 Q0 d2 2 0.5 t extra\n", r"sw\.trec: not a TREC run .*\(line 3: 7 fields\)"),
])
def test_bad_run_files(real_run, content, message):
    real_run.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_run(real_run)


def test_big_run_keeps_the_fast_path_and_finds_a_late_duplicate(tmp_path):
    """200k lines: read in well under the time a Python loop would take; the duplicate's line is exact."""
    import time

    n_q, depth = 400, 500
    q = np.repeat(np.arange(n_q), depth)
    d = np.tile(np.arange(depth), n_q)
    df = pd.DataFrame({"query_id": [f"en-{x}" for x in q], "doc_id": [f"de-{x}-0-1" for x in d],
                       "rank": np.tile(np.arange(1, depth + 1), n_q), "score": -np.tile(np.arange(depth), n_q) / 3.0})
    path = tmp_path / "big.trec"
    write_run(df, path, "t")
    start = time.perf_counter()
    assert len(read_run(path)) == n_q * depth
    assert time.perf_counter() - start < 10
    with open(path, "a") as f:
        f.write("en-7 Q0 de-3-0-1 501 -99.0 t\n")
    with pytest.raises(InputError, match=rf"big\.trec:{n_q * depth + 1}: duplicate docid de-3-0-1 for query en-7 "
                                         rf"\(first on line {7 * depth + 4};"):
        read_run(path)
