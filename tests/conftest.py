"""Shared fixtures: the real shared data, converted once per session into a temporary topics dir."""

import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from pyserini_hybrid import topics as tp  # noqa: E402
from pyserini_hybrid.files import data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    return data_dir()


@pytest.fixture(scope="session")
def converted(tmp_path_factory, shared_data):
    """topics dir holding xquad-r, mlqa-r and miracl-mini, converted from the real data."""
    out = tmp_path_factory.mktemp("topics")
    metas = {d: tp.convert(d, shared_data, out, quiet=True) for d in ("xquad-r", "mlqa-r", "miracl-mini")}
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
