"""A run directory's files, read and checked: ``run-meta.json``, the depth the runs were made with, and
each run file against the set's topics and the target's candidates (a copied or stale file is one line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.files import load_json
from ..core.trec import read_run
from ..data import topic_sets as tp
from ..data.corpus import candidate_hashes, docid_hash


@dataclass(frozen=True)
class RunDir:
    """One run directory being evaluated: what every evaluator needs to read and check its files."""

    dataset: str
    meta: dict                 # the converted set's meta.json
    path: Path
    languages: list[str]       # the languages evaluated
    known_qids: set            # every topic id of the set
    topics_dir: Path | None
    warnings: list             # what was left out, said at the end

    def checked(self, target: str, meta_depth: int | None) -> tuple[pd.DataFrame, int]:
        """``<target>.trec`` read and checked (``checked_run``)."""
        return checked_run(self.path / f"{target}.trec", self.known_qids, self.dataset, target, self.meta,
                           self.topics_dir, meta_depth)


def depths(run_dir: Path, depth: int | None) -> tuple[int, int | None]:
    """The depth to evaluate at (asked for, else the runs' own, else 0: the deepest query's) and the runs'
    recorded depth; asking deeper than the runs were made is an error (misses would count too deep)."""
    meta_depth = run_depth(run_dir)
    if depth is not None and meta_depth and depth > meta_depth:
        raise InputError(f"--depth {depth}: the runs in {run_dir} are only {meta_depth} deep (run-meta.json)")
    return depth or meta_depth or 0, meta_depth


def run_meta(run_dir: Path) -> dict:
    """The run directory's ``run-meta.json`` ({} when there is none), its fields' types checked."""
    path = run_dir / "run-meta.json"
    if not path.is_file():
        return {}
    meta = load_json(path)  # malformed or truncated: one line naming the file
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a JSON object")
    hits, langs = meta.get("hits"), meta.get("languages")
    if hits is not None and (isinstance(hits, bool) or not isinstance(hits, int) or hits < 1):
        raise InputError(f"{path}: 'hits' must be a positive integer, got {hits!r}")
    if langs is not None and (not isinstance(langs, list) or not all(isinstance(x, str) for x in langs)):
        raise InputError(f"{path}: 'languages' must be a list of language codes, got {langs!r}")
    return meta


def run_depth(run_dir: Path) -> int | None:
    """The depth the runs were made with (run-meta.json's hits), if recorded."""
    return run_meta(run_dir).get("hits") or None


def checked_run(path: Path, known: set[str], dataset: str, target: str, meta: dict, topics_dir: Path | None,
                meta_depth: int | None) -> tuple[pd.DataFrame, int]:
    """The run file read and checked (its qids topics of the set, its docids the target's candidates, no
    deeper than run-meta.json says), and its deepest query's hits."""
    run = read_run(path)
    _check_run_matches(path, run, known, dataset)
    _check_run_candidates(path, run, dataset, target, meta, topics_dir)
    deepest = int(run.groupby("query_id").size().max()) if len(run) else 0
    if meta_depth and deepest > meta_depth:
        raise InputError(f"{path}: a query has {deepest} hits but run-meta.json says the runs are {meta_depth} "
                         "deep (written by two commands at once, or edited?); make the runs again")
    return run, deepest


def _check_run_matches(path: Path, run: pd.DataFrame, known_qids: set[str], dataset: str) -> None:
    qids = set(run["query_id"])
    stray = sorted(qids - known_qids)
    if stray:
        raise InputError(f"{path}: {len(stray)} of {len(qids)} query ids are not {dataset} topics "
                         f"(e.g. {stray[0]!r}); was it made from other topics?")


def _check_run_candidates(path: Path, run: pd.DataFrame, dataset: str, target: str, meta: dict,
                          topics_dir: Path | None) -> None:
    """Every docid of the run is a candidate of its target (``<Y>.trec``: Y's corpus, ``pool.trec``: all of
    the set's), checked by hash against the conversion's ``docids/<lang>.npy`` (the corpus where missing)."""
    langs = meta["languages"] if target == tp.POOL else [target]
    known = np.unique(np.concatenate([
        candidate_hashes(tp.corpus_dir(dataset, x, "sentence", topics_dir), tp.docids_path(dataset, x, topics_dir))
        for x in langs]))
    docs = pd.unique(run["doc_id"])
    hashes = np.fromiter((docid_hash(str(d)) for d in docs), dtype=np.int64, count=len(docs))
    pos = np.searchsorted(known, hashes).clip(max=max(len(known) - 1, 0))
    stray = np.flatnonzero(known[pos] != hashes) if len(known) else np.arange(len(docs))
    if len(stray):
        where = "the multilingual pool" if target == tp.POOL else f"the {target} corpus"
        raise InputError(f"{path}: {len(stray)} of {len(docs)} docids are not {dataset} candidates in {where} "
                         f"(e.g. {str(docs[stray[0]])!r}); is it the run of another language, or of other data?")
