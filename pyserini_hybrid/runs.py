"""TREC run files: read with validation, write atomically, merge by score.

pandas' C parser reads runs of millions of lines in seconds, where ``ir_measures.read_trec_run`` (a
Python generator) takes minutes; we hand ir_measures a DataFrame it accepts directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import atomic_write, require_file

DEFAULT_HITS = 1000  # run depth: the XQuAD-R pool has ~13k candidates, so AP needs deep runs
COLUMNS = ["query_id", "iteration", "doc_id", "rank", "score", "tag"]


def read_run(path: Path) -> pd.DataFrame:
    """A TREC run as a DataFrame (query_id, doc_id, score, rank), or a one-line error naming the file."""
    require_file(path)
    if path.stat().st_size == 0:
        return pd.DataFrame({"query_id": pd.Series(dtype=str), "doc_id": pd.Series(dtype=str),
                             "score": pd.Series(dtype=float), "rank": pd.Series(dtype=int)})
    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, names=COLUMNS, dtype={"query_id": str, "doc_id": str},
                         engine="c", na_filter=False, on_bad_lines="error")
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a TREC run 'qid Q0 docid rank score tag' ({str(e).splitlines()[0]})") from None
    if df["tag"].eq("").any() or not pd.api.types.is_numeric_dtype(df["score"]):
        bad = int(df.index[df["tag"].eq("")][0]) + 1 if df["tag"].eq("").any() else "?"
        raise InputError(f"{path}: not a TREC run 'qid Q0 docid rank score tag' (line {bad})")
    return df[["query_id", "doc_id", "score", "rank"]]


def ranked(run: pd.DataFrame) -> pd.DataFrame:
    """The run with ranks 1..n per query by score, ties by docid descending (as trec_eval breaks them).

    = ``sort_values(["query_id", "score", "doc_id"], ascending=[True, False, False])`` and a per-query
    count, done on integer codes: string sorts and groupbys of a 13M-line run take many seconds."""
    q, _ = pd.factorize(run["query_id"], sort=True)
    if not _in_rank_order(run, q):
        d, _ = pd.factorize(run["doc_id"], sort=True)
        order = _rank_order(q, run["score"].to_numpy(), d)
        run, q = run.iloc[order], q[order]
    idx = np.arange(len(q))
    start = np.r_[True, q[1:] != q[:-1]] if len(q) else np.zeros(0, dtype=bool)
    first = np.maximum.accumulate(np.where(start, idx, 0)) if len(q) else idx
    return run.assign(rank=idx - first + 1)


def _rank_order(q: np.ndarray, s: np.ndarray, d: np.ndarray) -> np.ndarray:
    """lexsort((-d, -s, q)) in two stable argsorts (docid codes, then one float key query+score), which
    is several times faster on 13M lines; checked, and the lexsort is the fallback if the float key
    could not separate two scores."""
    o1 = np.argsort(-d, kind="stable")
    span = float(s.max() - s.min()) + 1.0 if len(s) else 1.0
    key = q * span + (s.max() - s)
    order = o1[np.argsort(key[o1], kind="stable")]
    qs, ss = q[order], s[order]
    same = qs[1:] == qs[:-1]
    if (qs[1:] < qs[:-1]).any() or (ss[1:] > ss[:-1])[same].any():
        return np.lexsort((-d, -s, q))
    return order


def _in_rank_order(run: pd.DataFrame, q: np.ndarray) -> bool:
    """True when each query's lines are contiguous and already in ``ranked`` order (Pyserini's output
    usually is): checking is linear, the sort it saves is not. Works on factorized codes: pandas 3 keeps
    strings in Arrow, and turning 13M of them into Python objects costs more than the sort."""
    if len(run) < 2:
        return True
    same = q[1:] == q[:-1]
    if (~same).sum() + 1 != len(np.unique(q)):
        return False
    s = run["score"].to_numpy()
    if (s[1:] > s[:-1])[same].any():
        return False
    ties = np.flatnonzero(same & (s[1:] == s[:-1]))  # only tied neighbours need their docids compared
    if not len(ties):
        return True
    d = run["doc_id"]
    return bool((d.iloc[ties + 1].to_numpy() < d.iloc[ties].to_numpy()).all())


def write_run(df: pd.DataFrame, path: Path, tag: str) -> None:
    """Write a run in ``ranked`` order with its ranks."""
    df = ranked(df)
    out = pd.DataFrame({"q": df["query_id"], "iter": "Q0", "d": df["doc_id"], "r": df["rank"], "s": df["score"],
                        "tag": tag})
    with atomic_write(path) as f:  # to_csv: a dense XQuAD-R run is 13M lines
        out.to_csv(f, sep=" ", header=False, index=False, float_format="%.6f")


def prune_runs(run_dir: Path, keep: set[str]) -> None:
    """Delete run files this run did not produce, so no stale language or pool is evaluated with it."""
    for path in run_dir.glob("*.trec"):
        if path.name not in keep:
            path.unlink()


def merge_runs_by_score(paths: list[Path], output: Path, depth: int, tag: str = "pool") -> Path:
    """Union of runs over disjoint candidate sets, each query cut to the ``depth`` best scores."""
    df = ranked(pd.concat([read_run(p) for p in paths], ignore_index=True))
    write_run(df[df["rank"] <= depth], output, tag)
    return output


def retrieval_parser(system: str, description: str) -> argparse.ArgumentParser:
    """The flags every retrieval command shares (one vocabulary, as Pyserini's CLIs share theirs)."""
    from .topics import CORPUS_VARIANTS, manifest

    parser = argparse.ArgumentParser(prog=f"python -m pyserini_hybrid.{system}", description=description)
    parser.add_argument("--dataset", required=True, choices=list(manifest()))
    parser.add_argument("--output", type=Path, help=f"run directory (default runs/{system}/<dataset>)")
    parser.add_argument("--languages", nargs="+", help="candidate and query languages (default: all)")
    parser.add_argument("--corpus", choices=CORPUS_VARIANTS, default="sentence",
                        help="candidate text: the sentence alone, or with its paragraph as context")
    parser.add_argument("--hits", type=int, default=DEFAULT_HITS, help="run depth")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--index-dir", type=Path, help=f"index root (default indexes/{system})")
    parser.add_argument("--topics-dir", type=Path)
    parser.add_argument("--data-dir")
    return parser


def checked_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.hits < 1:
        raise InputError(f"--hits {args.hits}: must be positive")
    return args
