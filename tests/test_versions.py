"""The two supported stacks (docs/versions.md): pins per Python version, the installed stack, and Pyserini
2.4's catalogue downloads served from a kept copy offline (one line where there is none)."""

import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.pyserini_glue import catalogue
from pyserini_hybrid.pyserini_glue.versions import (
    anserini_version,
    fetches_catalogues,
    pyserini_version,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pins(python: str) -> dict[str, str]:
    """pyproject's dependencies as pip sees them on ``python`` (name -> specifier)."""
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    env = {"python_version": python, "python_full_version": f"{python}.0"}
    reqs = [Requirement(d) for d in deps]
    return {r.name: str(r.specifier) for r in reqs if r.marker is None or Marker(str(r.marker)).evaluate(env)}


def test_pins_follow_the_python_version():
    old, new = pins("3.11"), pins("3.12")
    assert old["pyserini"] == "<1.7,>=1.6.0" and old["torch"] == "==2.13.0" and old["openai"] == "<2.34"
    assert new["pyserini"] == "<2.5,>=2.4.0" and new["torch"] == ">=2.9" and "openai" not in new
    assert old["faiss-cpu"] == new["faiss-cpu"] == ""  # Pyserini 2.x no longer brings it
    assert set(old) - {"openai"} == set(new)
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11,<3.13"


def test_the_installed_stack_is_the_one_pinned_for_this_python():
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = {"3.11": ("1.6.", "1.7.1", False), "3.12": ("2.4.", "2.3.0", True)}[python]
    assert pyserini_version().startswith(expected[0]) and anserini_version() == expected[1]
    assert fetches_catalogues() == expected[2]


def test_only_commit_pinned_castorini_urls_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSERINI_CACHE", str(tmp_path))
    url = f"https://raw.githubusercontent.com/castorini/eval/{COMMIT}/topics/topics.json"
    assert catalogue.cached_path(url) == tmp_path / "pinned" / "castorini" / "eval" / COMMIT / "topics" / "topics.json"
    for other in ("https://raw.githubusercontent.com/castorini/eval/main/topics/topics.json",  # a branch moves
                  f"https://raw.githubusercontent.com/someone/eval/{COMMIT}/topics.json",
                  f"https://raw.githubusercontent.com/castorini/eval/{COMMIT}/../x.json",
                  "https://huggingface.co/datasets/miracl/miracl-corpus"):
        assert catalogue.cached_path(other) is None


def test_a_kept_copy_is_served_without_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSERINI_CACHE", str(tmp_path))
    url = f"https://raw.githubusercontent.com/castorini/prebuilt-indexes/{COMMIT}/lucene/x.json"
    catalogue.cached_path(url).parent.mkdir(parents=True)
    catalogue.cached_path(url).write_text('[{"name": "x"}]', encoding="utf-8")
    saved = urllib.request._opener
    try:
        catalogue.install()
        catalogue.install()  # idempotent: one handler
        assert sum(isinstance(h, catalogue.PinnedCacheHandler) for h in urllib.request._opener.handlers) == 1
        with urllib.request.urlopen(url, timeout=5) as r:  # what Pyserini 2.4 calls
            assert r.read() == b'[{"name": "x"}]' and r.status == 200
        missing = url.replace("x.json", "y.json")
        with pytest.raises(urllib.error.URLError, match=r"y\.json: not reachable .* no copy in .*pinned"):
            urllib.request.urlopen(missing, timeout=5)  # offline here; with a network it would be kept
    finally:
        urllib.request.install_opener(saved)


def test_offline_pyserini_without_a_kept_copy_is_one_line(tmp_path):
    env = {**os.environ, "PYSERINI_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.pyserini_glue.mains", "pyserini.search.lucene",
                           "--index", str(tmp_path / "none"), "--topics", str(tmp_path / "t.tsv"),
                           "--output", str(tmp_path / "run.trec")], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT)
    if not fetches_catalogues():  # Pyserini 1.6 starts offline; it fails on the missing index instead
        assert proc.returncode != 0 and "cannot start" not in proc.stderr
        return
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: Pyserini {pyserini_version()} cannot start: https://raw.githubusercontent.com/")
    assert f"no copy in {tmp_path / 'pinned'}" in proc.stderr and "--fetch-catalogue" in proc.stderr
    fetch = subprocess.run([sys.executable, "-m", "pyserini_hybrid.java", "--fetch-catalogue"], capture_output=True,
                           text=True, env=env, cwd=PROJECT_ROOT)
    assert fetch.returncode == 2 and fetch.stderr.count("\n") == 1 and "cannot start" in fetch.stderr
