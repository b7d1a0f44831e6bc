"""Measures, macro averages and rank distance on hand-made runs with known answers."""

import json

import pandas as pd
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.evaluate import measures as ev
from pyserini_hybrid.evaluate.render import write_outputs


def frame(rows, cols):
    return pd.DataFrame(rows, columns=cols)


def test_per_query_known_values_and_missing_queries_score_zero():
    qrels = frame([("q1", "a", 1), ("q2", "b", 1), ("q3", "c", 1)], ["query_id", "doc_id", "relevance"])
    # q1: relevant at rank 1; q2: relevant at rank 4; q3: not in the run at all
    run = frame([("q1", "a", 3.0), ("q1", "x", 2.0), ("q2", "x", 4.0), ("q2", "y", 3.0), ("q2", "z", 2.0),
                 ("q2", "b", 1.0)], ["query_id", "doc_id", "score"])
    t = ev.per_query(run, qrels)
    assert t.loc["q1", "AP"] == 1.0 and t.loc["q1", "R@1"] == 1.0
    assert t.loc["q2", "AP"] == pytest.approx(0.25) and t.loc["q2", "RR@10"] == pytest.approx(0.25)
    assert t.loc["q2", "R@1"] == 0.0 and t.loc["q2", "R@10"] == 1.0
    assert t.loc["q2", "nDCG@10"] == pytest.approx(1 / 2.321928, rel=1e-5)  # 1/log2(5)
    assert list(t.loc["q3"]) == [0.0] * len(ev.MEASURES)
    assert t["AP"].mean() == pytest.approx((1 + 0.25 + 0) / 3)


def test_macro_averages_group_settings_as_the_paper():
    langs = ["en", "de", "zh"]
    settings = {}
    for x in langs:
        for y in langs + ["pool"]:
            ap = 0.9 if x == y else (0.1 if y == "pool" else 0.5 + 0.01 * len(settings))
            settings[f"{x}-{y}"] = {m: ap for m in ev.MEASURES}
    macro = ev.macro_averages(settings, langs)
    assert macro["Mo"]["AP"] == pytest.approx(0.9) and macro["Mo"]["settings"] == 3
    cross = [settings[f"{x}-{y}"]["AP"] for x in langs for y in langs if x != y]
    assert macro["Cr"]["AP"] == pytest.approx(sum(cross) / 6) and macro["Cr"]["settings"] == 6
    assert macro["Mul"]["AP"] == pytest.approx(0.1) and macro["Mul"]["settings"] == 3


def test_rank_distance_counts_missing_at_depth_plus_one():
    qrels = frame([("q1", "en-1", 1), ("q1", "de-1", 1), ("q1", "zh-1", 1), ("q2", "en-2", 1), ("q2", "de-2", 1)],
                  ["query_id", "doc_id", "relevance"])
    run = frame([("q1", "en-1", 9.0), ("q1", "x", 8.0), ("q1", "de-1", 7.0), ("q1", "zh-1", 1.0),
                 ("q2", "de-2", 5.0), ("q2", "y", 4.0)], ["query_id", "doc_id", "score"])
    qrels = pd.concat([qrels, frame([("q3", "en-3", 1), ("q3", "de-3", 1), ("q4", "en-4", 1)],
                                    ["query_id", "doc_id", "relevance"])])
    run = pd.concat([run, frame([("q3", "x", 1.0), ("q4", "en-4", 1.0)], ["query_id", "doc_id", "score"])])
    rd = ev.rank_distance(run, qrels, depth=10)
    assert rd.loc["q1", "rank_distance"] == 4 - 1  # ranks 1, 3, 4
    assert rd.loc["q2", "rank_distance"] == 11 - 1  # en-2 missing: rank depth + 1
    assert rd.loc["q2", "missing"] == 1 and rd.loc["q1", "missing"] == 0
    # undefined, not 0 ("no bias"): nothing retrieved, or a single relevant candidate
    assert pd.isna(rd.loc["q3", "rank_distance"]) and rd.loc["q3", "missing"] == 2
    assert pd.isna(rd.loc["q4", "rank_distance"])


def test_all_measures_break_score_ties_the_same_way():
    """trec_eval order (docid descending) for every measure, RR@10's provider included."""
    qrels = frame([("q1", "a", 1)], ["query_id", "doc_id", "relevance"])
    run = frame([("q1", "a", 1.0), ("q1", "b", 1.0)], ["query_id", "doc_id", "score"])
    t = ev.per_query(run, qrels)
    assert t.loc["q1", "AP"] == pytest.approx(0.5) and t.loc["q1", "RR@10"] == pytest.approx(0.5)
    assert t.loc["q1", "R@1"] == 0.0


def write_run(path, rows):
    path.write_text("".join(f"{q} Q0 {d} {r} {s} test\n" for q, d, r, s in rows), encoding="utf-8")


def synthetic_runs(out, run_dir, langs, cross_rank):
    """Relevant candidate at rank 1 for X->X, at ``cross_rank`` for X->Y (after real candidates of Y that are
    not relevant: evaluate refuses docids that are not Y's candidates); pool ranks 1..len(langs)."""
    run_dir.mkdir()
    for y in langs:
        rows = []
        with open(out / "xquad-r" / "corpus" / "sentence" / y / "docs.jsonl", encoding="utf-8") as f:
            candidates = [json.loads(next(f))["id"] for _ in range(cross_rank)]
        for x in langs:
            for line in (out / "xquad-r" / "qrels" / f"{x}-{y}.txt").read_text().splitlines():
                q, _, d, _ = line.split()
                rank = 1 if x == y else cross_rank
                fillers = [c for c in candidates if c != d][:rank - 1]
                ranked = fillers + [d]
                rows += [(q, doc, i + 1, 100 - i) for i, doc in enumerate(ranked)]
        write_run(run_dir / f"{y}.trec", rows)
    rows = []
    for x in langs:
        pool = {}
        for line in (out / "xquad-r" / "qrels" / f"{x}-pool.txt").read_text().splitlines():
            q, _, d, _ = line.split()
            if d.split("-")[0] in langs:
                pool.setdefault(q, []).append(d)
        for q, docs in pool.items():
            rows += [(q, d, i + 1, 100 - i) for i, d in enumerate(sorted(docs))]
    write_run(run_dir / "pool.trec", rows)
    (run_dir / "run-meta.json").write_text(json.dumps({"hits": 100}))


def test_evaluate_run_dir_on_real_topics_with_known_answers(converted, tmp_path):
    out, _ = converted
    langs = ["en", "de", "zh"]
    synthetic_runs(out, tmp_path / "run", langs, cross_rank=2)
    result = ev.evaluate_run_dir("xquad-r", tmp_path / "run", langs, out)
    assert result["macro"]["Mo"]["AP"] == pytest.approx(1.0)
    assert result["macro"]["Cr"]["AP"] == pytest.approx(0.5)
    assert result["macro"]["Cr"]["R@1"] == 0.0 and result["macro"]["Cr"]["R@10"] == 1.0
    assert result["macro"]["Mul"]["AP"] == pytest.approx(1.0)  # all 3 relevant at ranks 1..3
    assert result["rank_distance"]["macro"] == pytest.approx(2.0)
    assert result["rank_distance"]["relevant_missing_from_run"] == 0
    assert result["settings"]["en-de"]["queries"] == 1190
    paths = write_outputs(result, tmp_path / "eval", "synthetic")
    md = paths["markdown"].read_text()
    assert "| Cr | 6 | 0.5000 |" in md
    assert paths["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(paths["json"].read_text())
    assert saved["depth"] == 100 and saved["system"] == "synthetic"


def test_run_that_does_not_match_topics_is_rejected(converted, tmp_path):
    out, _ = converted
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_run(run_dir / "en.trec", [("mlqa-only-query", "en-0-0-0", 1, 1.0)])
    with pytest.raises(InputError, match=r"en\.trec: 1 of 1 query ids are not xquad-r topics"):
        ev.evaluate_run_dir("xquad-r", run_dir, ["en"], out)


def test_malformed_run_is_rejected_by_name(converted, tmp_path):
    out, _ = converted
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "en.trec").write_text("en-x Q0 en-0-0-0 1\n")
    with pytest.raises(InputError, match=r"en\.trec: not a TREC run"):
        ev.evaluate_run_dir("xquad-r", run_dir, ["en"], out)


def test_unknown_language_and_empty_run_dir(converted, tmp_path):
    out, _ = converted
    with pytest.raises(InputError, match="unknown language code xx"):
        ev.evaluate_run_dir("xquad-r", tmp_path, ["en", "xx"], out)
    with pytest.raises(InputError, match="no run files"):
        ev.evaluate_run_dir("xquad-r", tmp_path, ["en"], out)


def test_pool_qrels_follow_language_subset(converted, tmp_path):
    out, _ = converted
    synthetic_runs(out, tmp_path / "run", ["en", "es"], cross_rank=1)
    result = ev.evaluate_run_dir("xquad-r", tmp_path / "run", ["en", "es"], out)
    assert result["rank_distance"]["relevant_total"] == 2 * 2 * 1190
    assert result["macro"]["Mul"]["AP"] == pytest.approx(1.0)
    assert result["macro"]["Cr"]["settings"] == 2 and set(result["settings"]) == {
        f"{x}-{y}" for x in ("en", "es") for y in ("en", "es", tp.POOL)}
