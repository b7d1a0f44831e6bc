"""Which Pyserini, and which Anserini inside it, this environment has: from the installed package's
metadata and the name of its bundled fatjar, without importing Pyserini (2.4 needs the network for that).

Two stacks are supported (docs/versions.md): Python 3.11 with Pyserini 1.6 (Anserini 1.7.1), Python 3.12
with Pyserini 2.4 (Anserini 2.3.0). BM25 differs between them for some languages (analyzers), so every
BM25 figure names the versions it comes from: ``stack()``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


def _folder() -> Path:
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("Pyserini is not installed (pip install -e . picks the version, docs/versions.md)")
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def pyserini_version() -> str:
    """From the ``pyserini-<version>.dist-info`` folder beside the package when there is one (the start-up
    hook asks at every interpreter start: a directory listing, not importlib.metadata's scan)."""
    infos = sorted(_folder().parent.glob("pyserini-*.dist-info"))
    if len(infos) == 1:
        return infos[0].name.removeprefix("pyserini-").removesuffix(".dist-info")
    from importlib.metadata import version

    return version("pyserini")


def pyserini_at_least(*minimum: int) -> bool:
    return _numbers(pyserini_version()) >= minimum


@functools.cache
def anserini_version() -> str:
    """The version in the name of Pyserini's bundled ``anserini-<version>-fatjar.jar``."""
    jars = _folder() / "resources" / "jars"
    names = sorted(p.name for p in jars.glob("anserini-*-fatjar.jar"))
    m = re.fullmatch(r"anserini-(.+)-fatjar\.jar", names[-1]) if names else None
    return m.group(1) if m else "unknown"


def stack() -> str:
    """``Pyserini 1.6.0 / Anserini 1.7.1``: what a BM25 figure is labelled with."""
    return f"Pyserini {pyserini_version()} / Anserini {anserini_version()}"


def fetches_catalogues() -> bool:
    """Whether the installed Pyserini reads its catalogues from GitHub (2.x; 1.6 ships them)."""
    try:
        return pyserini_at_least(2)
    except ModuleNotFoundError:
        return False
