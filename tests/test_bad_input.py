"""Each bad input: a one-line error naming the file, exit code 2, nothing half-written."""

import subprocess
import sys

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data.convert import convert


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=env)


def test_missing_data_dir(tmp_path):
    with pytest.raises(InputError, match="data directory not found"):
        convert("xquad-r", tmp_path / "nowhere", tmp_path / "topics")
    proc = run_cli("pyserini_hybrid.topics", "convert", "xquad-r", "--data-dir", str(tmp_path / "nowhere"),
                   "--topics-dir", str(tmp_path / "topics"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nowhere: data directory not found" in proc.stderr
    assert not (tmp_path / "topics" / "xquad-r").exists()


def test_truncated_json_names_the_file_and_keeps_the_last_good_conversion(data_copy, tmp_path, replace, shared_data):
    topics_dir = tmp_path / "topics"
    convert("xquad-r", shared_data, topics_dir, quiet=True)
    good = (topics_dir / "xquad-r" / "topics.en.tsv").read_text(encoding="utf-8")
    broken = data_copy / "lareqa/xquad-r/de.json"
    replace(broken, (shared_data / "lareqa/xquad-r/de.json").read_text(encoding="utf-8")[:5000])
    with pytest.raises(InputError, match=r"de\.json: truncated JSON"):
        convert("xquad-r", data_copy, topics_dir)
    # the previous conversion is intact and no temporary directory is left behind
    assert (topics_dir / "xquad-r" / "topics.en.tsv").read_text(encoding="utf-8") == good
    assert sorted(p.name for p in topics_dir.iterdir()) == ["xquad-r"]


def test_malformed_json(data_copy, tmp_path, replace):
    replace(data_copy / "lareqa/mlqa-r/zh.json", '{"data": [}, "version": 1}')
    with pytest.raises(InputError, match=r"zh\.json: malformed JSON \(.*; line 1"):
        convert("mlqa-r", data_copy, tmp_path / "topics")
    assert not (tmp_path / "topics" / "mlqa-r").exists()


def test_wrong_structure(data_copy, tmp_path, replace):
    replace(data_copy / "lareqa/mlqa-r/vi.json", '{"version": 1}')
    with pytest.raises(InputError, match=r"vi\.json: not a LAReQA/SQuAD file"):
        convert("mlqa-r", data_copy, tmp_path / "topics")


def test_malformed_miracl_corpus_line(data_copy, tmp_path, replace, shared_data):
    lines = (shared_data / "miracl-mini/fa/corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines[7] = lines[7][: len(lines[7]) // 2]
    replace(data_copy / "miracl-mini/fa/corpus.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"fa/corpus\.jsonl: malformed or truncated JSON on line 8"):
        convert("miracl-mini", data_copy, tmp_path / "topics")


def test_missing_file(data_copy, tmp_path):
    (data_copy / "lareqa/xquad-r/th.json").unlink()
    with pytest.raises(InputError, match=r"th\.json: file not found"):
        convert("xquad-r", data_copy, tmp_path / "topics")


def test_unknown_language_code_cli(tmp_path, converted):
    out, _ = converted
    proc = run_cli("pyserini_hybrid.bm25", "--dataset", "xquad-r", "--languages", "en", "klingon",
                   "--topics-dir", str(out), "--output", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: xquad-r: unknown language code klingon (known: ar, de, el, en, es, hi, ru, th, tr, vi, zh)"
    assert not (tmp_path / "runs").exists()


def test_run_not_matching_topics_cli(tmp_path, converted):
    out, _ = converted
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    (run_dir / "ar.trec").write_text("29 Q0 233622#0 1 3.2 bm25\n")  # a MIRACL query against XQuAD-R
    proc = run_cli("pyserini_hybrid.evaluate", "--dataset", "xquad-r", "--runs", str(run_dir),
                   "--topics-dir", str(out), "--languages", "ar")
    assert proc.returncode == 2
    # the evaluation's progress bar (stderr) is ended first, so the error is one line of its own
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "ar.trec: 1 of 1 query ids are not xquad-r topics" in last
    assert proc.stderr.count("error") == 1 and "Traceback" not in proc.stderr
    assert not (run_dir / "eval").exists()


@pytest.mark.slow
def test_failed_pyserini_search_leaves_nothing_behind(tmp_path, converted):
    from pyserini_hybrid.retrieval import bm25

    out, _ = converted
    with pytest.raises(InputError, match=r"pyserini\.search\.lucene .*(failed|wrote no output)"):
        bm25.search(tmp_path / "no-index", tp.topics_path("xquad-r", "en", out), tmp_path / "en.trec", "en", 10, 1,
                    tmp_path / "log")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]


def test_encode_worker_reports_failures_survives_them_and_is_replaced_when_killed(tmp_path):
    """pyserini.encode runs in one long-lived worker process; a failed encode is an error naming the
    command, the worker stays up for the next one, and a killed worker is replaced on the next call."""
    from pyserini_hybrid.pyserini_glue import mains as pyserini_cli

    log = tmp_path / "pyserini.log"
    bad = ["input", "--corpus", str(tmp_path / "missing"), "output", "--embeddings", str(tmp_path / "emb"),
           "encoder", "--encoder", str(tmp_path / "no-model"), "--encoder-class", "hybrid"]
    with pytest.raises(InputError, match=r"python -m pyserini\.encode .*failed"):
        pyserini_cli.run("pyserini.encode", bad, log)
    worker = pyserini_cli._worker
    assert worker is not None and worker.poll() is None
    with pytest.raises(InputError, match="failed"):
        pyserini_cli.run("pyserini.encode", bad, log)
    assert pyserini_cli._worker is worker  # the same process served both
    worker.kill()
    worker.wait()
    with pytest.raises(InputError, match="failed"):
        pyserini_cli.run("pyserini.encode", bad, log)
    assert pyserini_cli._worker is not worker and pyserini_cli._worker.poll() is None
    assert log.read_text().count("$ python -m pyserini.encode") == 3
    assert not (tmp_path / "emb").exists()
    pyserini_cli._stop_worker()
