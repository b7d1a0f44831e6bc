"""An installable plugin: the wheel, installed into a fresh environment, works from a directory outside the
checkout, and writes what it makes into the work directory, never into the installed package's folder."""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pyserini_hybrid.core.files import PROJECT_ROOT

from test_ntrex import make_slice

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A wheel built from the committed sources, installed into a new environment whose other packages are
    this one's (a ``.pth`` line: the checkout's editable install is not among them)."""
    root = tmp_path_factory.mktemp("install")
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", "pyserini_hybrid"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    source = root / "source"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(root / "dist"), str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next((root / "dist").glob("pyserini_hybrid-*.whl"))
    venv = root / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                           "--target", str(purelib), str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "zz-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python, purelib / "pyserini_hybrid"


def _run(python, args, cwd, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYSERINI_HYBRID")}
    return subprocess.run([str(python), "-m", *args], capture_output=True, text=True, cwd=cwd,
                          env={**environ, **OFFLINE, **env}, timeout=900)


def test_the_wheel_carries_its_package_data(installed):
    _, package = installed
    for name in ("data/manifest.json", "data/languages.tsv", "train/training-sets.toml"):
        assert (package / name).is_file(), name


@pytest.mark.slow
def test_the_installed_plugin_converts_searches_and_lists_training_data_outside_the_checkout(
        installed, shared_data, tmp_path):
    python, package = installed
    before = _files(package)
    data = make_slice(shared_data, tmp_path / "data", ("en", "de"))
    work = tmp_path / "elsewhere"
    work.mkdir()

    proc = _run(python, ["pyserini_hybrid.topics", "convert", "ntrex", "--languages", "de", "--data-dir", str(data)],
                work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "topics" / "ntrex" / "meta.json").is_file()  # the current directory is the work directory

    home = tmp_path / "home"  # $PYSERINI_HYBRID_HOME moves it
    proc = _run(python, ["pyserini_hybrid.bm25", "--dataset", "ntrex", "--languages", "de", "--data-dir", str(data)],
                work, PYSERINI_HYBRID_HOME=str(home))
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = home / "runs" / "bm25" / "ntrex"
    assert (runs / "en.trec").stat().st_size > 0 and (runs / "de.trec").stat().st_size > 0
    assert (home / "indexes").is_dir() and not (work / "runs").exists()

    proc = _run(python, ["pyserini_hybrid.train", "data", "--datasets", "squad", "--languages", "en", "da",
                         "--decontaminate", "xquad-r", "--quiet", "--data-dir", str(shared_data)], work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "squad" in proc.stdout and "da" in proc.stdout

    where = subprocess.run([str(python), "-c", "import pyserini_hybrid; print(pyserini_hybrid.__file__)"],
                           capture_output=True, text=True, cwd=work).stdout.strip()
    assert Path(where).parent == package and not Path(where).is_relative_to(PROJECT_ROOT)
    assert _files(package) == before  # nothing written into the installed package
