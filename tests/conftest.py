"""Shared fixtures: the real shared data, converted once per session into a temporary topics dir."""

import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from pyserini_hybrid.core.files import data_dir  # noqa: E402
from pyserini_hybrid.data.convert import convert  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    return data_dir()


@pytest.fixture(scope="session")
def converted(tmp_path_factory, shared_data):
    """topics dir holding xquad-r, mlqa-r and miracl-mini, converted from the real data."""
    out = tmp_path_factory.mktemp("topics")
    metas = {d: convert(d, shared_data, out, quiet=True) for d in ("xquad-r", "mlqa-r", "miracl-mini")}
    return out, metas


@pytest.fixture
def data_copy(tmp_path, shared_data):
    """A data dir of symlinks to the real files, so a test can replace one file with a broken one."""
    root = tmp_path / "data"
    for src in shared_data.rglob("*"):
        if src.is_file() and "qa-train" not in src.parts:
            dst = root / src.relative_to(shared_data)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    return root


def replace_file(path, text):
    path.unlink()
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def replace():
    return replace_file


@pytest.fixture
def copy_tree():
    return shutil.copytree


@pytest.fixture(scope="session")
def default_model_dir(tmp_path_factory):
    """The embedded multilingual-e5-small converted into a temporary cache (about 10 s, once)."""
    from pyserini_hybrid.models import default_model

    return default_model.default_model_dir(cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def training_pairs(shared_data):
    """The real training pairs (all datasets and languages), built once."""
    from pyserini_hybrid.train.pairs import load_pairs

    return load_pairs(shared_data, quiet=True)


def build_tiny_multilingual(default_dir, path, dropout=0.1):
    """A 2-layer, 32-wide BERT with mE5-small's real multilingual tokenizer (random weights, seconds)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from pyserini_hybrid.models.config import EncoderConfig

    tokenizer = AutoTokenizer.from_pretrained(default_dir)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=130, pad_token_id=1,
                                 hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout),
                      add_pooling_layer=False)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    EncoderConfig(max_query_length=32, max_passage_length=64, batch_size=16).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_multilingual(default_model_dir, tmp_path_factory):
    return build_tiny_multilingual(default_model_dir, tmp_path_factory.mktemp("tiny") / "tiny-ml")


@pytest.fixture(scope="session")
def tiny_multilingual_no_dropout(default_model_dir, tmp_path_factory):
    return build_tiny_multilingual(default_model_dir, tmp_path_factory.mktemp("tiny0") / "tiny-ml", dropout=0.0)
