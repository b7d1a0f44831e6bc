"""Pyserini JsonCollections written from a stream: never more than one passage in memory.

A corpus directory holds ``docs.jsonl`` or, past ``shard_size`` passages, ``docs-00000.jsonl``,
``docs-00001.jsonl``, ... (Pyserini's indexer and encoder read every file of the directory).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..core.errors import InputError
from ..core.files import read_jsonl

SHARD_ENV = "PYSERINI_HYBRID_SHARD_PASSAGES"
DEFAULT_SHARD_SIZE = 1_000_000  # passages per JsonCollection file (MIRACL en has 32.9 M)


def shard_size(value: int | None = None) -> int:
    size = value or int(os.environ.get(SHARD_ENV) or DEFAULT_SHARD_SIZE)
    if size < 1:
        raise InputError(f"shard size {size}: must be positive")
    return size


def write_corpus(directory: Path, docs, size: int | None = None) -> dict:
    """``docs``: (docid, contents) pairs, streamed into ``directory``; returns passages, files, sha256.

    The sha256 is over the written lines in order, whatever the sharding: the content's fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    size = shard_size(size)
    digest, count, shard, out = hashlib.sha256(), 0, 0, None
    try:
        for docid, contents in docs:
            if count and count % size == 0:  # the next shard; the first one gets its numbered name now
                out.close()
                if shard == 0:
                    os.replace(directory / "docs.jsonl", directory / "docs-00000.jsonl")
                shard += 1
                out = open(directory / f"docs-{shard:05d}.jsonl", "w", encoding="utf-8")
            elif out is None:
                out = open(directory / "docs.jsonl", "w", encoding="utf-8")
            line = json.dumps({"id": docid, "contents": contents}, ensure_ascii=False) + "\n"
            out.write(line)
            digest.update(line.encode("utf-8"))
            count += 1
    finally:
        if out is not None:
            out.close()
    if count == 0:
        raise InputError(f"{directory}: no passages to write (empty corpus)")
    return {"passages": count, "files": shard + 1, "sha256": digest.hexdigest()}


def corpus_files(directory: Path) -> list[Path]:
    """The JsonCollection files of a corpus directory, in order."""
    return sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name.endswith(".jsonl"))


def count_passages(directory: Path) -> int:
    total = 0
    for path in corpus_files(directory):
        with open(path, encoding="utf-8") as f:
            total += sum(1 for line in f if line.strip())
    return total


def read_json_collection(path: Path):
    """(docid, contents) of a user's JsonCollection (a ``.jsonl`` file or a directory of them), one line at
    a time; a bad line fails by file and line number."""
    path = Path(path)
    if path.is_dir():
        files = corpus_files(path)
        if not files:
            raise InputError(f"{path}: no .jsonl files (a Pyserini JsonCollection)")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: corpus not found")
    for file in files:
        for n, doc in read_jsonl(file):
            if not isinstance(doc, dict) or "id" not in doc or "contents" not in doc:
                raise InputError(f"{file}: line {n} lacks id/contents (Pyserini JsonCollection)")
            yield str(doc["id"]), doc["contents"]


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` into ``dst`` (a converted language carried into a new conversion)."""
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(path))
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:  # another file system: copy
                import shutil

                shutil.copy2(path, target)
