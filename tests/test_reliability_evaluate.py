"""Evaluation never prints a silently different number (issue 19): the runs, run-meta.json and flags
are checked against the topics before anything is scored; what is left out is said and recorded."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.core.trec import read_qrels, write_run
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.evaluate.measures import evaluate_run_dir

ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}


def perfect_runs(topics_dir, run_dir, langs):
    """<Y>.trec for Y in ``langs`` holding only the queries of ``langs``, each relevant candidate at rank 1 and
    a real candidate of Y that is not relevant at rank 2 (evaluate refuses docids that are not Y's)."""
    run_dir.mkdir(parents=True)
    for y in langs:
        rows = []
        with open(tp.corpus_dir("xquad-r", y, "sentence", topics_dir) / "docs.jsonl", encoding="utf-8") as f:
            candidates = [json.loads(next(f))["id"] for _ in range(2)]
        for x in langs:
            for q, docs in read_qrels(tp.qrels_path("xquad-r", x, y, topics_dir)).items():
                other = next(c for c in candidates if c not in docs)
                rows += [(q, d, 1, 2.0) for d in docs] + [(q, other, 2, 1.0)]
        write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), run_dir / f"{y}.trec", "t")


def test_run_dir_without_meta_for_2_of_11_languages(converted, tmp_path, capsys):
    out, _ = converted
    perfect_runs(out, tmp_path / "runs", ["en", "de"])
    result = evaluate_run_dir("xquad-r", tmp_path / "runs", None, out)
    # scored as all 11 languages this was Cr 0.1 (18 of 20 settings without a single query): now 1.0
    assert result["languages"] == ["de", "en"] and set(result["settings"]) == {"de-de", "de-en", "en-de", "en-en"}
    assert result["macro"]["Cr"]["AP"] == pytest.approx(1.0) and result["macro"]["Mo"]["AP"] == pytest.approx(1.0)
    assert len(result["warnings"]) == 1 and "run files for 2 of 11 xquad-r languages" in result["warnings"][0]
    assert "warning: " in capsys.readouterr().err
    # languages asked for without their run file: evaluated as before, but said
    result = evaluate_run_dir("xquad-r", tmp_path / "runs", ["en", "de", "es"], out)
    assert any("no run file for es" in w for w in result["warnings"])


@pytest.mark.parametrize("text,message", [
    ('{"hits": 100, "languages": ["en"', r"run-meta\.json: truncated JSON"),
    ('{"hits": "many"}', r"run-meta\.json: 'hits' must be a positive integer, got 'many'"),
    ('{"languages": "en de"}', r"run-meta\.json: 'languages' must be a list"),
    ('[1, 2]', r"run-meta\.json: expected a JSON object"),
])
def test_corrupt_run_meta_is_one_line(converted, tmp_path, text, message):
    out, _ = converted
    perfect_runs(out, tmp_path / "runs", ["en"])
    (tmp_path / "runs" / "run-meta.json").write_text(text)
    with pytest.raises(InputError, match=message):
        evaluate_run_dir("xquad-r", tmp_path / "runs", None, out)


def test_empty_and_duplicate_run_files_are_named(converted, tmp_path):
    out, _ = converted
    perfect_runs(out, tmp_path / "runs", ["en"])
    lines = (tmp_path / "runs" / "en.trec").read_text().splitlines()
    (tmp_path / "runs" / "en.trec").write_text("\n".join(lines + [lines[0]]) + "\n")
    with pytest.raises(InputError, match=rf"en\.trec:{len(lines) + 1}: duplicate docid"):
        evaluate_run_dir("xquad-r", tmp_path / "runs", ["en"], out)
    (tmp_path / "runs" / "en.trec").write_text("")
    with pytest.raises(InputError, match=r"en\.trec: empty run \(0 bytes\)"):  # not "run and topics do not match"
        evaluate_run_dir("xquad-r", tmp_path / "runs", ["en"], out)


def evaluate_cli(*args):
    return subprocess.run([sys.executable, "-m", "pyserini_hybrid.evaluate", *map(str, args)], capture_output=True,
                          text=True, cwd=PROJECT_ROOT, env=ENV)


def test_flags_are_checked_before_any_work(converted, tmp_path):
    out, _ = converted
    perfect_runs(out, tmp_path / "runs", ["en"])
    missing = tmp_path / "no-such-topics"
    proc = evaluate_cli("--dataset", "xquad-r", "--runs", tmp_path / "runs", "--topics-dir", missing)
    assert proc.returncode == 2 and f"--topics-dir {missing}: no such directory" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not missing.exists()  # it used to be filled by a conversion from the default data dir
    proc = evaluate_cli("--dataset", "xquad-r", "--runs", tmp_path / "runs", "--topics-dir", out, "--depth", "-5")
    assert proc.returncode == 2 and "--depth -5: must be a positive" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "eval").exists()
    proc = evaluate_cli("--dataset", "xquad-r", "--runs", tmp_path / "runs", "--topics-dir", out, "--languages", "en")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "runs" / "eval" / "results.json").read_text())["warnings"] == []
