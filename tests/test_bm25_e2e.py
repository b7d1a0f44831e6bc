"""End to end through Pyserini's own CLI: index, search, evaluate (starts JVMs: marked slow)."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pyserini_hybrid.core.trec import read_run
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.evaluate.measures import evaluate_run_dir
from pyserini_hybrid.evaluate.render import write_outputs
from pyserini_hybrid.pyserini_glue.java import HOOK_NAME
from pyserini_hybrid.retrieval import bm25

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def xquad_bm25(converted, tmp_path_factory):
    out, _ = converted
    work = tmp_path_factory.mktemp("bm25")
    info = bm25.run_bm25("xquad-r", work / "runs", ["en", "de"], hits=1000, index_root=work / "indexes",
                         topics_dir=out)
    return out, work, info


def test_bm25_runs_and_scores(xquad_bm25):
    out, work, info = xquad_bm25
    assert len(info["data"]) == 12 and (work / "indexes" / "xquad-r" / f"sentence-{info['data']}" / "de").is_dir()
    assert info["analyzers"] == {"en": "DefaultEnglishAnalyzer", "de": "GermanAnalyzer"}
    run = read_run(work / "runs" / "de.trec")
    assert run["query_id"].str[:3].isin(["en-", "de-"]).all()
    assert run.groupby("query_id").size().max() <= 1000
    result = evaluate_run_dir("xquad-r", work / "runs", ["en", "de"], out)
    macro = result["macro"]
    # lexical matching: strong within a language, weak across languages, and biased in the pool
    assert macro["Mo"]["AP"] > 0.6
    assert macro["Cr"]["AP"] < macro["Mo"]["AP"] - 0.2
    assert result["rank_distance"]["macro"] > 50
    paths = write_outputs(result, work / "eval", "bm25")
    assert "| Mo | 2 |" in paths["markdown"].read_text()


def test_plain_pyserini_cli_through_the_startup_hook(xquad_bm25, tmp_path):
    """`python -m pyserini.search.lucene` in the project environment works and matches our run."""
    if not (Path(sysconfig.get_paths()["purelib"]) / HOOK_NAME).is_file():
        pytest.skip("start-up hook not installed in this environment (make env installs it)")
    out, work, _ = xquad_bm25
    topics = tmp_path / "de.tsv"
    topics.write_text(tp.topics_path("xquad-r", "de", out).read_text(encoding="utf-8"))
    index = next((work / "indexes" / "xquad-r").glob("sentence-*/en"))
    proc = subprocess.run([sys.executable, "-m", "pyserini.search.lucene", "--index", str(index),
                           "--topics", str(topics), "--output", str(tmp_path / "run.trec"), "--language", "en",
                           "--hits", "1000", "--bm25"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = read_run(work / "runs" / "en.trec")
    plain = read_run(tmp_path / "run.trec")
    ours = ours[ours["query_id"].str.startswith("de-")]
    assert len(plain) == len(ours)
    assert list(plain.sort_values(["query_id", "rank"])["doc_id"]) == list(ours.sort_values(["query_id", "rank"])["doc_id"])


def test_index_is_reused(xquad_bm25):
    out, work, _ = xquad_bm25
    index = next((work / "indexes" / "xquad-r").glob("sentence-*/en"))
    before = {p.name: p.stat().st_mtime for p in index.iterdir()}
    bm25.build_index(tp.corpus_dir("xquad-r", "en", "sentence", out), index, "en", 1, work / "log")
    assert {p.name: p.stat().st_mtime for p in index.iterdir()} == before


def test_miracl_fallback_analyzer(converted, tmp_path):
    out, _ = converted
    info = bm25.run_bm25("miracl-mini", tmp_path / "runs", ["sw"], index_root=tmp_path / "idx", topics_dir=out)
    assert info["analyzers"]["sw"] == "WhitespaceAnalyzer"  # what Anserini 1.7.1 gives sw (and yo, ha, so)
    assert not (tmp_path / "runs" / "pool.trec").exists()
    result = evaluate_run_dir("miracl-mini", tmp_path / "runs", ["sw"], out)
    assert result["settings"]["sw-sw"]["queries"] == 120
    assert result["settings"]["sw-sw"]["nDCG@10"] > 0.3
    assert set(result["macro"]) == {"Mo"}


def test_thai_index_is_complete_whatever_the_jre(converted, tmp_path):
    """ThaiAnalyzer needs the JRE's Thai segmentation; without it we fall back, never index nothing."""
    out, _ = converted
    info = bm25.run_bm25("xquad-r", tmp_path / "runs", ["th"], index_root=tmp_path / "idx", topics_dir=out)
    assert info["analyzers"]["th"] in ("ThaiAnalyzer", bm25.FALLBACK_ANALYZER)
    log = (tmp_path / "runs" / "pyserini.log").read_text()
    assert ("Thai segmentation" in log) == (info["analyzers"]["th"] == bm25.FALLBACK_ANALYZER)
    assert "Total 852 documents indexed" in log
    result = evaluate_run_dir("xquad-r", tmp_path / "runs", ["th"], out)
    assert result["settings"]["th-th"]["AP"] > 0.1


def test_benchmark_without_a_work_dir_writes_under_the_home(shared_data, tmp_path):
    """`make demo`'s first command names no --work-dir: the benchmark then writes under $PYSERINI_HYBRID_HOME
    (else the current directory), as every command that writes does."""
    import os

    from pyserini_hybrid.core.files import HOME_ENV

    home = tmp_path / "home"
    env = {**os.environ, HOME_ENV: str(home), "PYSERINI_HYBRID_DATA": str(shared_data)}
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.benchmark", "--datasets", "xquad-r", "--languages",
                           "en", "--systems", "bm25", "--hits", "10"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (home / "results").is_dir() and any((home / "runs").rglob("*.trec"))
