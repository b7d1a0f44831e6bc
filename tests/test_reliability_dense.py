"""Model directories and dense caches are checked before use (reliability probe 2026-12-07: A7(b), A8, A9,
B5, D6): another model's tokenizer is refused, edited settings are said, an index of another dimension
fails before any output, a damaged dense cache is built again, and nothing in the query cache is unpickled.

Small on purpose: the tiny multilingual model (32-d, mE5's tokenizer), hand-made faiss indexes, and a
stand-in for Pyserini's encode main where only our cache logic is under test."""

import json
import os
import pickle
import shutil

import numpy as np
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.models.config import EncoderConfig


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Warnings are said once per process; each test hears its own."""
    try:
        from pyserini_hybrid.models import integrity
    except ImportError:  # the code before these checks: each test then fails on its own assertion
        return
    monkeypatch.setattr(integrity, "_said", set())


@pytest.fixture(scope="module")
def exported(tiny_multilingual, tmp_path_factory):
    """The tiny model exported the way training exports (``BiEncoder.save``); lengths capped at its 130
    positions, as training caps a recipe's 256."""
    from pyserini_hybrid.models.encoder import BiEncoder

    out = tmp_path_factory.mktemp("exported") / "model"
    BiEncoder.build(str(tiny_multilingual), EncoderConfig(max_query_length=32, max_passage_length=256)).save(out)
    return out


def replaced(path, text):
    """Write a new file rather than through a hard link to a shared copy."""
    path.unlink()
    path.write_text(text, encoding="utf-8")


def linked_copy(src, dst):
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


# ------------------------------------------------------------------------------ A7(b): the tokenizer


def test_conversion_and_export_record_the_tokenizer_sha256(default_model_dir, exported):
    from pyserini_hybrid.models.integrity import tokenizer_sha256

    for model in (default_model_dir, exported):
        recorded = json.loads((model / "pyserini_hybrid.json").read_text())["tokenizer_sha256"]
        assert recorded == tokenizer_sha256(model)


def test_another_tokenizer_of_the_same_size_is_refused_in_one_line(exported, tmp_path):
    """Two vocabulary entries swapped: the same size, so only the recorded sha256 can tell."""
    from pyserini_hybrid.models.encoder import load_transformer
    from pyserini_hybrid.retrieval.dense import resolve_model

    copy = linked_copy(exported, tmp_path / "model")
    spec = json.loads((copy / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    vocab[1000], vocab[1001] = vocab[1001], vocab[1000]
    replaced(copy / "tokenizer.json", json.dumps(spec, ensure_ascii=False))
    for load in (load_transformer, resolve_model):
        with pytest.raises(InputError, match="tokenizer files differ from those recorded") as e:
            load(str(copy))
        assert str(copy) in str(e.value) and "\n" not in str(e.value)


def test_an_unrecorded_tokenizer_is_checked_against_config_special_ids(tiny_multilingual, tmp_path, capsys):
    """A model without a recorded hash (exported before it was recorded) is used with a warning, but a
    WordPiece tokenizer of the same size numbers [PAD] 0 where config.json says 1: refused."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from pyserini_hybrid.models.encoder import load_tokenizer, load_transformer

    load_transformer(str(tiny_multilingual))  # its own tokenizer, nothing recorded: a warning only
    assert "no tokenizer_sha256" in capsys.readouterr().err

    size = len(load_tokenizer(str(tiny_multilingual)))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + [f"w{i}" for i in range(size - len(specials))])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    other = tmp_path / "model"
    shutil.copytree(tiny_multilingual, other, ignore=shutil.ignore_patterns("tokenizer*", "special_tokens_map.json"))
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(other)
    with pytest.raises(InputError, match=r"pad token has id 0, config\.json's pad_token_id is 1") as e:
        load_transformer(str(other))
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------ A8: edited settings


def test_edited_pooling_in_a_copy_of_the_default_model_is_said(default_model_dir, tmp_path, capsys):
    from pyserini_hybrid.retrieval.dense import resolve_model

    copy = linked_copy(default_model_dir, tmp_path / "model")
    resolve_model(str(copy))
    assert "warning" not in capsys.readouterr().err  # as converted: nothing to say
    config = json.loads((copy / "pyserini_hybrid.json").read_text())
    replaced(copy / "pyserini_hybrid.json", json.dumps({**config, "pooling": "cls", "precision": "fp32"}))
    resolve_model(str(copy))
    err = capsys.readouterr().err
    assert "pooling 'cls' (written 'mean') differs from the default model's conversion" in err
    assert "precision" not in err  # a documented per-model setting that does not change the embeddings' meaning


def test_edited_settings_of_a_trained_model_are_said_against_its_card(exported, tmp_path, capsys):
    from dataclasses import asdict

    from pyserini_hybrid.models.text_encoder import TextEncoder
    from pyserini_hybrid.train.recipe import ModelArgs

    copy = linked_copy(exported, tmp_path / "model")
    recipe = {"model": asdict(ModelArgs(max_query_length=32, max_passage_length=256))}
    (copy / "training-card.json").write_text(json.dumps({"recipe": recipe}))
    TextEncoder(copy, precision="fp32")  # 256 was capped at the model's 130 positions on export: as written
    assert "differ" not in capsys.readouterr().err
    config = json.loads((copy / "pyserini_hybrid.json").read_text())
    replaced(copy / "pyserini_hybrid.json", json.dumps({**config, "l2_norm": False}))
    TextEncoder(copy, precision="fp32")
    assert "l2_norm False (written True) differs from training-card.json's recipe" in capsys.readouterr().err


# ------------------------------------------------------------------------------ A9: index dimension


def flat_index(path, dimension, n=3, seed=0):
    import faiss

    path.mkdir(parents=True)
    index = faiss.IndexFlatIP(dimension)
    index.add(np.random.default_rng(seed).standard_normal((n, dimension)).astype(np.float32))
    faiss.write_index(index, str(path / "index"))
    (path / "docid").write_text("".join(f"d{i}\n" for i in range(n)))
    return path


def search_error(argv, capsys) -> str:
    from pyserini_hybrid.search.faiss import main

    with pytest.raises(SystemExit) as e:
        main([str(x) for x in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_search_refuses_an_index_of_another_dimension_before_any_output(tiny_multilingual, tmp_path, capsys):
    index = flat_index(tmp_path / "idx384", 384)
    (tmp_path / "topics.tsv").write_text("q1\twho wrote it\n")
    run = tmp_path / "run.trec"
    common = ["--index", index, "--topics", tmp_path / "topics.tsv", "--output", run, "--hits", 2]
    line = search_error(["--encoder", tiny_multilingual, "--encoder-class", "hybrid", *common], capsys)
    assert line == (f"error: --index {index} holds 384-dimensional vectors but --encoder {tiny_multilingual} "
                    "gives 32 (its hidden_size): search with the model that encoded the index")
    from pyserini_hybrid.pyserini_glue.dense_files import write_encoded_queries

    queries = tmp_path / "queries"
    queries.mkdir()
    write_encoded_queries(queries, ["who wrote it"], np.zeros((1, 32), np.float32))
    assert "--encoded-queries" in search_error(["--encoded-queries", queries, *common], capsys)
    from pyserini_hybrid.pyserini_glue.dense_files import record_index

    record_index(index)  # as our dense cache records its indexes
    data = (index / "index").read_bytes()
    (index / "index").write_bytes(data[: len(data) // 2])
    assert "not a whole faiss index (index: 2,326 bytes, built with 4,653)" in \
           search_error(["--encoder", tiny_multilingual, "--encoder-class", "hybrid", *common], capsys)
    assert not run.exists() and not list(tmp_path.glob("*.trec*"))


# ------------------------------------------------------------------------------ B5: damaged dense caches


@pytest.fixture
def fake_encode(monkeypatch):
    """``pyserini.encode`` stood in for: 5 vectors of 8 dimensions into ``--embeddings``; calls counted."""
    import faiss

    from pyserini_hybrid.retrieval import dense

    calls = []

    def run(module, args, log):
        out = args[args.index("--embeddings") + 1]
        calls.append(out)
        index = faiss.IndexFlatIP(8)
        index.add(np.arange(40, dtype=np.float32).reshape(5, 8))
        faiss.write_index(index, str(out / "index"))
        (out / "docid").write_text("".join(f"en-{i}\n" for i in range(5)))
        return ""

    monkeypatch.setattr(dense, "run", run)
    return calls


def build(index, *force):
    from pyserini_hybrid.retrieval.dense import Encoding, build_index

    build_index(index.parent / "corpus", index,
                Encoding(index.parent / "model", 8, 16, "sentence", "fp32", index.parent / "log", *force), None)


@pytest.mark.parametrize("damage", ["index", "docid", "record-less index"])
def test_a_damaged_dense_index_is_encoded_again_with_a_warning(fake_encode, tmp_path, capsys, damage):
    index = tmp_path / "en"
    build(index)
    whole = {name: (index / name).read_bytes() for name in ("index", "docid")}
    build(index)
    assert len(fake_encode) == 1  # whole: reused
    name = "index" if damage != "docid" else "docid"
    if damage == "record-less index":  # a cache built before records: checked against itself
        (index / "cache-files.json").unlink()
    (index / name).write_bytes(whole[name][: len(whole[name]) // 2 + 3])
    build(index)
    assert len(fake_encode) == 2
    assert f"warning: {index}: damaged dense index ({name}:" in capsys.readouterr().err
    assert {name: (index / name).read_bytes() for name in whole} == whole
    record = json.loads((index / "cache-files.json").read_text())
    assert (record["vectors"], record["dimension"], record["files"]["docid"]) == (5, 8, 25)
    build(index, True)  # --force builds again even a whole one
    assert len(fake_encode) == 3 and "warning" not in capsys.readouterr().err


def test_a_damaged_pool_index_is_merged_again(tmp_path, capsys):
    from pyserini_hybrid.retrieval.shards import merge_indexes

    parts = [flat_index(tmp_path / "en", 8, n=3, seed=1), flat_index(tmp_path / "de", 8, n=2, seed=2)]
    pool = tmp_path / "pool"
    merge_indexes(parts, pool)
    whole = (pool / "index").read_bytes()
    (pool / "index").write_bytes(whole[:-4])
    merge_indexes(parts, pool)
    assert "damaged dense index (index: " in capsys.readouterr().err and (pool / "index").read_bytes() == whole
    (parts[0] / "docid").write_text("d0\n")
    with pytest.raises(InputError, match=r"en: damaged dense index \(docid: 3 bytes, built with 9\)"):
        merge_indexes(parts, pool, force=True)


# ------------------------------------------------------------------------------ D6: no pickle is loaded


class Crafted:
    """Unpickling this creates ``marker``: what a crafted embedding.pkl could do with any code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


QUESTIONS = ["Wer schrieb den Roman?", "¿Cuándo se fundó la ciudad?", "Who won the 1998 final?",
             "Какой город является столицей?", "谁发明了印刷术？", "Who won the 1998 final?"]


@pytest.fixture
def query_cache(tmp_path):
    """A topics file (one text twice: encoded once) and where its encoded queries go."""
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"q{i}\t{q}\n" for i, q in enumerate(QUESTIONS)), encoding="utf-8")
    return topics, tmp_path / "queries"


def test_query_cache_is_npy_and_a_replaced_pickle_is_never_loaded(tiny_multilingual, query_cache, tmp_path,
                                                                   capsys):
    from pyserini_hybrid.retrieval.dense import encode_queries

    topics, cache = query_cache
    encode_queries([topics], tiny_multilingual, cache, "fp32")
    stock = (cache / "embedding.pkl").read_bytes()  # Pyserini's own format, for the stock command
    marker = tmp_path / "ran"
    (cache / "embedding.pkl").write_bytes(pickle.dumps(Crafted(marker)))
    encode_queries([topics], tiny_multilingual, cache, "fp32")
    assert "embedding.pkl is not the file written with these queries; encoding them again" in capsys.readouterr().err
    assert (cache / "embedding.pkl").read_bytes() == stock and not marker.exists()

    from pyserini_hybrid.core.trec import read_topics
    from pyserini_hybrid.models.text_encoder import TextEncoder
    from pyserini_hybrid.pyserini_glue.dense_files import read_encoded_queries

    texts = sorted(set(read_topics(topics).values()))
    enc = TextEncoder(tiny_multilingual, precision="fp32")
    expected = enc.embed(texts, enc.config.query_prefix, enc.config.max_query_length)
    got = read_encoded_queries(cache / "embedding.pkl")  # older records name the pickle: its directory is read
    assert list(got) == texts and np.array_equal(np.stack(list(got.values())), expected)  # bit for bit

    for name in ("embedding.npy", "texts.json", "cache-files.json"):  # an older cache: the pickle only
        (cache / name).unlink()
    (cache / "embedding.pkl").write_bytes(pickle.dumps(Crafted(marker)))
    encode_queries([topics], tiny_multilingual, cache, "fp32")
    assert "only embedding.pkl" in capsys.readouterr().err and not marker.exists()
    assert np.array_equal(np.stack(list(read_encoded_queries(cache).values())), expected)


def test_pyserini_encoded_queries_read_our_npy_not_the_pickle(query_cache, tmp_path):
    """Pyserini's search.faiss builds ``QueryEncoder(dir)`` from ``--encoded-queries`` (1.6 and 2.x), which
    unpickles ``embedding.pkl`` through ``_load_embeddings``; inside our registration it reads the .npy."""
    import pyserini.encode as pe

    from pyserini_hybrid.pyserini_glue.registry import registered

    _, cache = query_cache
    cache.mkdir()
    vectors = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.save(cache / "embedding.npy", vectors)  # as dense_files.write_encoded_queries writes them
    (cache / "texts.json").write_text(json.dumps(["a", "b"]))
    marker = tmp_path / "ran"
    (cache / "embedding.pkl").write_bytes(pickle.dumps(Crafted(marker)))
    with registered():
        encoder = pe.QueryEncoder(str(cache))
    table = getattr(encoder, "embedding", None) or getattr(encoder, "embeddings")  # 1.6 / 2.x
    assert np.array_equal(encoder.encode("b"), vectors[1]) and set(table) == {"a", "b"} and not marker.exists()
    stock = pe.QueryEncoder.__dict__["_load_embeddings"]
    assert stock.__func__.__module__.startswith("pyserini")  # put back on leaving the block
