"""MIRACL in any of its 18 languages: languages outside the shared five (a "de" and a "yo" built from real
MIRACL-mini passages, queries and judgements), checksums only for the shared copies, streamed corpus
shards, Pyserini's bundled topics, the hub corpus and prebuilt indexes through local stand-ins, selection
errors, sharded dense encoding, progress."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from conftest import pinned_stand_ins

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT, sha256
from pyserini_hybrid.core.trec import read_run
from pyserini_hybrid.data import analyzers, miracl
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data.convert import convert, load_meta
from pyserini_hybrid.pyserini_glue.versions import anserini_version, pyserini_at_least

SOURCE = "sw"  # the shared language whose real passages, queries and qrels the fake languages are cut from
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def miracl_language(shared_data, target: Path, queries: slice, extra: int = 30) -> dict:
    """A MIRACL-layout language dir (corpus.jsonl, topics.dev.tsv, qrels.dev.tsv) from real MIRACL-mini
    lines: the chosen queries, every passage judged for them and ``extra`` unjudged ones."""
    src = shared_data / "miracl-mini" / SOURCE
    qrels = [line.split() for line in (src / "qrels.dev.tsv").read_text(encoding="utf-8").splitlines() if line]
    topics = dict(line.split("\t", 1) for line in (src / "topics.dev.tsv").read_text(encoding="utf-8").splitlines())
    qids = list(dict.fromkeys(q for q, *_ in qrels))[queries]
    judged = {d for q, _, d, _ in qrels if q in qids}
    corpus = (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines = [x for x in corpus if json.loads(x)["docid"] in judged]
    lines += [x for x in corpus if json.loads(x)["docid"] not in judged][:extra]
    target.mkdir(parents=True, exist_ok=True)
    (target / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (target / "topics.dev.tsv").write_text("".join(f"{q}\t{topics[q]}\n" for q in qids), encoding="utf-8")
    (target / "qrels.dev.tsv").write_text("".join(" ".join(r) + "\n" for r in qrels if r[0] in qids), encoding="utf-8")
    relevant = {q for q, _, _, r in qrels if q in qids and int(r) > 0}
    return {"queries": len(relevant), "passages": len(lines), "lines": lines}


@pytest.fixture
def two_more(tmp_path, shared_data):
    """A data dir whose miracl-mini holds the shared sw (a link) and two more MIRACL languages, de and yo."""
    root = tmp_path / "data"
    facts = {"de": miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 6)),
             "yo": miracl_language(shared_data, root / "miracl-mini" / "yo", slice(6, 12))}
    (root / "miracl-mini" / SOURCE).symlink_to(shared_data / "miracl-mini" / SOURCE)
    return root, facts


def pyserini_folder() -> Path:
    """The installed Pyserini's folder, found without importing it (2.4's import reads the network)."""
    import importlib.util

    return Path(list(importlib.util.find_spec("pyserini").submodule_search_locations)[0])


def constant_strings(data: bytes) -> list[str]:
    """The UTF-8 constants of a Java class file, in constant-pool order."""
    count, i, k, out = int.from_bytes(data[8:10], "big"), 10, 1, []
    sizes = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4, 19: 2, 20: 2}
    while k < count:
        tag = data[i]
        if tag == 1:
            n = int.from_bytes(data[i + 1:i + 3], "big")
            out.append(data[i + 3:i + 3 + n].decode("utf-8", errors="replace"))
            i += 3 + n
        else:
            i += 1 + sizes[tag]
            k += tag in (5, 6)  # longs and doubles take two slots
        k += 1
    return out


def test_all_eighteen_languages_are_known():
    assert len(miracl.MIRACL_LANGUAGES) == 18 and {"de", "yo", "ja", "te"} <= set(miracl.MIRACL_LANGUAGES)
    assert tp.known_languages("miracl-mini") == sorted(miracl.MIRACL_LANGUAGES)
    for lang in miracl.MIRACL_LANGUAGES:
        f = miracl.facts(lang)
        assert f["bundled_topics"] == f"miracl-v1.0-{lang}-dev" and f["hub_corpus"] == ["miracl/miracl-corpus", lang]
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.topics", "miracl"], capture_output=True, text=True,
                          cwd=PROJECT_ROOT)
    rows = [line.split("\t") for line in proc.stdout.splitlines()[1:]]
    assert proc.returncode == 0 and [r[0] for r in rows] == list(miracl.MIRACL_LANGUAGES)
    assert dict((r[0], r[1]) for r in rows)["yo"] == "WhitespaceAnalyzer"


@pytest.mark.skipif(pyserini_at_least(2), reason="Pyserini 2.x keeps its index and topic names on GitHub: "
                    "unknown offline (docs/versions.md)")
def test_the_names_are_pyserinis():
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    for lang in miracl.MIRACL_LANGUAGES:
        assert miracl.facts(lang)["prebuilt_index"] in TF_INDEX_INFO  # Pyserini's prebuilt BM25 index
    search_base = (Path(sys.modules["pyserini.prebuilt_index_info"].__file__).parent / "search" / "_base.py").read_text()
    assert all(f"'miracl-v1.0-{x}-dev'" in search_base for x in miracl.MIRACL_LANGUAGES)  # topics and qrels names


def test_analyzer_table_is_the_bundled_anserinis():
    """Our table for the installed Anserini against its jar's AnalyzerMap and the whitespace languages of
    IndexCollection/SearchCollection."""
    jar = pyserini_folder() / "resources" / "jars" / f"anserini-{anserini_version()}-fatjar.jar"
    with zipfile.ZipFile(jar) as z:
        amap = constant_strings(z.read("io/anserini/analysis/AnalyzerMap$1.class"))
        indexer = constant_strings(z.read("io/anserini/index/IndexCollection.class"))
        searcher = constant_strings(z.read("io/anserini/search/SearchCollection.class"))
    codes = {s for s in amap if re.fullmatch(r"[a-z]{2}", s)}
    classes = {s.rsplit(".", 1)[1] for s in amap if s.startswith("org.apache.lucene.analysis.")}
    table = analyzers.analyzer_map()
    # the map's put(code, class) calls: a class's first use follows its code in the constant pool
    pairs = {c: x.rsplit(".", 1)[1] for c, x in zip(amap, amap[1:]) if c in codes and x.startswith("org.apache.")}
    assert pairs == {c: table[c] for c in pairs}
    assert {c for c in codes if list(table.values()).count(table[c]) == 1} <= set(pairs)
    assert codes == set(table) - {"en"}
    assert classes == set(table.values()) - {"DefaultEnglishAnalyzer"}
    for strings in (indexer, searcher):
        assert set(analyzers.WHITESPACE_LANGUAGES) <= set(strings)
        assert "org/apache/lucene/analysis/core/WhitespaceAnalyzer" in strings
    table = {x: analyzers.anserini_analyzer(x) for x in miracl.MIRACL_LANGUAGES}
    assert table["sw"] == table["yo"] == "WhitespaceAnalyzer" and table["en"] == "DefaultEnglishAnalyzer"
    assert table["zh"] == "CJKAnalyzer" and table["ja"] == "JapaneseAnalyzer"
    assert table["ko"] == ("KoreanAnalyzer" if anserini_version().startswith("2.") else "CJKAnalyzer")
    assert analyzers.anserini_analyzer("vi") == analyzers.FALLBACK_ANALYZER


def test_languages_outside_the_shared_five_convert_with_their_own_counts(two_more, tmp_path, capsys):
    root, facts = two_more
    meta = convert("miracl-mini", root, tmp_path / "topics")
    assert meta["languages"] == ["de", SOURCE, "yo"]
    for lang in ("de", "yo"):
        assert meta["counts"][lang]["questions"] == facts[lang]["queries"]
        assert meta["counts"][lang]["candidates"] == facts[lang]["passages"]
        assert meta["sources"][lang]["corpus"]["sha256"] == sha256(root / "miracl-mini" / lang / "corpus.jsonl")
    assert meta["counts"][SOURCE] == {"questions": 120, "candidates": 3597, "topics_without_qrels": 0}
    assert meta["unchecked"] == ["de", "yo"]  # sw is the shared copy and matches its checksum
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: miracl-mini: de, yo: no checksum in pyserini_hybrid/data/manifest.json")
    docs = (tp.corpus_dir("miracl-mini", "yo", "sentence", tmp_path / "topics") / "docs.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in docs] == [json.loads(x)["docid"] for x in facts["yo"]["lines"]]
    assert tp.resolve("miracl-mini-de-de", tmp_path / "topics").is_file()
    assert (tp.corpus_dir("miracl-mini", "de", "context", tmp_path / "topics") / "docs.jsonl").read_text() == \
        (tp.corpus_dir("miracl-mini", "de", "sentence", tmp_path / "topics") / "docs.jsonl").read_text()


def test_a_changed_shared_file_is_warned_about_and_counted_from_the_file(two_more, tmp_path, capsys, shared_data):
    root, _ = two_more
    (root / "miracl-mini" / SOURCE).unlink()
    shutil.copytree(shared_data / "miracl-mini" / SOURCE, root / "miracl-mini" / SOURCE)
    topics = root / "miracl-mini" / SOURCE / "topics.dev.tsv"
    topics.write_text("".join(topics.read_text(encoding="utf-8").splitlines(keepends=True)[:-10]), encoding="utf-8")
    meta = convert("miracl-mini", root, tmp_path / "topics", languages=[SOURCE])
    assert meta["languages"] == [SOURCE] and meta["counts"][SOURCE]["questions"] == 110
    assert meta["sources"][SOURCE]["topics"]["sha256"] == sha256(topics)
    assert any("topics.dev.tsv: checksum differs from pyserini_hybrid/data/manifest.json" in w for w in meta["warnings"])
    assert any("110 questions, pyserini_hybrid/data/manifest.json expects 120" in w for w in meta["warnings"])


def test_selecting_languages_skips_what_is_absent_and_fails_when_nothing_is_left(two_more, tmp_path, capsys):
    root, _ = two_more
    meta = convert("miracl-mini", root, tmp_path / "topics", languages=["de", "fi"])
    assert meta["languages"] == ["de"]
    assert "miracl-mini: fi not in" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"none of fi, ko in .*miracl-mini \(present: de, sw, yo\)"):
        convert("miracl-mini", root, tmp_path / "topics", languages=["fi", "ko"])
    with pytest.raises(InputError, match=r"unknown language code xx \(known: ar, bn, de"):
        convert("miracl-mini", root, tmp_path / "topics", languages=["xx"])
    assert load_meta("miracl-mini", tmp_path / "topics")["languages"] == ["de"]  # the failures changed nothing


def test_corpus_is_streamed_into_shards_and_a_new_language_keeps_the_others(two_more, tmp_path):
    root, facts = two_more
    whole = convert("miracl-mini", root, tmp_path / "whole", languages=["de"], quiet=True)
    sharded = convert("miracl-mini", root, tmp_path / "sharded", languages=["de"], quiet=True, shard_size=10)
    files = sorted(p.name for p in tp.corpus_dir("miracl-mini", "de", "sentence", tmp_path / "sharded").iterdir())
    n = facts["de"]["passages"]
    assert files == [f"docs-{i:05d}.jsonl" for i in range(-(-n // 10))]
    text = "".join((tp.corpus_dir("miracl-mini", "de", "sentence", tmp_path / "sharded") / f).read_text() for f in files)
    assert text == (tp.corpus_dir("miracl-mini", "de", "sentence", tmp_path / "whole") / "docs.jsonl").read_text()
    assert tp.data_key(whole) == tp.data_key(sharded)  # the same passages, however they are cut into files
    first = tp.corpus_dir("miracl-mini", "de", "sentence", tmp_path / "whole") / "docs.jsonl"
    inode = first.stat().st_ino
    added = convert("miracl-mini", root, tmp_path / "whole", languages=["yo"], quiet=True)
    assert added["languages"] == ["de", "yo"] and added["counts"]["de"] == whole["counts"]["de"]
    assert first.stat().st_ino == inode  # carried over (hard link), not streamed again
    assert tp.language_key(added, "de") == tp.language_key(whole, "de")


def test_selecting_nothing_that_exists_exits_2_and_keeps_the_last_summary(two_more, tmp_path):
    root, _ = two_more
    results = tmp_path / "work" / "results"
    results.mkdir(parents=True)
    (results / "summary.md").write_text("earlier summary\n")
    (results / "summary.json").write_text("{}\n")
    base = [sys.executable, "-m", "pyserini_hybrid.benchmark", "--data-dir", str(root), "--work-dir", str(tmp_path / "work")]
    for extra, message in (
            (["--datasets", "miracl-mini", "--languages", "fi", "ko"],
             "error: nothing to run: miracl-mini: none of fi, ko (it has de, sw, yo)"),
            (["--datasets", "xquad-r", "miracl-mini", "--languages", "klingon"],
             "error: nothing to run: xquad-r: none of klingon (it has ar, de, el, en, es, hi, ru, th, tr, vi, zh); "
             "miracl-mini: none of klingon (it has de, sw, yo)"),
            (["--datasets", "nope"], "error: unknown dataset 'nope' (known: xquad-r, mlqa-r, miracl-mini, miracl")):
        proc = subprocess.run(base + extra, capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, **OFFLINE})
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith(message), proc.stderr
    assert (results / "summary.md").read_text() == "earlier summary\n" and (results / "summary.json").read_text() == "{}\n"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["results"]


@pytest.mark.slow
def test_bm25_dense_fusion_and_evaluation_on_two_more_languages(two_more, tmp_path, tiny_multilingual, capsys):
    """The issue's command: benchmark --datasets miracl-mini --languages <two more> --data-dir <them>."""
    from pyserini.index.lucene import LuceneIndexReader

    from pyserini_hybrid import benchmark

    root, facts = two_more
    work = tmp_path / "work"
    assert benchmark.main(["--datasets", "miracl-mini", "--languages", "de", "yo", "fi", "--data-dir", str(root),
                           "--work-dir", str(work), "--systems", "bm25", "dense", "fusion-rrf",
                           "--model", str(tiny_multilingual), "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "skipped: languages fi: in none of miracl-mini" in err
    summary = json.loads((work / "results" / "summary.json").read_text())
    assert set(summary["results"]) == {"bm25/miracl-mini", "dense/miracl-mini", "fusion-rrf/miracl-mini"}
    table = (work / "results" / "summary.md").read_text()
    assert "| system | de nDCG@10 | de R@100 | yo nDCG@10 | yo R@100 |" in table
    for system in ("bm25", "dense", "fusion-rrf"):
        result = json.loads((work / "runs" / system / "miracl-mini" / "eval" / "results.json").read_text())
        for lang in ("de", "yo"):
            assert result["settings"][f"{lang}-{lang}"]["queries"] == facts[lang]["queries"]
    bm25 = json.loads((work / "runs" / "bm25" / "miracl-mini" / "eval" / "results.json").read_text())
    assert min(bm25["settings"][f"{x}-{x}"]["nDCG@10"] for x in ("de", "yo")) > 0.5  # real queries, real passages
    meta = json.loads((work / "runs" / "bm25" / "miracl-mini" / "run-meta.json").read_text())
    assert meta["analyzers"] == {"de": "GermanAnalyzer", "yo": "WhitespaceAnalyzer"}
    assert set(meta["unchecked_sources"]) == {"de", "yo"}  # their real checksums, for the record
    assert meta["unchecked_sources"]["yo"]["corpus"]["sha256"] == sha256(root / "miracl-mini" / "yo" / "corpus.jsonl")
    index = next((work / "indexes" / "bm25" / "miracl-mini").glob("sentence-yo-*/yo"))
    terms = set(LuceneIndexReader(str(index)).get_document_vector(json.loads(facts["yo"]["lines"][0])["docid"]))
    assert any(t[0].isupper() for t in terms)  # WhitespaceAnalyzer: no lower-casing, as Anserini gives yo and sw


def hub_stand_in(tmp_path, shared_data) -> dict:
    """Local stand-ins for the network: Pyserini's topics and qrels of yo where each Pyserini keeps them
    (1.6: Anserini's topics-and-qrels cache under the JVM's user.home; 2.x: $PYSERINI_CACHE/topics and
    /qrels, with the name tables of castorini/eval that 2.x reads first), a copy of the hub repository's
    layout (miracl-corpus-v1.0-yo/docs-N.jsonl.gz), an empty data dir."""
    facts = miracl_language(shared_data, tmp_path / "src" / "yo", slice(6, 12))
    topics, qrels = "topics.miracl-v1.0-yo-dev.tsv", "qrels.miracl-v1.0-yo-dev.tsv"
    pyserini_cache = tmp_path / "pyserini-cache"
    if pyserini_at_least(2):
        pinned_stand_ins(pyserini_cache)
        commit = re.search(r"EVAL_COMMIT = '([0-9a-f]{40})'", (pyserini_folder() / "search" / "_base.py").read_text())[1]
        tables = pyserini_cache / "pinned" / "castorini" / "eval" / commit
        tables.mkdir(parents=True)
        reader = "io.anserini.search.topicreader.TsvStringTopicReader"  # 2.4 passes the class name to Anserini
        for name, table in (("topics", {"miracl-v1.0-yo-dev": {"path": f"miracl/{topics}", "reader_class": reader}}),
                            ("qrels", {"miracl-v1.0-yo-dev": f"miracl/{qrels}"})):
            (tables / f"{name}.json").write_text(json.dumps(table), encoding="utf-8")
            (tables / f"{name}-aliases.json").write_text("{}", encoding="utf-8")
        cache = {"topics": pyserini_cache / "topics", "qrels": pyserini_cache / "qrels"}
    else:
        cache = dict.fromkeys(("topics", "qrels"), tmp_path / "home" / ".cache" / "pyserini" / "topics-and-qrels")
    for kind, name, src in (("topics", topics, "topics.dev.tsv"), ("qrels", qrels, "qrels.dev.tsv")):
        cache[kind].mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "src" / "yo" / src, cache[kind] / name)
    hub = tmp_path / "hub" / "miracl-corpus-v1.0-yo"
    hub.mkdir(parents=True)
    for i, part in enumerate((facts["lines"][:25], facts["lines"][25:])):
        with gzip.open(hub / f"docs-{i}.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write("\n".join(part) + "\n")
    (tmp_path / "data").mkdir()
    env = {**os.environ, **OFFLINE, "JAVA_TOOL_OPTIONS": f"-Duser.home={tmp_path / 'home'}",
           miracl.HUB_ENV: str(tmp_path / "hub"), "PYSERINI_CACHE": str(pyserini_cache)}
    return {"facts": facts, "env": env}


def miracl_catalogue_stand_in(cache: Path, name: str) -> dict:
    """Pyserini 2.x: a stand-in record for one prebuilt MIRACL index in the kept catalogue copy (the real
    one is on GitHub); its only URL cannot resolve. Returns the record as Pyserini will read it."""
    source = (pyserini_folder() / "prebuilt_index_info.py").read_text(encoding="utf-8")
    commit = re.search(r"PREBUILT_INDEXES_COMMIT = '([0-9a-f]{40})'", source)[1]
    path = re.search(r"TF_INDEX_INFO_MIRACL = _Lazy\w+\(\s*_prebuilt_indexes_url\('([^']+)'\)", source)[1]
    record = {"name": name, "description": "offline test stand-in", "filename": f"lucene-inverted.{name}.tar.gz",
              "urls": [f"https://stand-in.invalid/lucene-inverted.{name}.tar.gz"], "md5": "0" * 32, "size": 1}
    target = cache / "pinned" / "castorini" / "prebuilt-indexes" / commit / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps([record]), encoding="utf-8")
    return record


def topics_cli(*args, env):
    return subprocess.run([sys.executable, "-m", "pyserini_hybrid.topics", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env)


@pytest.mark.slow
def test_full_miracl_through_pyserini_and_the_hub_with_local_stand_ins(tmp_path, shared_data, monkeypatch):
    """`miracl` (full corpora): bundled topics/qrels and the hub corpus on their real code paths, the corpus
    streamed into shards; BM25 from a prebuilt index (a stand-in in Pyserini's cache) equals local BM25."""
    stand = hub_stand_in(tmp_path, shared_data)
    topics = tmp_path / "topics"
    common = ["--data-dir", str(tmp_path / "data"), "--topics-dir", str(topics)]
    no_hub = {k: v for k, v in stand["env"].items() if k != miracl.HUB_ENV}
    proc = topics_cli("convert", "miracl", "--languages", "yo", *common, env=no_hub)  # offline, no stand-in corpus
    assert proc.returncode == 2 and not (topics / "miracl").exists()
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: hf://datasets/miracl/miracl-corpus/miracl-corpus-v1.0-yo/docs-*.jsonl.gz: MIRACL "
                           "corpus not readable through datasets") and "needs a network" in last
    proc = topics_cli("convert", "miracl", *common, env=stand["env"])
    assert proc.returncode == 2 and "name the languages to convert" in proc.stderr
    proc = topics_cli("convert", "miracl", "--languages", "yo", "--shard-size", "20", *common, env=stand["env"])
    assert proc.returncode == 0, proc.stderr
    meta = load_meta("miracl", topics)
    assert meta["sources"]["yo"]["topics"] == {"bundled": "miracl-v1.0-yo-dev"}
    assert meta["sources"]["yo"]["corpus"]["hub"].endswith("/miracl-corpus-v1.0-yo/docs-*.jsonl.gz")
    assert meta["counts"]["yo"]["candidates"] == stand["facts"]["passages"] and meta["warnings"] == []
    corpus = tp.corpus_dir("miracl", "yo", "sentence", topics)
    assert len(list(corpus.iterdir())) == -(-stand["facts"]["passages"] // 20)
    ids = [json.loads(x)["id"] for f in sorted(corpus.iterdir()) for x in f.read_text().splitlines()]
    assert ids == [json.loads(x)["docid"] for x in stand["facts"]["lines"]]

    if pyserini_at_least(2):
        miracl_catalogue_stand_in(tmp_path / "pyserini-cache", "miracl-v1.0-yo")
    monkeypatch.setenv("PYSERINI_CACHE", str(tmp_path / "pyserini-cache"))  # before Pyserini reads a catalogue
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    from pyserini_hybrid.retrieval import bm25

    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.bm25", "--dataset", "miracl", "--languages", "yo",
                           "--prebuilt", "--topics-dir", str(topics), "--output", str(tmp_path / "pb")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={k: v for k, v in stand["env"].items() if k != "JAVA_TOOL_OPTIONS"})
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("error: miracl-v1.0-yo: Pyserini's prebuilt index is not in ") and "network" in proc.stderr
    local = bm25.run_bm25("miracl", tmp_path / "local", ["yo"], index_root=tmp_path / "idx", topics_dir=topics)
    info = TF_INDEX_INFO["miracl-v1.0-yo"]
    cached = tmp_path / "pyserini-cache" / "indexes" / f"{info['filename'].removesuffix('.tar.gz')}.{info['md5']}"
    shutil.copytree(next((tmp_path / "idx" / "miracl").glob("sentence-yo-*/yo")), cached)
    from pyserini.index.lucene import LuceneIndexReader

    stats = LuceneIndexReader(str(cached)).stats()
    for key in ("documents", "unique_terms", "total_terms"):  # Pyserini checks a prebuilt index's statistics
        monkeypatch.setitem(info, key, stats[key])
    pre = bm25.run_bm25("miracl", tmp_path / "prebuilt", ["yo"], topics_dir=topics, prebuilt=True)
    assert pre["analyzers"] == {"yo": "WhitespaceAnalyzer (prebuilt index miracl-v1.0-yo)"}
    assert len(pre["commands"]) == 1 and "pyserini.index.lucene" not in pre["commands"][0]  # nothing indexed
    assert "--index miracl-v1.0-yo " in pre["commands"][0] and local["analyzers"] == {"yo": "WhitespaceAnalyzer"}
    a, b = read_run(tmp_path / "prebuilt" / "yo.trec"), read_run(tmp_path / "local" / "yo.trec")
    assert len(a) > 0 and a[["query_id", "doc_id", "rank"]].equals(b[["query_id", "doc_id", "rank"]])


@pytest.mark.slow
def test_sharded_encode_and_merge_equals_one_encode(tmp_path, shared_data, tiny_multilingual):
    import faiss
    import numpy as np

    from pyserini_hybrid.retrieval import dense

    root, topics = tmp_path / "data", tmp_path / "topics"
    # 3 shards of 96 passages are 32 long: with batches of 8 every shard starts on a batch boundary, so
    # each passage is encoded with the same batch-mates as unsharded (bit-identical in fp32)
    judged = miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 6), extra=0)["passages"]
    miracl_language(shared_data, root / "miracl-mini" / "de", slice(0, 6), extra=96 - judged)
    assert convert("miracl-mini", root, topics, quiet=True)["counts"]["de"]["candidates"] == 96

    def run(name, **kw):
        return dense.run_dense("miracl-mini", tmp_path / name, str(tiny_multilingual), ["de"], batch_size=8,
                               index_root=tmp_path / f"idx-{name}", topics_dir=topics, precision="fp32", **kw)

    run("one")
    run("three", shard_num=3)
    for i in (2, 0, 1):  # one process (or machine) per shard, in any order; nothing is searched yet
        info = run("apart", shard_num=3, shard_id=i)
        assert f"--shard-id {i} --shard-num 3" in info["commands"][0] and not list((tmp_path / "apart").glob("*.trec"))
    run("apart", shard_num=3)  # merges the three shards and searches
    one = next((tmp_path / "idx-one").rglob("sentence/de"))
    v1 = faiss.read_index(str(one / "index"))
    for name in ("three", "apart"):
        merged = next((tmp_path / f"idx-{name}").rglob("de.shards-3")) / "merged"
        assert (merged / "docid").read_text() == (one / "docid").read_text()
        v3 = faiss.read_index(str(merged / "index"))
        assert np.array_equal(v1.reconstruct_n(0, v1.ntotal), v3.reconstruct_n(0, v3.ntotal))
        assert (tmp_path / name / "de.trec").read_text() == (tmp_path / "one" / "de.trec").read_text()
    meta = json.loads((tmp_path / "three" / "run-meta.json").read_text())
    assert meta["shards"]["num"] == 3 and sum("--shard-num 3" in c for c in meta["commands"]) == 3


def test_encode_progress_counts_passages_from_pyserinis_log(tmp_path):
    """Pyserini's encoder reports batches into the log; the bar shows passages done of the set's total."""
    from pyserini_hybrid.retrieval.shards import EncodeProgress, shard_ranges

    assert shard_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]  # as Pyserini's JsonlCollectionIterator cuts them
    log = tmp_path / "pyserini.log"
    log.write_text("$ python -m pyserini.encode ...\n")
    progress = EncodeProgress(total=100, desc="encode test")
    progress.skip(30)  # a cached language
    seen = []

    def pyserini_writes():
        with open(log, "a") as f:
            for done in range(0, 8):
                f.write(f"\r {done}/7 [00:0{done}<00:01, 2.0it/s]")
                f.flush()
                time.sleep(0.4)
                seen.append(progress.bar.n)

    with progress.follow(log, 70, 10, "de"):
        writer = threading.Thread(target=pyserini_writes)
        writer.start()
        writer.join()
    assert 30 < max(seen[:-1]) < 100 and seen == sorted(seen)  # moved during the encode, in passages
    assert progress.bar.n == 100 and progress.bar.total == 100
    progress.close()
