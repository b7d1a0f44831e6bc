"""Pyserini JsonCollections written from a stream: never more than one passage in memory.

A corpus directory holds ``docs.jsonl`` or, past ``shard_size`` passages, ``docs-00000.jsonl``,
``docs-00001.jsonl``, ... (Pyserini's indexer and encoder read every file of the directory).

Every reader of a corpus checks each passage as MIRACL's are checked (``passage_problem``: a string docid
that is a TREC token, non-empty string text, no docid twice): an empty passage is skipped by Anserini's
indexer (BM25 then fails on a count) but not by the dense encoder, and a docid twice or with a space breaks
every run. Docids are remembered as 8-byte hashes (``DocidHashes``: MIRACL en has 32.9 M passages). The
conversion also keeps each language's sorted docid hashes (``topics/<set>/docids/<lang>.npy``, outside the
corpus directory, which Pyserini reads whole), so that ``evaluate`` can check a run's docids against its
candidates in a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.files import read_jsonl
from ..core.trec import clean, id_problem

SHARD_ENV = "PYSERINI_HYBRID_SHARD_PASSAGES"
DEFAULT_SHARD_SIZE = 1_000_000  # passages per JsonCollection file (MIRACL en has 32.9 M)


def shard_size(value: int | None = None) -> int:
    size = value or int(os.environ.get(SHARD_ENV) or DEFAULT_SHARD_SIZE)
    if size < 1:
        raise InputError(f"shard size {size}: must be positive")
    return size


def docid_hash(docid: str) -> int:
    return int.from_bytes(hashlib.blake2b(docid.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class DocidHashes:
    """The docids of a stream as 8-byte hashes (not a set of strings: a corpus can be tens of millions)."""

    def __init__(self):
        self.hashes = array("q")

    def add(self, docid: str) -> None:
        self.hashes.append(docid_hash(docid))

    def __len__(self) -> int:
        return len(self.hashes)

    def sorted(self) -> np.ndarray:
        return np.sort(np.frombuffer(self.hashes, dtype=np.int64)) if self.hashes else np.zeros(0, np.int64)

    def repeated(self) -> set[int]:
        """Hashes seen more than once: the candidates for a duplicate (a second pass names the lines)."""
        ordered = self.sorted()
        return set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())

    def save(self, path: Path) -> None:
        """The sorted distinct hashes, for ``candidate_hashes``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.unique(self.sorted()), allow_pickle=False)


def type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def passage_problem(doc, id_key: str, text_keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> str | None:
    """What is wrong with one passage object (None: nothing): ``id_key`` and ``text_keys`` present and
    strings (``optional`` ones strings when given), the docid a TREC token (``check_id``), the text not
    empty. The MIRACL rule, for every format."""
    needed = (id_key, *text_keys)
    if not isinstance(doc, dict) or not set(needed) <= doc.keys():
        return f"lacks {'/'.join(needed)}"
    for key in (*needed, *optional):
        if key in doc and not isinstance(doc[key], str):
            return f"{key} must be a string, got {type_name(doc[key])}"
    if not doc[id_key].strip():
        return "empty docid"
    problem = id_problem(doc[id_key], "docid")
    if problem:
        return problem
    if not clean(" ".join(doc.get(k) or "" for k in (*text_keys, *optional))):
        return f"empty passage: docid {doc[id_key]} has no text"
    return None


def write_corpus(directory: Path, docs, size: int | None = None, docids: Path | None = None) -> dict:
    """``docs``: (docid, contents) pairs, streamed into ``directory``; returns passages, files, sha256.
    ``docids``: where to keep the sorted docid hashes (``DocidHashes.save``).

    The sha256 is over the written lines in order, whatever the sharding: the content's fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    size = shard_size(size)
    digest, count, shard, out = hashlib.sha256(), 0, 0, None
    seen = DocidHashes() if docids is not None else None
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
            if seen is not None:
                seen.add(docid)
            count += 1
    finally:
        if out is not None:
            out.close()
    if count == 0:
        raise InputError(f"{directory}: no passages to write (empty corpus)")
    if seen is not None:
        seen.save(docids)
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


def noting_judged(docs, judged: set, found: set):
    """``docs`` passed on, the judged docids among them added to ``found`` (a few thousand, not the corpus):
    judgements of passages the corpus lacks are then dropped, in every format."""
    for docid, contents in docs:
        if docid in judged:
            found.add(docid)
        yield docid, contents


def candidate_hashes(corpus: Path, docids: Path | None = None) -> np.ndarray:
    """The sorted docid hashes of a converted corpus: its ``docids`` file where it is whole (kept by the
    conversion), else read from the corpus files (a set converted before the file existed)."""
    if docids is not None and docids.is_file():
        try:
            kept = np.load(docids, allow_pickle=False)
            if kept.dtype == np.int64 and kept.ndim == 1 and len(kept):
                return kept
        except (OSError, ValueError, EOFError):
            pass  # damaged: the corpus says the same
    seen = DocidHashes()
    for file in corpus_files(corpus) if Path(corpus).is_dir() else []:
        for _, doc in read_jsonl(file):
            seen.add(str(doc.get("id")) if isinstance(doc, dict) else "")
    return np.unique(seen.sorted())


def read_json_collection(path: Path):
    """(docid, contents) of a user's JsonCollection (a ``.jsonl`` file or a directory of them), one line at
    a time; a bad line fails by file and line number: the MIRACL checks (``passage_problem``) and no docid
    twice (checked once the stream has ended, before the conversion is put in place)."""
    path = Path(path)
    if path.is_dir():
        files = corpus_files(path)
        if not files:
            raise InputError(f"{path}: no .jsonl files (a Pyserini JsonCollection)")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(f"{path}: corpus not found")
    seen = DocidHashes()
    for file in files:
        for n, doc in read_jsonl(file):
            problem = passage_problem(doc, "id", ("contents",))
            if problem:
                raise InputError(f"{file}:{n}: {problem} (Pyserini JsonCollection)")
            seen.add(doc["id"])
            yield doc["id"], doc["contents"]
    if not seen:
        raise InputError(f"{path}: no passages (an empty JsonCollection)")
    repeated = seen.repeated()
    if repeated:
        first: dict[str, str] = {}
        for file in files:
            for n, doc in read_jsonl(file):
                docid = doc["id"]
                if docid_hash(docid) in repeated:
                    if docid in first:
                        raise InputError(f"{file}:{n}: duplicate docid {docid} (first on {first[docid]})")
                    first[docid] = f"line {n}" if len(files) == 1 else f"{file.name}:{n}"


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
