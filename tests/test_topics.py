"""Conversion of XQuAD-R, MLQA-R and MIRACL-mini: counts, qrels semantics, names."""

import json

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.data import topic_sets as tp

# LAReQA (Roy et al. 2020), Table 1, and ../shared/data/README.md
XQUAD_CANDIDATES = {"ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244, "ru": 1219,
                    "th": 852, "tr": 1167, "vi": 1209, "zh": 1196}
MLQA_QUESTIONS = {"ar": 517, "de": 512, "en": 1148, "es": 500, "hi": 507, "vi": 511, "zh": 504}
MLQA_CANDIDATES = {"ar": 2545, "de": 2362, "en": 6264, "es": 1787, "hi": 2426, "vi": 2828, "zh": 2322}
MIRACL_QUERIES = {"ar": 115, "fa": 39, "hi": 33, "sw": 120, "zh": 46}


def lines(path):
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def qrels_pairs(path):
    return [tuple(line.split()[::2][:2]) for line in lines(path)]


def test_xquad_r_counts(converted):
    out, metas = converted
    meta = metas["xquad-r"]
    assert meta["counts"] == {x: {"questions": 1190, "candidates": n} for x, n in XQUAD_CANDIDATES.items()}
    assert meta["settings"] == {"mono": 11, "cross": 110, "multilingual": 11}
    assert len(list((out / "xquad-r" / "qrels").glob("*.txt"))) == 11 * 11 + 11
    assert not meta["warnings"]
    for x, n in XQUAD_CANDIDATES.items():
        assert len(lines(tp.corpus_dir("xquad-r", x, "sentence", out) / "docs.jsonl")) == n
        assert len(lines(tp.topics_path("xquad-r", x, out))) == 1190


def test_mlqa_r_counts(converted):
    _, metas = converted
    meta = metas["mlqa-r"]
    assert {x: c["questions"] for x, c in meta["counts"].items()} == MLQA_QUESTIONS
    assert {x: c["candidates"] for x, c in meta["counts"].items()} == MLQA_CANDIDATES
    assert meta["settings"] == {"mono": 7, "cross": 42, "multilingual": 7}


def test_miracl_counts(converted):
    out, metas = converted
    meta = metas["miracl-mini"]
    assert {x: c["questions"] for x, c in meta["counts"].items()} == MIRACL_QUERIES
    assert all(3500 <= c["candidates"] <= 5000 for c in meta["counts"].values())
    doc = json.loads(lines(tp.corpus_dir("miracl-mini", "sw", "sentence", out) / "docs.jsonl")[0])
    assert set(doc) == {"id", "contents"} and "#" in doc["id"]
    # qrels keep only relevant judgements; the judged file keeps MIRACL's zeros too
    rel = lines(tp.qrels_path("miracl-mini", "ar", "ar", out))
    assert all(line.endswith(" 1") for line in rel) and len(rel) == 162


def test_qids_unique_across_languages_and_docids_encode_position(converted):
    out, _ = converted
    qids = [line.split("\t")[0] for line in lines(tp.topics_path("xquad-r", "all", out))]
    assert len(qids) == len(set(qids)) == 11 * 1190
    docs = [json.loads(x)["id"] for x in lines(tp.corpus_dir("xquad-r", "th", "sentence", out) / "docs.jsonl")]
    assert len(set(docs)) == len(docs)
    assert all(d.startswith("th-") and len(d.split("-")) == 4 for d in docs)


def test_relevant_sentence_contains_the_answer(converted, shared_data):
    """The qrels point at the sentence of Y's paragraph holding Y's answer start."""
    out, _ = converted
    raw = json.loads((shared_data / "lareqa/xquad-r/de.json").read_text(encoding="utf-8"))
    answer = {}
    for art in raw["data"]:
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                answer[qa["id"]] = qa["answers"][0]["text"]
    docs = {json.loads(x)["id"]: json.loads(x)["contents"]
            for x in lines(tp.corpus_dir("xquad-r", "de", "sentence", out) / "docs.jsonl")}
    pairs = qrels_pairs(tp.qrels_path("xquad-r", "en", "de", out))
    assert len(pairs) == 1190
    hits = sum(answer[q.split("-", 1)[1]] in docs[d] for q, d in pairs)
    assert hits >= 0.97 * len(pairs)  # a few answers span a sentence break
    assert all(q.startswith("en-") and d.startswith("de-") for q, d in pairs)


def test_context_variant_appends_the_paragraph(converted):
    out, _ = converted
    sent = json.loads(lines(tp.corpus_dir("xquad-r", "en", "sentence", out) / "docs.jsonl")[1])
    ctx = json.loads(lines(tp.corpus_dir("xquad-r", "en", "context", out) / "docs.jsonl")[1])
    assert sent["id"] == ctx["id"]
    assert ctx["contents"].startswith(sent["contents"] + "\n") and len(ctx["contents"]) > 2 * len(sent["contents"])


def test_mlqa_partial_parallelism(converted, shared_data):
    """X->Y qrels exist only for ids present in both; the pool has 2-4 relevant candidates per query."""
    out, _ = converted
    ids = {}
    for x in MLQA_QUESTIONS:
        raw = json.loads((shared_data / f"lareqa/mlqa-r/{x}.json").read_text(encoding="utf-8"))
        ids[x] = {qa["id"] for a in raw["data"] for p in a["paragraphs"] for qa in p["qas"]}
    for x in MLQA_QUESTIONS:
        for y in MLQA_QUESTIONS:
            got = {q.split("-", 1)[1] for q, _ in qrels_pairs(tp.qrels_path("mlqa-r", x, y, out))}
            assert got == ids[x] & ids[y], (x, y)
    per_query = {}
    for q, d in qrels_pairs(tp.qrels_path("mlqa-r", "de", tp.POOL, out)):
        per_query.setdefault(q, set()).add(d.split("-")[0])
    assert len(per_query) == MLQA_QUESTIONS["de"]
    assert {len(v) for v in per_query.values()} <= {2, 3, 4}
    assert all("en" in v and "de" in v for v in per_query.values())
    sizes = {len(v) for v in per_query.values()}
    assert len(sizes) > 1  # really partial, not all-or-nothing


def test_xquad_pool_has_one_relevant_per_language(converted):
    out, _ = converted
    per_query = {}
    for q, d in qrels_pairs(tp.qrels_path("xquad-r", "hi", tp.POOL, out)):
        per_query.setdefault(q, []).append(d.split("-")[0])
    assert len(per_query) == 1190
    assert all(sorted(v) == sorted(XQUAD_CANDIDATES) for v in per_query.values())


def test_names_resolve_like_pyserini_topics(converted):
    out, _ = converted
    assert tp.resolve("xquad-r-en", out) == out / "xquad-r" / "topics.en.tsv"
    assert tp.resolve("mlqa-r-de-pool", out) == out / "mlqa-r" / "qrels" / "de-pool.txt"
    assert tp.resolve("miracl-mini-sw-sw", out).is_file()
    with pytest.raises(InputError, match="unknown topic set"):
        tp.resolve("xquad-r-xx", out)


def test_pyserini_reads_our_topics(converted):
    """Pyserini's own topic reader accepts our TSV with string qids."""
    from pyserini_hybrid.pyserini_glue.java import configure

    configure()
    from pyserini.query_iterator import DefaultQueryIterator

    out, _ = converted
    it = DefaultQueryIterator.from_topics(str(tp.topics_path("xquad-r", "zh", out)))
    got = list(it)
    assert len(got) == 1190 and got[0][0].startswith("zh-")


def test_shared_copies_match_the_manifests_checksums(converted, shared_data):
    """The built-in manifest checks the shared data exactly: no warning, nothing unchecked."""
    from pyserini_hybrid.core.files import sha256

    _, metas = converted
    for name, spec in tp.builtin_manifest().items():
        for lang, lspec in spec["languages"].items():
            sums = lspec["sha256"] if isinstance(lspec["sha256"], dict) else {"file": lspec["sha256"]}
            for key, digest in sums.items():
                assert sha256(shared_data / lspec[key]) == digest, (name, lang, key)
    for name in ("xquad-r", "mlqa-r", "miracl-mini"):
        assert metas[name]["warnings"] == [] and metas[name]["unchecked"] == []
    assert metas["miracl-mini"]["languages"] == sorted(MIRACL_QUERIES)  # the shared data has only the five
