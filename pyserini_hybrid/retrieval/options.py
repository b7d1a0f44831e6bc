"""What a run is asked to do, one frozen object per run kind (``BM25Options``, ``DenseOptions``,
``FusionOptions``), built once by its command (``pyserini_hybrid.bm25``, ``.dense``, ``.fusion``: the
flags live there, in ``cli_options``) or by a library caller, and passed whole; plus the checks and
helpers every retrieval run shares."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.files import clean_temps_in
from ..core.lock import output_lock
from ..models import default_model

DEFAULT_HITS = 1000  # run depth: the XQuAD-R pool has ~13k candidates, so AP needs deep runs
# Texts handed to one encode() call by ``pyserini.encode --batch-size``: our encoder sorts a call's texts by
# length before its mini-batches, so a large call wastes little on padding (figures: docs/speed.md)
ENCODE_CHUNK = 2048


@dataclass(frozen=True)
class BM25Options:
    """A BM25 run (``bm25.write_runs``); the fields in the order ``run_bm25`` has always taken them."""

    dataset: str
    output: Path
    languages: list[str] | None = None   # None: every converted language
    variant: str = "sentence"             # candidate text: the sentence, or "context" (with its paragraph)
    hits: int = DEFAULT_HITS
    threads: int = 2
    index_root: Path | None = None        # None: indexes/bm25 under the project
    topics_dir: Path | None = None
    data: str | None = None               # data directory (None: the default)
    force: bool = False                   # index and search again even where up to date
    prebuilt: bool = False                # search Pyserini's prebuilt MIRACL index instead of indexing


@dataclass(frozen=True)
class DenseOptions:
    """A dense run (``dense.write_runs``); the fields in the order ``run_dense`` has always taken them.
    ``precision`` is what was asked for (None: not asked); ``dense`` resolves it (``precision.resolve``)."""

    dataset: str
    output: Path
    model: str | None = None              # None: the embedded default model
    languages: list[str] | None = None
    variant: str = "sentence"
    hits: int = DEFAULT_HITS
    threads: int = 2
    batch_size: int = ENCODE_CHUNK        # texts per pyserini.encode call
    index_root: Path | None = None        # None: indexes/dense under the project
    topics_dir: Path | None = None
    data: str | None = None
    force: bool = False
    precision: str | None = None
    shard_num: int = 1                    # encode each corpus in this many shards and merge them
    shard_id: int | None = None           # encode only this shard and search nothing


@dataclass(frozen=True)
class FusionOptions:
    """A fusion of two run directories (``fusion.write_runs``); the fields in ``run_fusion``'s order."""

    dataset: str
    dense_dir: Path
    sparse_dir: Path
    output: Path
    method: str = "rrf"
    alpha: float = 0.5                    # interpolation weight of the dense run
    depth: int | None = None              # None: the inputs' depth
    force: bool = False


@contextlib.contextmanager
def sole_writer(output: Path, what: str, exclusive: bool = True):
    """The block as ``output``'s one writer (a second one exits 2 naming the first), after clearing what a
    killed writer left; ``exclusive=False`` takes no lock (a dense shard writes into the shared cache only)."""
    if not exclusive:
        yield
        return
    with output_lock(output, what):
        clean_temps_in(output)  # what a killed writer left
        yield


def prune_runs(run_dir: Path, keep: set[str]) -> None:
    """Delete run files this run did not produce, so no stale language or pool is evaluated with it."""
    for path in run_dir.glob("*.trec"):
        if path.name not in keep:
            path.unlink()


POSITIVE_FLAGS = ("hits", "depth", "threads", "batch_size", "shard_num")  # each >= 1 where a command has it


def check_flags(args) -> None:
    """Flags checked before any work starts (issue 19): counts at least 1, a model that is a directory
    (or a plausible hub id, said to need a directory here); one line naming the flag. ``args``: any object
    with the flags as attributes (a parsed command line, an options object)."""
    for name in POSITIVE_FLAGS:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} {value}: must be at least 1")
    model = getattr(args, "model", None)
    if model is not None:
        default_model.check_start_model(model, "--model")
        if not Path(model).expanduser().is_dir():
            raise InputError(f"--model {model}: a hub id, not a model directory; dense retrieval needs a directory "
                             "with pyserini_hybrid.json (train one, or omit --model for the embedded mE5-small)")


def cached_path(legacy: Path, per_language: Path, lareqa: bool) -> Path:
    """Where a language's index lives: under the whole set's data key (LAReQA, and any index built so
    before), else under its own language's key, so adding a language leaves the others' indexes valid."""
    return legacy if lareqa or legacy.exists() else per_language


def unchecked_sources(meta: dict, langs: list[str]) -> dict:
    """The real checksums of data that had none to be checked against (recorded in run-meta.json)."""
    return {x: meta["sources"][x] for x in langs if x in meta.get("unchecked", [])}
