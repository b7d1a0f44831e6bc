"""TREC run reading, writing and merging by score."""

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.trec import merge_runs_by_score, read_run
from pyserini_hybrid.retrieval.options import prune_runs


def test_merge_keeps_the_best_scores_per_query_up_to_depth(tmp_path):
    (tmp_path / "en.trec").write_text("q1 Q0 en-a 1 9.0 t\nq1 Q0 en-b 2 2.0 t\nq2 Q0 en-c 1 1.0 t\n")
    (tmp_path / "de.trec").write_text("q1 Q0 de-a 1 5.0 t\nq1 Q0 de-b 2 4.0 t\n")
    merge_runs_by_score([tmp_path / "en.trec", tmp_path / "de.trec"], tmp_path / "pool.trec", depth=3)
    lines = (tmp_path / "pool.trec").read_text().splitlines()
    assert lines == ["q1 Q0 en-a 1 9.000000 pool", "q1 Q0 de-a 2 5.000000 pool", "q1 Q0 de-b 3 4.000000 pool",
                     "q2 Q0 en-c 1 1.000000 pool"]


def test_read_run_types_and_empty_file(tmp_path):
    (tmp_path / "r.trec").write_text("101 Q0 7#0 1 3.5 bm25\n")
    df = read_run(tmp_path / "r.trec")
    assert df.loc[0, "query_id"] == "101" and df.loc[0, "doc_id"] == "7#0" and df.loc[0, "score"] == 3.5
    (tmp_path / "empty.trec").write_text("")
    with pytest.raises(InputError, match=r"empty\.trec: empty run \(0 bytes\)"):
        read_run(tmp_path / "empty.trec")


@pytest.mark.parametrize("text", ["q1 Q0 d1 1 high tag\n", "q1 Q0 d1 1\n", "q1 Q0 d1 1 2.0 t extra\n"])
def test_bad_runs_name_the_file(tmp_path, text):
    (tmp_path / "bad.trec").write_text(text)
    with pytest.raises(InputError, match=r"bad\.trec: not a TREC run"):
        read_run(tmp_path / "bad.trec")


def test_prune_keeps_only_this_runs_files(tmp_path):
    for name in ("en.trec", "de.trec", "pool.trec", "run-meta.json"):
        (tmp_path / name).write_text("")
    prune_runs(tmp_path, {"en.trec", "de.trec"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["de.trec", "en.trec", "run-meta.json"]


def test_ranked_sorts_by_score_then_docid_descending_whatever_the_input_order():
    """On a real-sized shape: ranks equal a plain pandas sort, for shuffled and for pre-ordered input."""
    import numpy as np
    import pandas as pd

    from pyserini_hybrid.core.trec import ranked

    rng = np.random.default_rng(0)
    n = 20000
    run = pd.DataFrame({"query_id": [f"q{i % 300}" for i in range(n)], "doc_id": [f"d{rng.integers(5000)}" for _ in range(n)],
                        "score": rng.integers(0, 40, n) / 4.0})  # many ties
    run = run.drop_duplicates(["query_id", "doc_id"])
    expect = run.sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])
    expect = expect.assign(rank=expect.groupby("query_id").cumcount() + 1)
    key = ["query_id", "doc_id", "rank"]
    for variant in (run.sample(frac=1, random_state=1), expect.drop(columns="rank"),
                    expect.drop(columns="rank").iloc[::-1]):
        got = ranked(variant)
        pd.testing.assert_frame_equal(got[key].sort_values(key).reset_index(drop=True),
                                      expect[key].sort_values(key).reset_index(drop=True))
