"""No error path prints a Python traceback for bad input (issue 19): each case runs as the CLI command a
user would type and must end with exit 2 and one line ``error: <file>[:<line>]: <problem>``."""

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.core.trec import read_qrels, write_run
from pyserini_hybrid.data import topic_sets as tp

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
RECIPE = str(PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml")


def good_run_dir(topics_dir: Path, run_dir: Path) -> Path:
    rows = [(q, d, 1, 1.0) for q, docs in read_qrels(tp.qrels_path("xquad-r", "en", "en", topics_dir)).items()
            for d in docs]
    run_dir.mkdir(parents=True)
    write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), run_dir / "en.trec", "t")
    return run_dir


def edit_line(path: Path, n: int, field: int, value: str) -> None:
    lines = path.read_text().splitlines()
    parts = lines[n - 1].split()
    parts[field] = value
    lines[n - 1] = " ".join(parts)
    path.write_text("\n".join(lines) + "\n")


def evaluate(run_dir, topics, *extra):
    return ["pyserini_hybrid.evaluate", "--dataset", "xquad-r", "--runs", str(run_dir), "--topics-dir", str(topics),
            "--languages", "en", *extra]


def sw_topics(tmp, shared, content: bytes | None = None) -> Path:
    path = tmp / "topics.sw.tsv"
    shutil.copy(shared / "miracl-mini/sw/topics.dev.tsv", path)
    if content is not None:
        path.write_bytes(content)
    return path


def perturb(path, tmp):
    return ["pyserini_hybrid.perturb", str(path), "--lang", "sw", "--kind", "typos", "-o", str(tmp / "out.tsv")]


def bad_score(line: int, value: str, expected: str):
    def case(tmp, topics, shared):
        runs = good_run_dir(topics, tmp / "runs")
        edit_line(runs / "en.trec", line, 4, value)
        return evaluate(runs, topics), expected
    return case


def case_empty_run(tmp, topics, shared):
    runs = good_run_dir(topics, tmp / "runs")
    (runs / "en.trec").write_text("")
    return evaluate(runs, topics), "en.trec: empty run (0 bytes)"


def case_duplicate_run_line(tmp, topics, shared):
    runs = good_run_dir(topics, tmp / "runs")
    lines = (runs / "en.trec").read_text().splitlines()
    (runs / "en.trec").write_text("\n".join(lines[:3] + lines[2:3] + lines[3:]) + "\n")
    return evaluate(runs, topics), "en.trec:4: duplicate docid"


def case_corrupt_run_meta(tmp, topics, shared):
    runs = good_run_dir(topics, tmp / "runs")
    (runs / "run-meta.json").write_text('{"hits": 1000, "languages": ["en", ')
    return evaluate(runs, topics), "run-meta.json: truncated JSON"


def case_missing_topics_dir(tmp, topics, shared):
    runs = good_run_dir(topics, tmp / "runs")
    return evaluate(runs, tmp / "nowhere"), "--topics-dir"


def case_negative_depth(tmp, topics, shared):
    return evaluate(good_run_dir(topics, tmp / "runs"), topics, "--depth", "-5"), "--depth -5"


def case_output_not_writable(tmp, topics, shared):
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs a read-only /sys")
    return evaluate(good_run_dir(topics, tmp / "runs"), topics, "--output", "/sys/kernel/pyserini-hybrid-eval"), \
        "/sys/kernel/pyserini-hybrid-eval"


def case_latin1_topics(tmp, topics, shared):
    path = sw_topics(tmp, shared)
    raw = path.read_bytes().split(b"\n")
    raw[2] += b" \xe9t\xe9"
    path.write_bytes(b"\n".join(raw))
    return perturb(path, tmp), "topics.sw.tsv:3: not UTF-8 text (byte 0xe9"


def case_empty_topics(tmp, topics, shared):
    return perturb(sw_topics(tmp, shared, b""), tmp), "topics.sw.tsv: empty topic file"


def case_blank_question(tmp, topics, shared):
    path = sw_topics(tmp, shared)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].split("\t")[0] + "\t   "
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return perturb(path, tmp), "topics.sw.tsv:2: empty question for qid"


def case_miracl_topics_latin1(tmp, topics, shared):
    data = tmp / "data" / "miracl-mini" / "sw"
    data.mkdir(parents=True)
    for name in ("corpus.jsonl", "qrels.dev.tsv"):
        (data / name).symlink_to(shared / "miracl-mini/sw" / name)
    raw = (shared / "miracl-mini/sw/topics.dev.tsv").read_bytes().split(b"\n")
    raw[6] += b"\xff"
    (data / "topics.dev.tsv").write_bytes(b"\n".join(raw))
    return ["pyserini_hybrid.topics", "convert", "miracl-mini", "--languages", "sw", "--data-dir", str(tmp / "data"),
            "--topics-dir", str(tmp / "topics")], "topics.dev.tsv:7: not UTF-8 text (byte 0xff"


def case_model_name_missing_dir(tmp, topics, shared):
    return ["pyserini_hybrid.train", RECIPE, "--set", f'model.name="{tmp / "no-model"}"', "--output", str(tmp / "out")], \
        "no such model directory"


def train_set(setting: str, expected: str):
    def case(tmp, topics, shared):
        return ["pyserini_hybrid.train", RECIPE, "--set", setting, "--output", str(tmp / "out")], expected
    return case


def retrieval_flag(system: str, flags: list[str], expected: str):
    def case(tmp, topics, shared):
        return [f"pyserini_hybrid.{system}", "--dataset", "miracl-mini", "--topics-dir", str(tmp / "t"),
                "--output", str(tmp / "run"), *flags], expected
    return case


def miracl_passage(change, expected: str):
    """A MIRACL-layout sw whose corpus.jsonl is the real one, edited by ``change(lines)``."""
    def case(tmp, topics, shared):
        data = tmp / "data" / "miracl-mini" / "sw"
        data.mkdir(parents=True)
        for name in ("topics.dev.tsv", "qrels.dev.tsv"):
            (data / name).symlink_to(shared / "miracl-mini/sw" / name)
        lines = (shared / "miracl-mini/sw/corpus.jsonl").read_text(encoding="utf-8").splitlines()
        (data / "corpus.jsonl").write_text("".join(x + "\n" for x in change(lines)), encoding="utf-8")
        return ["pyserini_hybrid.topics", "convert", "miracl-mini", "--languages", "sw", "--data-dir",
                str(tmp / "data"), "--topics-dir", str(tmp / "topics")], expected
    return case


def null_text(lines):
    lines[4] = json.dumps({**json.loads(lines[4]), "text": None})
    return lines


def case_lareqa_answer_start_string(tmp, topics, shared):
    data = tmp / "data" / "lareqa" / "xquad-r"
    data.mkdir(parents=True)
    for src in (shared / "lareqa/xquad-r").iterdir():
        (data / src.name).symlink_to(src)
    raw = json.loads((shared / "lareqa/xquad-r/ar.json").read_text(encoding="utf-8"))
    qa = raw["data"][0]["paragraphs"][0]["qas"][0]
    qa["answers"][0]["answer_start"] = str(qa["answers"][0]["answer_start"])
    (data / "ar.json").unlink()
    (data / "ar.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return ["pyserini_hybrid.topics", "convert", "xquad-r", "--data-dir", str(tmp / "data"), "--topics-dir",
            str(tmp / "topics")], "answers[0].answer_start: expected an integer, got str"


def case_study_languages_match_nothing(tmp, topics, shared):
    (tmp / "s.toml").write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\n'
                                'budgets = [2]\ndatasets = ["xquad-r"]\nlanguages = ["xx"]\n[variants]\nhybrid = 0.5\n')
    return ["pyserini_hybrid.study", str(tmp / "s.toml"), "--work-dir", str(tmp / "work"), "plan"], \
        "[study] languages xx: in none of the datasets (xquad-r: ar,"


def case_cache_dir_is_a_file(tmp, topics, shared):
    (tmp / "cache").write_text("not a directory")
    return ["pyserini_hybrid.default_model", "--cache-dir", str(tmp / "cache")], str(tmp / "cache")


TABLE = {  # cases of one shape, differing in a value
    "score_abc": bad_score(5, "abc", "en.trec: not a TREC run 'qid Q0 docid rank score tag' (line 5: score 'abc'"),
    "score_nan": bad_score(9, "nan", "(line 9: score 'nan' is not a number)"),
    "negative_passage_length": train_set("model.max_passage_length=-3", "max_passage_length must be positive"),
    "zero_passage_length": train_set("model.max_passage_length=0", "max_passage_length must be positive"),
    "negative_seed": train_set("train.seed=-1", "train.seed must be non-negative"),
    "zero_pad_multiple": train_set("train.pad_multiple=0", "train.pad_multiple must be at least 1"),
    "bm25_threads_zero": retrieval_flag("bm25", ["--threads", "0"], "--threads 0: must be at least 1"),
    "dense_model_missing": retrieval_flag("dense", ["--model", "./no-model"], "--model ./no-model: no such model"),
    "miracl_text_null": miracl_passage(null_text, "corpus.jsonl:5: text must be a string, got null"),
    "miracl_duplicate_docid": miracl_passage(lambda x: x + x[2:3], f"corpus.jsonl:{3597 + 1}: duplicate docid"),
    "miracl_empty_corpus": miracl_passage(lambda x: [], "corpus.jsonl: empty MIRACL corpus (no passages)"),
}
CASES = {**{k[5:]: v for k, v in sorted(globals().items()) if k.startswith("case_")}, **TABLE}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_error_case_is_one_line_without_traceback(case, tmp_path, converted, shared_data, cli_error):
    topics, _ = converted
    work = tmp_path / "w"
    work.mkdir()
    argv, expected = case(work, topics, shared_data)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    error = cli_error(argv, ENV)
    assert expected in error, error
    # nothing half-written: no new file but the command's lock, which is gone again
    after = sorted(p.relative_to(work) for p in work.rglob("*"))
    assert [p for p in after if p not in before and not str(p).startswith("topics")] == []
