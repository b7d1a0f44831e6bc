"""Encoding a corpus in shards and merging their faiss indexes; progress in passages while encoding.

``python -m pyserini.encode input ... --shard-id I --shard-num N`` encodes the I-th of N contiguous slices
of the corpus (Pyserini's ``JsonlCollectionIterator``: ``int(total / N)`` passages each, the last one takes
the rest), one process or machine per shard. ``merge_indexes`` concatenates the shards' flat indexes and
docids in shard order into one searchable index: the same passages in the same order as one unsharded
encode, and in fp32 the same vectors bit for bit when every shard starts on a ``--batch-size`` boundary
(``int(total / N)`` a multiple of it), since each passage is then encoded with the same batch-mates
(tested: identical indexes and runs). Otherwise a passage at a shard edge sits in a batch padded to
another length and its vector may differ in the last bit (seen: 6e-8), which can only swap exact ties.

Every index directory here carries ``cache-files.json`` (vectors, dimension, file sizes), checked before
each use: a damaged one is built again with a warning (``dense_files``).

Pyserini's encoder prints its progress (batches) into the log, not to the terminal; ``EncodeProgress``
follows the log and shows passages done / total for the whole set.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
from pathlib import Path

from ..core.errors import InputError
from ..core.files import atomic_directory
from ..core.lock import output_lock
from ..pyserini_glue.dense_files import index_damage, record_index

TICK = re.compile(r"(\d+)/(\d+) \[")


def shard_ranges(total: int, shard_num: int) -> list[tuple[int, int]]:
    """[start, end) of each shard, as Pyserini's iterator cuts them."""
    if shard_num < 1 or shard_num > max(total, 1):
        raise InputError(f"--shard-num {shard_num}: must lie in 1..{total} (passages in the corpus)")
    size = int(total / shard_num)
    return [(i * size, total if i == shard_num - 1 else (i + 1) * size) for i in range(shard_num)]


def shard_dirs(index: Path, shard_num: int) -> list[Path]:
    base = index.with_name(f"{index.name}.shards-{shard_num}")
    return [base / f"shard-{i}" for i in range(shard_num)]


def merged_dir(index: Path, shard_num: int) -> Path:
    return index if shard_num == 1 else index.with_name(f"{index.name}.shards-{shard_num}") / "merged"


def is_index(path: Path) -> bool:
    return (path / "index").is_file() and (path / "docid").is_file()


def usable(path: Path) -> bool:
    """A cached index that is there and whole (its files as recorded when it was built: ``dense_files``)."""
    return is_index(path) and not index_damage(path)


def say_rebuilt(path: Path, what: str) -> None:
    """A damaged cache entry is built again, and said; one never finished (no files) is built silently."""
    if path.exists() and any(path.iterdir()):
        damage = index_damage(path)
        if damage:  # on its own line, above the encoding bar
            from tqdm import tqdm

            tqdm.write(f"warning: {path}: damaged dense index ({damage}); {what} again", file=sys.stderr)


def merge_indexes(parts: list[Path], output: Path, force: bool = False) -> None:
    """Concatenate flat faiss indexes and their docid files, in order (shards, or the multilingual pool);
    a damaged merged index is merged again (said), ``force`` merges again anyway."""
    if not force and usable(output):
        return
    with output_lock(output, "index merge", wait=True):  # a cache shared by every run directory
        if force or not usable(output):
            if not force:
                say_rebuilt(output, "merging it")
            _merge(parts, output)


def _merge(parts: list[Path], output: Path) -> None:
    import faiss
    import numpy as np

    vectors, docids = [], []
    for part in parts:
        if not is_index(part):
            raise InputError(f"{part}: no encoded index here (encode this shard first: --shard-id)")
        damage = index_damage(part)
        if damage:
            raise InputError(f"{part}: damaged dense index ({damage}); encode it again")
        index = faiss.read_index(str(part / "index"))
        vectors.append(index.reconstruct_n(0, index.ntotal))
        docids += (part / "docid").read_text(encoding="utf-8").splitlines()
    if sum(len(v) for v in vectors) != len(docids):
        raise InputError(f"{output}: the parts hold {sum(len(v) for v in vectors)} vectors but {len(docids)} docids")
    merged = faiss.IndexFlatIP(vectors[0].shape[1])
    merged.add(np.concatenate(vectors))
    with atomic_directory(output) as tmp:
        faiss.write_index(merged, str(tmp / "index"))
        (tmp / "docid").write_text("\n".join(docids) + "\n", encoding="utf-8")
        record_index(tmp)


class EncodeProgress:
    """One bar for a set's encoding, in passages; ``follow`` advances it from Pyserini's log while one
    encode (a language, or one shard of it) runs, ``skip`` for what is cached."""

    def __init__(self, total: int, desc: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="passage", unit_scale=True, smoothing=0.1)

    def skip(self, passages: int) -> None:
        self.bar.update(passages)

    @contextlib.contextmanager
    def follow(self, log: Path, passages: int, batch_size: int, label: str):
        self.bar.set_postfix_str(label)
        base, batches = self.bar.n, max(1, math.ceil(passages / batch_size))
        offset = [log.stat().st_size if log.exists() else 0]
        stop = threading.Event()

        def poll():
            try:
                with open(log, "rb") as f:
                    f.seek(offset[0])
                    raw = f.read()
            except OSError:
                return
            ticks = [int(done) for done, of in TICK.findall(raw.decode("utf-8", errors="replace")) if int(of) == batches]
            offset[0] += max(0, len(raw) - 200)  # keep a tail: a tick may be half-written
            if ticks:
                self.bar.n = base + min(ticks[-1] * batch_size, passages)
                self.bar.refresh()

        def loop():
            while not stop.wait(1.0):
                poll()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        self.bar.n = base + passages
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
