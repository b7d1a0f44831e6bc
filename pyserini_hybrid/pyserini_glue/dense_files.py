"""Pyserini's dense file layouts, checked: a faiss index directory and an ``--encoded-queries`` directory.

A faiss index directory (``index`` + ``docid``, what ``pyserini.encode --to-faiss`` writes) gets a record,
``cache-files.json``: vector count, dimension and file sizes, written when it is built and compared before
each use (like ``index-files.json`` for Lucene indexes), so a truncated ``index`` or a cut ``docid`` is
found and rebuilt instead of failing inside faiss or Pyserini (probe B5). A directory built before the
record existed is checked against itself (the header's vector count and dimension, the file size a flat
index must have, one docid per vector) and then recorded.

Pyserini reads ``--encoded-queries`` as ``embedding.pkl`` with pandas: a pickle, and a crafted one runs
code when loaded (probe D6). Our directories hold ``embedding.npy`` (float32, loaded with
``allow_pickle=False``) and ``texts.json`` (the query texts, one per row): ``read_encoded_queries`` builds
the text -> vector map that Pyserini's ``QueryEncoder._load_embeddings`` returns, and ``registry`` makes
Pyserini's ``--encoded-queries`` use it for such a directory (Pyserini 1.6 and 2.x both load through that
static method). ``embedding.pkl`` is still written beside them, from the same vectors, so the recorded
``python -m pyserini.search.faiss`` command runs in stock Pyserini too; nothing of ours reads it, and its
sha256 is recorded, so a replaced one is noticed and written again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from ..core.errors import InputError
from ..core.files import write_json

RECORD = "cache-files.json"
FLAT_FOURCC = (b"IxFI", b"IxF2")  # IndexFlatIP, IndexFlatL2
FLAT_HEADER_BYTES = 45  # fourcc, d, ntotal, two dummies, is_trained, metric_type, the codes' length
QUERY_VECTORS, QUERY_TEXTS, QUERY_PICKLE = "embedding.npy", "texts.json", "embedding.pkl"


# ------------------------------------------------------------------------------------------ faiss indexes


def faiss_header(path: Path) -> tuple[bytes, int, int]:
    """(fourcc, dimension, vectors) from a faiss index file's header, without reading its vectors (every
    non-binary faiss index starts with them). ValueError when the file is too short to hold them."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 16:
        raise ValueError(f"{path.name}: {len(head)} bytes, too short for a faiss index")
    d, n = int.from_bytes(head[4:8], "little", signed=True), int.from_bytes(head[8:16], "little", signed=True)
    if d <= 0 or n < 0:
        raise ValueError(f"{path.name}: not a faiss index header (dimension {d}, {n} vectors)")
    return head[:4], d, n


def index_dimension(index_dir: Path) -> int | None:
    """The vector dimension of a faiss index directory's ``index``; None when there is no readable one."""
    try:
        return faiss_header(Path(index_dir) / "index")[1]
    except (OSError, ValueError):
        return None


def _lines(path: Path) -> int:
    """Complete lines (a cut last line does not count)."""
    count = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            count += block.count(b"\n")
    return count


def _ends_a_line(path: Path) -> bool:
    """Empty, or its last byte a newline (a cut docid file may end inside a docid)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return True
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def describe_index(index_dir: Path) -> dict:
    """The record of a complete index directory; ValueError naming what does not fit."""
    index, docid = index_dir / "index", index_dir / "docid"
    fourcc, d, n = faiss_header(index)
    size = index.stat().st_size
    if fourcc in FLAT_FOURCC and size != FLAT_HEADER_BYTES + 4 * n * d:
        raise ValueError(f"index: {size:,} bytes, its header describes {FLAT_HEADER_BYTES + 4 * n * d:,} "
                         f"({n:,} vectors of {d})")
    docids = _lines(docid)
    if docids != n or not _ends_a_line(docid):
        raise ValueError(f"docid: {docids:,} complete lines for {n:,} vectors")
    return {"vectors": n, "dimension": d, "files": {"index": size, "docid": docid.stat().st_size}}


def record_index(index_dir: Path) -> dict:
    """Write the record of a just-built index directory (InputError if the index is not whole)."""
    try:
        info = describe_index(index_dir)
    except (OSError, ValueError) as e:
        raise InputError(f"{index_dir}: the index just written is not whole ({e})") from None
    write_json(index_dir / RECORD, info)
    return info


def index_damage(index_dir: Path) -> str:
    """What is wrong with a built index directory of our cache ("" when whole): its files against the record
    written when it was built, or, for one built before the record, against each other (then recorded)."""
    missing = [name for name in ("index", "docid") if not (index_dir / name).is_file()]
    if missing:
        return f"{' and '.join(missing)} missing"
    if not (index_dir / RECORD).is_file():
        try:
            info = describe_index(index_dir)
        except (OSError, ValueError) as e:
            return str(e)
        with contextlib.suppress(OSError):  # a cache this user may only read stays unrecorded
            write_json(index_dir / RECORD, info)
        return ""
    try:
        recorded = json.loads((index_dir / RECORD).read_text(encoding="utf-8"))
        files, vectors, dimension = recorded["files"], recorded["vectors"], recorded["dimension"]
        for name, size in files.items():
            actual = (index_dir / name).stat().st_size
            if actual != size:
                return f"{name}: {actual:,} bytes, built with {size:,}"
        _, d, n = faiss_header(index_dir / "index")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{RECORD} or the index header unreadable"
    if (n, d) != (vectors, dimension):
        return f"index: {n:,} vectors of {d} in its header, built with {vectors:,} of {dimension}"
    return ""


# ------------------------------------------------------------------------------------------ encoded queries


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def write_encoded_queries(directory: Path, texts: list[str], vectors) -> None:
    """``embedding.npy`` + ``texts.json`` (what we read), Pyserini's ``embedding.pkl`` from the same vectors
    (for the stock command), and the record of all three."""
    import numpy as np
    import pandas as pd

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise InputError(f"{directory}: {len(texts)} query texts for vectors of shape {vectors.shape}")
    np.save(directory / QUERY_VECTORS, vectors, allow_pickle=False)
    write_json(directory / QUERY_TEXTS, list(texts))
    pd.DataFrame({"text": list(texts), "embedding": list(vectors)}).to_pickle(directory / QUERY_PICKLE)
    write_json(directory / RECORD, {
        "queries": len(texts), "dimension": int(vectors.shape[1]),
        "files": {name: {"bytes": (directory / name).stat().st_size, "sha256": _sha256(directory / name)}
                  for name in (QUERY_VECTORS, QUERY_TEXTS, QUERY_PICKLE)}})


def is_encoded_queries(directory: str | Path) -> bool:
    """Whether a directory holds query embeddings in our layout (``embedding.npy`` + ``texts.json``)."""
    directory = Path(directory)
    return (directory / QUERY_VECTORS).is_file() and (directory / QUERY_TEXTS).is_file()


def encoded_queries_width(directory: Path) -> int | None:
    """The vectors' dimension in ``embedding.npy`` (its header only); None when unreadable."""
    import numpy as np

    try:
        shape = np.load(Path(directory) / QUERY_VECTORS, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError):
        return None
    return int(shape[1]) if len(shape) == 2 else None


def encoded_queries_damage(directory: Path) -> str:
    """What is wrong with an encoded-queries directory ("" when every file is the one recorded)."""
    if not is_encoded_queries(directory):
        if (directory / QUERY_PICKLE).is_file():
            return f"only {QUERY_PICKLE} (an older cache; a pickle can run code when it is loaded, so it is not)"
        return f"{QUERY_VECTORS} or {QUERY_TEXTS} missing"
    try:
        recorded = json.loads((directory / RECORD).read_text(encoding="utf-8"))["files"]
        for name, want in recorded.items():
            if (directory / name).stat().st_size != want["bytes"] or _sha256(directory / name) != want["sha256"]:
                return f"{name} is not the file written with these queries"
    except FileNotFoundError as e:
        return f"{Path(e.filename).name} missing"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{RECORD} unreadable"
    return ""


def read_encoded_queries(directory: str | Path) -> dict:
    """{query text: float32 vector}, what Pyserini's ``QueryEncoder._load_embeddings`` returns for
    ``embedding.pkl``, built from ``embedding.npy`` and ``texts.json`` without unpickling anything. A path
    to a file of such a directory (the ``embedding.pkl`` older records name) means its directory."""
    import numpy as np

    directory = Path(directory)
    if not directory.is_dir():
        directory = directory.parent
    if not is_encoded_queries(directory):
        raise InputError(f"{directory}: no {QUERY_VECTORS} and {QUERY_TEXTS} here (encoded queries are read "
                         f"from those, never from a pickle); encode the queries again")
    try:
        vectors = np.load(directory / QUERY_VECTORS, allow_pickle=False)
        texts = json.loads((directory / QUERY_TEXTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{directory}: unreadable encoded queries ({e})") from None
    if vectors.ndim != 2 or not isinstance(texts, list) or len(texts) != len(vectors) or \
            not all(isinstance(t, str) for t in texts):
        raise InputError(f"{directory}: {QUERY_TEXTS} does not name one text per row of {QUERY_VECTORS} "
                         f"({len(texts) if isinstance(texts, list) else 'no list of'} texts, vectors {vectors.shape})")
    return dict(zip(texts, list(vectors)))
