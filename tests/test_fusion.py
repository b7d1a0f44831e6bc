"""BM25 + dense fusion through pyserini.fusion on MIRACL-mini Swahili (real passages and qrels)."""

import json

import numpy as np
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.trec import read_run
from pyserini_hybrid.evaluate.measures import evaluate_run_dir
from pyserini_hybrid.retrieval import bm25, dense, fusion


@pytest.fixture(scope="module")
def inputs(converted, tiny_multilingual, tmp_path_factory):
    out, _ = converted
    work = tmp_path_factory.mktemp("fusion")
    bm25.run_bm25("miracl-mini", work / "bm25", ["sw"], hits=100, index_root=work / "idx-bm25", topics_dir=out)
    dense.run_dense("miracl-mini", work / "dense", str(tiny_multilingual), ["sw"], hits=100,
                    index_root=work / "idx-dense", topics_dir=out)
    return work, out


@pytest.mark.slow
def test_rrf_is_the_reciprocal_rank_sum(inputs):
    work, out = inputs
    info = fusion.run_fusion("miracl-mini", work / "dense", work / "bm25", work / "rrf", "rrf", depth=100)
    assert "--method rrf --depth 100 --k 100" in info["commands"][0] and "--rrf.k 60" in info["commands"][0]
    fused = read_run(work / "rrf" / "sw.trec")
    expect = {}
    for name in ("dense", "bm25"):
        # Pyserini fuses the ranks written in the files
        for q, d, r in read_run(work / name / "sw.trec")[["query_id", "doc_id", "rank"]].itertuples(index=False):
            expect[(q, d)] = expect.get((q, d), 0.0) + 1.0 / (60 + r)
    got = {(q, d): s for q, d, s in fused[["query_id", "doc_id", "score"]].itertuples(index=False)}
    # every fused candidate scores its RRF sum; the fused run keeps the 100 best of the union per query
    assert all(abs(expect[k] - v) < 1e-6 for k, v in got.items())
    for q, rows in fused.groupby("query_id"):
        best = sorted((v for (qq, _), v in expect.items() if qq == q), reverse=True)[:100]
        np.testing.assert_allclose(sorted(rows["score"], reverse=True), best, atol=1e-6)
    result = evaluate_run_dir("miracl-mini", work / "rrf", ["sw"], out)
    assert result["settings"]["sw-sw"]["queries"] == 120
    # runs are reused while their inputs are unchanged
    before = (work / "rrf" / "sw.trec").stat().st_mtime_ns
    fusion.run_fusion("miracl-mini", work / "dense", work / "bm25", work / "rrf", "rrf", depth=100)
    assert (work / "rrf" / "sw.trec").stat().st_mtime_ns == before


@pytest.mark.slow
def test_interpolation_of_min_max_normalised_scores(inputs):
    work, _ = inputs
    fusion.run_fusion("miracl-mini", work / "dense", work / "bm25", work / "interp", "interpolation", alpha=0.3,
                      depth=100)
    fused = read_run(work / "interp" / "sw.trec")
    parts = {}
    for name, weight in (("dense", 0.3), ("bm25", 0.7)):
        run = read_run(work / name / "sw.trec")
        g = run.groupby("query_id")["score"]
        lo, hi = g.transform("min"), g.transform("max")
        norm = ((run["score"] - lo) / (hi - lo)).where(hi > lo, 1.0)
        for q, d, s in zip(run["query_id"], run["doc_id"], norm):
            parts[(q, d)] = parts.get((q, d), 0.0) + weight * s
    got = {(q, d): s for q, d, s in fused[["query_id", "doc_id", "score"]].itertuples(index=False)}
    assert max(abs(parts[k] - v) for k, v in got.items()) < 1e-5
    meta = json.loads((work / "interp" / "run-meta.json").read_text())
    assert meta["alpha"] == 0.3 and meta["input_meta"]["sparse"]["system"] == "bm25"


def test_bad_fusion_inputs(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(InputError, match="no run-meta.json"):
        fusion.run_fusion("miracl-mini", tmp_path / "a", tmp_path / "b", tmp_path / "out")
    with pytest.raises(InputError, match="unknown fusion method"):
        fusion.run_fusion("miracl-mini", tmp_path / "a", tmp_path / "b", tmp_path / "out", "combsum")
