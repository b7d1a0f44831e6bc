"""The study's answer reads what its tests can bear (issue 39): decisions and intervals from one rule (Holm),
AP over the full ranking for dense rows, PEER through its authors' package, and the power stated."""

import json

import ir_measures
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.evaluate.ranks import per_query_from_ranks
from pyserini_hybrid.study.report.assemble import FULL_RANKING
from pyserini_hybrid.study.language_measures import peer_at

REPORT = PROJECT_ROOT / "reports" / "me5-small-cpu"
LANGS = ["de", "en", "zh"]


def full_pool(seed=0, queries=6, per_lang=20):
    """A multilingual pool with every candidate ranked for each query (a dense run), the query's translations
    relevant (one per language), as qrels, run and the recorded ranks table a unit keeps."""
    rng = np.random.default_rng(seed)
    docs = [f"{x}-{i}" for x in LANGS for i in range(per_lang)]
    qrels, run, ranks = [], [], []
    for q in range(queries):
        qid = f"{LANGS[q % 3]}-q{q}"
        relevant = {f"{x}-{q}" for x in LANGS}
        order = list(rng.permutation(docs))
        for r, d in enumerate(order, start=1):
            run.append(ir_measures.ScoredDoc(qid, d, float(len(order) - r)))
            if d in relevant:
                qrels.append(ir_measures.Qrel(qid, d, 1))
                ranks.append(("pool", qid, d, 1, r))
    return qrels, run, pd.DataFrame(ranks, columns=["target", "query_id", "doc_id", "rel", "rank"])


def test_full_ranking_ap_equals_ir_measures_ap_on_the_full_run():
    qrels, run, ranks = full_pool()
    ours = per_query_from_ranks(ranks, FULL_RANKING, lareqa=True).set_index("query_id")["AP"]
    theirs = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.AP], qrels, run)}
    assert ours.to_dict() == pytest.approx(theirs, abs=1e-12)
    at100 = per_query_from_ranks(ranks, 10, lareqa=True).set_index("query_id")["AP"]
    assert (at100 <= ours + 1e-12).all() and (at100 < ours).any()  # AP@depth drops what lies beyond


def test_peer_from_recorded_ranks_equals_peer_measure_on_the_run():
    """The pool's PEER from a unit's recorded ranks (no run) is what peer-measure gives on the full run."""
    import peer_measure

    qrels, run, ranks = full_pool(seed=3)
    ours = peer_at(ranks, LANGS)
    mapping = {d.doc_id: d.doc_id.split("-")[0] for d in run}
    judged0 = [ir_measures.Qrel(q, next(d.doc_id for d in run if d.query_id == q and
                                        d.doc_id not in {r.doc_id for r in qrels if r.query_id == q}), 0)
               for q in {r.query_id for r in qrels}]  # peer-measure 0.0.1 needs a judged grade 0 (see peer_inputs)
    measures = [peer_measure.PEER(weights={0: 0.0, 1: 1.0}, lang_mapping=mapping) @ k for k in (10, 100)]
    per = pd.DataFrame([(m.query_id, str(m.measure), m.value) for m in
                        peer_measure._provider.iter_calc(measures, qrels + judged0, run)], columns=["q", "m", "v"])
    per["lang"] = per["q"].str.split("-").str[0]
    theirs = per.groupby(["m", "lang"])["v"].mean().groupby(level=0).mean()
    assert ours["PEER@10"] == pytest.approx(theirs[str(measures[0])], abs=1e-12)
    assert ours["PEER@100"] == pytest.approx(theirs[str(measures[1])], abs=1e-12)


def test_peer_hand_computed():
    """Two languages' relevant candidates at ranks 1 and 3: Kruskal-Wallis H = 1 on 1 df, PEER = P(chi2_1 > 1)
    = 0.3173; at k = 2 the rank-3 one is not retrieved (placed after the retrieved, H = 1 again); one language
    only: 1 by definition."""
    ranks = pd.DataFrame([("pool", "de-1", "de-1", 1, 1.0), ("pool", "de-1", "en-1", 1, 3.0),
                          ("pool", "en-2", "en-2", 1, 1.0)], columns=["target", "query_id", "doc_id", "rel", "rank"])
    both = peer_at(ranks[ranks["query_id"] == "de-1"], ["de"], cutoffs=(10, 2))
    assert both["PEER@10"] == pytest.approx(stats.chi2.sf(1.0, 1), abs=1e-12) == pytest.approx(0.3173, abs=1e-4)
    assert both["PEER@2"] == pytest.approx(stats.chi2.sf(1.0, 1), abs=1e-12)
    assert peer_at(ranks[ranks["query_id"] == "en-2"], ["en"], cutoffs=(10,))["PEER@10"] == 1.0


def test_the_committed_answer_decides_by_one_rule():
    """Every headline cell: its interval at the Holm-compatible level excludes 0 exactly where Holm's p < .05,
    the decision follows from that interval and the margin, and the power is stated."""
    report = json.loads((REPORT / "report.json").read_text(encoding="utf-8"))
    h = report["headline"]
    assert h["intervals"] == "holm-compatible" and len(h["power"]) == h["tests"] == 12
    for key, decided in h["decisions"].items():
        base, dataset, group = key.split(" ")
        c = report["tables"]["main"][base][f"{dataset} {group} AP"]
        lo, hi = c["ci_adjusted"]
        assert (lo > 0 or hi < 0) == (c["p_holm"] < h["alpha"]), key
        assert lo <= c["ci_hybrid_minus"][0] and c["ci_hybrid_minus"][1] <= hi  # adjusted: at least as wide
        if decided == "equivalent":
            assert -h["margin"] < lo and hi < h["margin"]
        elif decided == "non-inferior":
            assert lo > -h["margin"] and lo <= 0
        elif decided == "undecided":
            assert lo <= -h["margin"] and lo <= 0 <= hi
    answer = (REPORT / "answer.md").read_text(encoding="utf-8")
    assert answer.count("\n| xquad-r |") == 3 and answer.count("\n| mlqa-r |") == 3  # one table
    assert "power" in answer and "leans" in answer
    rows = {k: v for k, v in report["tables"]["main"].items() if "xquad-r Mo AP" in v}
    assert rows["BM25"]["xquad-r Mo AP"]["ranking"] == "@100" and rows["hybrid"]["xquad-r Mo AP"]["ranking"] == "full"


def test_a_kept_peer_value_is_what_peer_measure_gives_now():
    """peer.json (the report's PEER values by ranks-file sha256) holds what peer-measure computes: the smallest
    pool among the committed units, computed afresh."""
    import hashlib

    from pyserini_hybrid.study.records import read_ranks

    kept = json.loads((REPORT / "peer.json").read_text(encoding="utf-8"))["values"]
    files = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (REPORT / "units").glob("*/*.ranks.tsv.gz")}
    entries = [(files[k.split(":")[0]], k.split(":")[1].split(","), v) for k, v in kept.items() if k.split(":")[0] in files]
    assert len(entries) == len(kept)  # every kept value belongs to a committed file
    path, langs, value = min(entries, key=lambda e: (e[0].stat().st_size, str(e[0])))
    assert peer_at(read_ranks(path), langs) == pytest.approx(value, abs=1e-12)


def test_plan_prints_what_more_seeds_would_buy(capsys, tmp_path):
    """`plan` shows each headline cell's power from the finished units' report, and says when there is none."""
    from types import SimpleNamespace

    from pyserini_hybrid.study.__main__ import show_power

    report = json.loads((REPORT / "report.json").read_text(encoding="utf-8"))
    rows = [(SimpleNamespace(name=n), "done", 0, {}) for n in report["units"]]
    show_power(REPORT, rows)
    out = capsys.readouterr().out
    power = report["headline"]["power"]
    assert len([x for x in out.splitlines() if x.startswith(("X-X-mono ", "X-Y "))]) == len(power) == 12
    assert "X-Y xquad-r Cr †" in out and f"{power['X-Y xquad-r Cr']['mde_80']:.4f}" in out
    show_power(REPORT, rows[:-1])  # a unit more than the report knows: no stale figures
    assert "run `report` first" in capsys.readouterr().out
