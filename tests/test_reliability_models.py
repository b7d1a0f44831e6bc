"""Corrupt model files are detected before use (issue 19): a truncated model.safetensors in a model
directory is one line; in the default-model cache it is rebuilt; the cache is readable by others."""

import os
import shutil
import subprocess
import sys

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT, check_safetensors
from pyserini_hybrid.models import default_model
from pyserini_hybrid.models.default_model import check_start_model

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def truncate(path, keep=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def broken_model(tmp_path, tiny_multilingual):
    model = tmp_path / "model"
    shutil.copytree(tiny_multilingual, model)
    check_safetensors(model / "model.safetensors")  # the intact copy passes
    truncate(model / "model.safetensors")
    return model


def test_truncated_weights_are_named(broken_model):
    with pytest.raises(InputError, match=r"model\.safetensors: truncated or damaged safetensors file \(\d+ bytes, "
                                         r"its header describes \d+\)"):
        check_safetensors(broken_model / "model.safetensors")
    with pytest.raises(InputError, match="truncated or damaged"):
        check_start_model(str(broken_model))
    (broken_model / "model.safetensors").write_bytes(b"\x05")
    with pytest.raises(InputError, match="unreadable header"):
        check_safetensors(broken_model / "model.safetensors")


def test_encode_cli_refuses_a_truncated_model_before_encoding(broken_model, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.encode", "input", "--corpus", str(tmp_path),
                           "output", "--embeddings", str(tmp_path / "emb"), "--to-faiss",
                           "encoder", "--encoder", str(broken_model), "--encoder-class", "hybrid", "--dimension", "32"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
    assert proc.returncode == 2 and "model.safetensors: truncated or damaged" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "emb").exists()


def test_start_model_names(tmp_path, monkeypatch):
    check_start_model("default")
    with pytest.raises(InputError, match=r"model\.name ./models/nothing: no such model directory"):
        check_start_model("./models/nothing")
    with pytest.raises(InputError, match="no such model directory"):
        check_start_model(str(tmp_path / "gone"))
    with pytest.raises(InputError, match="not a hub id"):
        check_start_model("a/b/c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a model directory"):
        check_start_model(str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="not in the local hub cache"):
        check_start_model("nobody-here/no-such-model-xyz")


@pytest.mark.slow
def test_default_model_cache_is_readable_and_rebuilt_when_truncated(default_model_dir, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(default_model_dir, cache / default_model.MODEL_DIR_NAME)
    weights = cache / default_model.MODEL_DIR_NAME / "model.safetensors"
    mode = 0o666 & ~_umask()
    os.chmod(weights, 0o600)  # what safetensors' writer leaves: unreadable to anyone else sharing the cache
    assert default_model.default_model_dir(cache) == weights.parent
    assert weights.stat().st_mode & 0o777 == mode
    truncate(weights)
    assert default_model.default_model_dir(cache) == weights.parent
    assert "truncated or damaged safetensors file" in capsys.readouterr().err
    check_safetensors(weights)  # rebuilt whole
    assert weights.read_bytes() == (default_model_dir / "model.safetensors").read_bytes()
    assert {f.name: f.stat().st_mode & 0o777 for f in weights.parent.iterdir()} == {
        f.name: mode for f in weights.parent.iterdir()}


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def tiny_bert(path):
    """A 1-layer, 8-wide BERT with a word-level tokenizer built in code (random weights, no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "query:", "passage:", "a", "b"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                 intermediate_size=16, max_position_embeddings=16, pad_token_id=0),
                      add_pooling_layer=False)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def test_load_transformer_names_a_truncated_weights_file(tmp_path):
    from pyserini_hybrid.models.encoder import load_transformer

    tiny_bert(tmp_path / "m")
    load_transformer(str(tmp_path / "m"))  # the intact directory loads
    truncate(tmp_path / "m" / "model.safetensors")
    with pytest.raises(InputError, match=r"m/model\.safetensors: truncated or damaged safetensors file"):
        load_transformer(str(tmp_path / "m"))


def test_an_exported_model_gets_the_usual_file_mode(tmp_path):
    """safetensors writes 0600; a model directory others use (a shared export) must be readable: 0666 - umask."""
    from pyserini_hybrid.models.config import EncoderConfig
    from pyserini_hybrid.models.encoder import BiEncoder

    model, tokenizer = tiny_bert(tmp_path / "src")
    old = os.umask(0o022)
    try:
        BiEncoder(model, tokenizer, EncoderConfig()).save(tmp_path / "out")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    modes = {f.name: f.stat().st_mode & 0o777 for f in out.iterdir() if f.is_file()}
    assert "model.safetensors" in modes and set(modes.values()) == {0o644}, modes
    # the sentence-transformers module folders (1_Pooling, 2_Normalize) are directories: 0777 - umask
    assert {f.stat().st_mode & 0o777 for f in out.iterdir() if f.is_dir()} <= {0o755}
