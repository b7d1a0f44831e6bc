"""Our Pyserini encoder classes and their registration, on a tiny BERT built here (no hub, seconds)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.core.trec import read_run
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.models.config import EncoderConfig
from pyserini_hybrid.models.text_encoder import TextEncoder
from pyserini_hybrid.pyserini_glue.registry import check_encode_args, encoder_classes

DOCS = 300


@pytest.fixture(scope="module")
def corpus(converted, tmp_path_factory):
    """The first English XQuAD-R candidates and the first English questions."""
    out, _ = converted
    work = tmp_path_factory.mktemp("dense")
    lines = (tp.corpus_dir("xquad-r", "en", "sentence", out) / "docs.jsonl").read_text().splitlines()[:DOCS]
    (work / "corpus").mkdir()
    (work / "corpus" / "docs.jsonl").write_text("\n".join(lines) + "\n")
    topics = tp.topics_path("xquad-r", "en", out).read_text().splitlines()[:40]
    (work / "topics.tsv").write_text("\n".join(topics) + "\n")
    return work, [json.loads(x)["contents"] for x in lines]


@pytest.fixture(scope="module")
def tiny_model(corpus):
    """A 2-layer, 32-wide BERT with a word-level tokenizer over the corpus, plus our encoder config."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    work, texts = corpus
    words = sorted({w for t in texts for w in t.lower().replace(":", " ").split()} | {"query", "passage"})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128, pad_token_id=0),
                      add_pooling_layer=False)
    path = work / "tiny-model"
    model.save_pretrained(path)
    fast.save_pretrained(path)
    EncoderConfig(max_query_length=32, max_passage_length=64, batch_size=8).save(path)
    return path


def test_sorted_padded_batches_equal_one_by_one(tiny_model, corpus):
    _, texts = corpus
    enc = TextEncoder(tiny_model, precision="fp32")
    batched = enc.embed(texts[:40], "passage: ", 64)
    single = np.stack([enc.embed([t], "passage: ", 64)[0] for t in texts[:40]])
    assert batched.shape == (40, 32) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_bf16_encoding_is_float32_on_disk_and_close_to_fp32(tiny_model, corpus):
    _, texts = corpus
    fp32 = TextEncoder(tiny_model, precision="fp32")
    bf16 = TextEncoder(tiny_model, precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    a, b = fp32.embed(texts[:40], "passage: ", 64), bf16.embed(texts[:40], "passage: ", 64)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)  # pooling and norm in fp32
    cos = np.sum(a * b, axis=1)
    assert cos.min() > 0.999 and not np.array_equal(a, b)  # a random tiny model: looser than mE5's 0.9999


@pytest.mark.parametrize("flags", [frozenset(), frozenset({"avx512f", "avx2"})])
def test_auto_precision_without_bf16_instructions_is_fp32(tiny_model, monkeypatch, tmp_path, flags):
    """``auto`` is fp32 at once where the CPU has no bf16 instruction (in the chooser and in the encoder, weights
    in fp32); an explicit choice is kept. Where bf16 instructions exist, auto measures: tests/test_precision.py."""
    from pyserini_hybrid.models import precision as prec

    monkeypatch.setattr(prec, "cpu_flags", lambda: flags)
    monkeypatch.delenv(prec.ENV, raising=False)
    monkeypatch.setenv("PYSERINI_HYBRID_CACHE", str(tmp_path))
    assert prec.choose("auto", "encode").precision == "fp32" and prec.choose(None, "train").precision == "fp32"
    assert prec.choose("fp32", "encode").precision == "fp32" and prec.choose("bf16", "train").precision == "bf16"
    enc = TextEncoder(tiny_model)  # the model dir says "auto"
    assert enc.precision == "fp32" and enc.choice.how == "no bf16 instructions"
    assert next(enc.model.parameters()).dtype == torch.float32


def test_embed_shows_a_progress_bar_only_when_asked(tiny_model, corpus, capsys):
    _, texts = corpus
    enc = TextEncoder(tiny_model)  # mini-batches of 8 (the model dir's config)
    quiet = enc.embed(texts[:20], "query: ", 32)
    assert "batch" not in capsys.readouterr().err  # Pyserini calls encode per chunk: no bar per chunk
    shown = enc.embed(texts[:20], "query: ", 32, progress="encode 20 queries")
    err = capsys.readouterr().err
    assert "encode 20 queries" in err and "20/20" in err  # texts done / total, not batches
    np.testing.assert_array_equal(quiet, shown)


def test_pyserini_classes_read_the_model_dirs_config(tiny_model, corpus):
    _, texts = corpus
    doc_cls, query_cls = encoder_classes()
    from pyserini.encode import DocumentEncoder, QueryEncoder

    d, q = doc_cls(str(tiny_model), device="cpu"), query_cls(str(tiny_model), device="cpu")
    assert isinstance(d, DocumentEncoder) and isinstance(q, QueryEncoder)
    docs = d.encode(texts[:5], max_length=256)
    ref = TextEncoder(tiny_model).embed(texts[:5], "passage: ", 64)  # the config caps 256 to 64
    np.testing.assert_allclose(docs, ref, atol=1e-6)
    np.testing.assert_allclose(q.encode("who won"), q.encode_batch(["who won", "when"])[0], atol=1e-5)


def test_bad_model_dirs_and_dimension(tiny_model, tmp_path):
    with pytest.raises(InputError, match=r"no pyserini_hybrid\.json"):
        EncoderConfig.load(tmp_path)
    (tmp_path / "pyserini_hybrid.json").write_text('{"pooling": "max"}')
    with pytest.raises(InputError, match="unknown pooling 'max'"):
        EncoderConfig.load(tmp_path)
    with pytest.raises(InputError, match=r"--dimension 768 \(default\) does not match .*: its embeddings have 32"):
        check_encode_args(["--encoder", str(tiny_model), "--encoder-class", "hybrid", "--to-faiss"])
    check_encode_args(["--encoder", str(tiny_model), "--encoder-class", "hybrid", "--to-faiss", "--dimension", "32"])


def run(*args):
    proc = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_registered_class_and_stock_auto_route_agree(tiny_model, corpus, monkeypatch):
    """`--encoder-class hybrid` through our entry points = stock Pyserini's auto class with E5 flags (both in
    fp32: stock Pyserini has no bf16 path to compare with)."""
    monkeypatch.setenv("PYSERINI_HYBRID_PRECISION", "fp32")
    work, _ = corpus
    for route, encode_flags in (("hybrid", ["--encoder-class", "hybrid"]),
                                ("auto", ["--encoder-class", "auto", "--pooling", "mean", "--l2-norm",
                                          "--prefix", "passage:", "--max-length", "64"])):
        module = "pyserini_hybrid.encode" if route == "hybrid" else "pyserini.encode"
        run(module, "input", "--corpus", work / "corpus", "--fields", "text",
            "output", "--embeddings", work / f"index-{route}", "--to-faiss",
            "encoder", "--encoder", tiny_model, "--dimension", 32, "--device", "cpu", "--batch-size", 64,
            *encode_flags)
    run("pyserini_hybrid.search.faiss", "--index", work / "index-hybrid", "--topics", work / "topics.tsv",
        "--encoder", tiny_model, "--encoder-class", "hybrid", "--output", work / "hybrid.trec", "--hits", 10,
        "--device", "cpu", "--batch-size", 16)
    run("pyserini.search.faiss", "--index", work / "index-auto", "--topics", work / "topics.tsv",
        "--encoder", tiny_model, "--encoder-class", "auto", "--pooling", "mean", "--l2-norm",
        "--query-prefix", "query:", "--output", work / "auto.trec", "--hits", 10, "--device", "cpu")
    ours, stock = read_run(work / "hybrid.trec"), read_run(work / "auto.trec")
    assert len(ours) == 40 * 10
    for q in ours["query_id"].unique():
        assert list(ours[ours.query_id == q].doc_id) == list(stock[stock.query_id == q].doc_id), q
    np.testing.assert_allclose(ours["score"].to_numpy(), stock["score"].to_numpy(), atol=1e-4)


def test_wrong_dimension_fails_before_encoding(tiny_model, corpus):
    work, _ = corpus
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.encode", "input", "--corpus", str(work / "corpus"),
                           "output", "--embeddings", str(work / "bad-index"), "--to-faiss", "encoder", "--encoder",
                           str(tiny_model), "--encoder-class", "hybrid", "--dimension", "768", "--device", "cpu"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --dimension 768 does not match {tiny_model}: its embeddings have 32 dimensions (pass --dimension 32)"]
    assert not (work / "bad-index").exists()


@pytest.mark.slow
def test_dense_runs_for_every_setting_encode_each_candidate_once(tiny_model, converted, tmp_path):
    """Per-language indexes, a pool built from their vectors, queries encoded once, evaluable runs."""
    import faiss

    from pyserini_hybrid.evaluate.measures import evaluate_run_dir
    from pyserini_hybrid.retrieval import dense

    out, metas = converted
    info = dense.run_dense("xquad-r", tmp_path / "runs", str(tiny_model), ["en", "es"], hits=100,
                           index_root=tmp_path / "idx", topics_dir=out)
    cache = next((tmp_path / "idx" / info["model_key"]).glob("xquad-r-*"))
    pool = faiss.read_index(str(cache / "sentence" / "pool-en-es" / "index"))
    sizes = [metas["xquad-r"]["counts"][x]["candidates"] for x in ("en", "es")]
    assert pool.ntotal == sum(sizes)
    en = faiss.read_index(str(cache / "sentence" / "en" / "index"))
    np.testing.assert_array_equal(pool.reconstruct_n(0, sizes[0]), en.reconstruct_n(0, sizes[0]))
    log = (tmp_path / "runs" / "pyserini.log").read_text()
    assert log.count("$ python -m pyserini.encode") == 2  # one encoding per language, none for the pool
    result = evaluate_run_dir("xquad-r", tmp_path / "runs", ["en", "es"], out)
    assert set(result["settings"]) == {"en-en", "en-es", "es-en", "es-es", "en-pool", "es-pool"}
    assert all(v["queries"] == 1190 for v in result["settings"].values())
    assert result["depth"] == 100
    # a random tiny model still matches shared words far above chance (1/1180) within English
    assert result["settings"]["en-en"]["R@100"] > 0.2


@pytest.mark.slow
def test_dense_context_candidates_and_stale_runs_pruned(tiny_model, converted, tmp_path):
    """Context candidates (sentence + paragraph) encode as one text; a 1-language rerun drops old runs."""
    from pyserini_hybrid.retrieval import dense

    out, _ = converted
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "de.trec").write_text("de-x Q0 de-0-0-0 1 1.0 old\n")
    (runs / "pool.trec").write_text("de-x Q0 de-0-0-0 1 1.0 old\n")
    info = dense.run_dense("xquad-r", runs, str(tiny_model), ["en"], variant="context", hits=10,
                           index_root=tmp_path / "idx", topics_dir=out)
    assert sorted(p.name for p in runs.glob("*.trec")) == ["en.trec"]
    assert "--fields title text" in info["commands"][0]
    assert len(read_run(runs / "en.trec")) == 1190 * 10


def test_search_hybrid_normalization_survives_a_single_bm25_hit():
    """Pyserini 1.6 divides by zero there; our search.hybrid entry point installs a guard."""
    from pyserini.search.faiss import DenseSearchResult
    from pyserini.search.hybrid import HybridSearcher

    from pyserini_hybrid.pyserini_glue.registry import guard_fusion_normalization

    dense = [DenseSearchResult("a", 0.9), DenseSearchResult("b", 0.5), DenseSearchResult("c", 0.1)]
    sparse = [DenseSearchResult("b", 7.0)]
    original = HybridSearcher._hybrid_results
    with pytest.raises(ZeroDivisionError):
        original(dense, sparse, 0.5, 10, normalization=True)
    try:
        guard_fusion_normalization()
        hits = HybridSearcher._hybrid_results(dense, sparse, 0.5, 10, normalization=True)
        # dense normalised to (0.5, 0, -0.5); the lone BM25 hit contributes 0
        assert [(h.docid, round(h.score, 6)) for h in hits] == [("a", 0.5), ("b", 0.0), ("c", -0.5)]
        # unchanged where the span is not zero: same as Pyserini's own code
        sparse2 = sparse + [DenseSearchResult("c", 3.0)]
        assert [(h.docid, h.score) for h in HybridSearcher._hybrid_results(dense, sparse2, 0.3, 10, True)] == \
               [(h.docid, h.score) for h in original(dense, sparse2, 0.3, 10, True)]
    finally:
        HybridSearcher._hybrid_results = staticmethod(original)


def test_tokenizer_is_loaded_once_per_content(tiny_multilingual, tmp_path):
    """Every model trained from one start holds the same tokenizer files: they are parsed once per process
    (multilingual-e5's takes ~1.4 s), and a directory whose tokenizer differs gets its own."""
    import shutil

    from pyserini_hybrid.models.encoder import load_tokenizer

    same, edited = tmp_path / "same", tmp_path / "edited"
    shutil.copytree(tiny_multilingual, same)
    shutil.copytree(tiny_multilingual, edited)
    config = json.loads((edited / "tokenizer_config.json").read_text())
    (edited / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 77}))
    first = load_tokenizer(str(tiny_multilingual))
    assert load_tokenizer(str(same)) is first
    other = load_tokenizer(str(edited))
    assert other is not first and other.model_max_length == 77 != first.model_max_length
    # the shared object tokenises as a fresh load does, after other calls changed its truncation
    from transformers import AutoTokenizer

    texts = ["query: wer schrieb Faust?", "passage: " + "Goethe " * 40]
    first(texts, truncation=True, max_length=8)
    fresh = AutoTokenizer.from_pretrained(str(same))
    assert first(texts, truncation=True, max_length=64)["input_ids"] == fresh(texts, truncation=True, max_length=64)["input_ids"]
