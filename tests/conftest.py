"""Shared fixtures: the real shared data, converted once per session into a temporary topics dir."""

import json
import os
import re
import shutil
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from pyserini_hybrid.core.files import data_dir  # noqa: E402
from pyserini_hybrid.data.convert import convert  # noqa: E402


def pinned_stand_ins(cache: Path) -> Path:
    """Pyserini >= 2.4 reads its prebuilt-index catalogue from GitHub when it is imported (docs/versions.md);
    our handler serves kept copies from ``<cache>/pinned`` (``pyserini_glue.catalogue``). Offline tests
    get stand-ins for exactly the files the import reads: the catalogues whose entries the module indexes
    at import time, each entry a record with no URL (nothing can be downloaded from it). Anything
    else Pyserini fetches still fails offline, so a test that needs it says so."""
    import importlib.util

    from pyserini_hybrid.pyserini_glue.catalogue import PINNED

    folder = Path(list(importlib.util.find_spec("pyserini").submodule_search_locations)[0])
    source = (folder / "prebuilt_index_info.py").read_text(encoding="utf-8")
    commit = re.search(r"PREBUILT_INDEXES_COMMIT = '([0-9a-f]{40})'", source).group(1)
    blocks = dict(re.findall(r"^(\w+) = _Lazy\w+\(\s*(.*?)\n\)", source, flags=re.S | re.M))
    forced: dict[str, list[str]] = {}
    for catalogue, name in re.findall(r"^\s+\S+: (\w+)\[\"([^\"]+)\"\]", source, flags=re.M):
        forced.setdefault(catalogue, []).append(name)
    for catalogue, names in forced.items():
        paths = re.findall(r"_prebuilt_indexes_url\('([^']+)'\)", blocks[catalogue])
        for i, path in enumerate(paths):
            url = f"https://raw.githubusercontent.com/castorini/prebuilt-indexes/{commit}/{path}"
            records = [{"name": n, "description": "offline test stand-in", "filename": f"{n}.tar.gz", "urls": [],
                        "md5": "0" * 32, "size": 0} for n in names] if i == 0 else []
            target = cache / "pinned" / Path(*PINNED.fullmatch(url).groups())  # as catalogue.cached_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(records), encoding="utf-8")
    return cache


_SAVED_CACHE: list = []


def pytest_configure(config):
    """Pyserini 2.x: a session cache ($PYSERINI_CACHE) holding the stand-ins its import needs offline, set
    before any test module is imported (several copy os.environ for their subprocesses at import); Pyserini
    1.6 ships its catalogues and is left alone."""
    import tempfile

    from pyserini_hybrid.pyserini_glue.versions import fetches_catalogues

    if fetches_catalogues():
        _SAVED_CACHE.append((os.environ.get("PYSERINI_CACHE"), Path(tempfile.mkdtemp(prefix="pyserini-cache-"))))
        os.environ["PYSERINI_CACHE"] = str(pinned_stand_ins(_SAVED_CACHE[0][1]))


def pytest_unconfigure(config):
    for saved, folder in _SAVED_CACHE:
        if saved is None:
            os.environ.pop("PYSERINI_CACHE", None)
        else:
            os.environ["PYSERINI_CACHE"] = saved
        shutil.rmtree(folder, ignore_errors=True)


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


def one_line_error(argv, env) -> str:
    """Run ``python -m *argv``; it must exit 2 with exactly one ``error:`` line, last, and no traceback."""
    import subprocess
    import sys

    from pyserini_hybrid.core.files import PROJECT_ROOT

    proc = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env,
                          timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr[-3000:]
    return errors[0]


@pytest.fixture
def cli_error():
    return one_line_error


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
