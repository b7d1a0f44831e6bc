"""TREC-style files, one reader and one writer each: Pyserini TSV topics, TREC qrels, TREC runs.

Every module reads and writes these files only through here, so a format rule (validation, ordering,
atomic replacement) lives in one place. pandas' C parser reads runs of millions of lines in seconds, where ``ir_measures.read_trec_run`` (a
Python generator) takes minutes; we hand ir_measures a DataFrame it accepts directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import atomic_write, require_file

QRELS_COLUMNS = ["query_id", "doc_id", "relevance"]
COLUMNS = ["query_id", "iteration", "doc_id", "rank", "score", "tag"]


# --------------------------------------------------------------------------------------------- topics


def clean(text: str) -> str:
    """One line of text: TSV topics and JSON contents must not carry tabs or newlines."""
    return re.sub(r"\s+", " ", text).strip()


def read_topics(path: Path) -> dict[str, str]:
    """Pyserini's TSV topics (qid<TAB>text) as {qid: text}, order kept; a bad line is named."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: topic file not found")
    topics = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise InputError(f"{path}:{n}: expected 'qid<TAB>text'")
        qid, text = line.split("\t", 1)
        if qid in topics:
            raise InputError(f"{path}:{n}: duplicate qid {qid}")
        topics[qid] = clean(text)
    return topics


def write_topics(path: Path, topics) -> None:
    """``topics``: {qid: text} or (qid, text) pairs; texts cleaned to one line; atomic."""
    rows = topics.items() if isinstance(topics, dict) else topics
    with atomic_write(path) as f:
        for qid, text in rows:
            f.write(f"{qid}\t{clean(text)}\n")


# --------------------------------------------------------------------------------------------- qrels


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels (qid iter docid rel) as {qid: {docid: rel}}, with a named error on a bad line."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(require_file(Path(path)).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not re.fullmatch(r"-?\d+", parts[3]):
            raise InputError(f"{path}: line {n} is not a TREC qrels line 'qid iter docid relevance'")
        qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def read_qrels_frame(paths: list[Path]) -> pd.DataFrame:
    """Several qrels files as one (query_id, doc_id, relevance) frame, the form ir-measures takes."""
    rows = [(qid, d, r) for path in paths for qid, docs in read_qrels(path).items() for d, r in docs.items()]
    return pd.DataFrame(rows, columns=QRELS_COLUMNS)


def write_qrels(path: Path, rows) -> None:
    """rows: (qid, docid) pairs, all judged relevant (1); atomic."""
    with atomic_write(path) as f:
        for qid, docid in rows:
            f.write(f"{qid} 0 {docid} 1\n")


# --------------------------------------------------------------------------------------------- runs


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


def merge_runs_by_score(paths: list[Path], output: Path, depth: int, tag: str = "pool") -> Path:
    """Union of runs over disjoint candidate sets, each query cut to the ``depth`` best scores."""
    df = ranked(pd.concat([read_run(p) for p in paths], ignore_index=True))
    write_run(df[df["rank"] <= depth], output, tag)
    return output


