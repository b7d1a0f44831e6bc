"""TREC-style files, one reader and one writer each: Pyserini TSV topics, TREC qrels, TREC runs.

Every module reads and writes these files only through here, so a format rule (validation, ordering,
atomic replacement) lives in one place. The readers validate fully where they read: encoding, empty
files, the type of every field, duplicates; a violation is one ``InputError`` naming the file and the
line. pandas' C parser reads runs of millions of lines in seconds, where ``ir_measures.read_trec_run``
(a Python generator) takes minutes; we hand ir_measures a DataFrame it accepts directly, and the run
checks are vectorised (a line number is looked up only once a check has failed).

Every id that enters a TREC or Pyserini file (qids, docids: topics, qrels, runs, corpora, LAReQA question
ids) is checked once, where it is read, by ``check_id``: whitespace would split it into two fields of every
whitespace-separated TREC file downstream, a control character or a lone surrogate is no id at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .files import atomic_write, not_utf8, require_file

QRELS_COLUMNS = ["query_id", "doc_id", "relevance"]
COLUMNS = ["query_id", "iteration", "doc_id", "rank", "score", "tag"]
RUN_FORMAT = "not a TREC run 'qid Q0 docid rank score tag'"
# Unicode whitespace (str.isspace: what str.split and trec_eval-style readers split on), C0/C1 controls, and
# lone surrogates (JSON "\ud800" decodes to one; it cannot be written as UTF-8). One compiled search per id.
BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def id_problem(value: str, what: str = "id") -> str | None:
    """What makes ``value`` unusable as a TREC/Pyserini id (None: nothing): empty, whitespace, a control
    character. Said with the id's repr, so the message stays one line whatever the id holds."""
    if not value:
        return f"empty {what}"
    m = BAD_ID_CHAR.search(value)
    if m is None:
        return None
    c = m.group()
    kind = ("whitespace" if c.isspace() else "a lone surrogate (not Unicode text)" if "\ud800" <= c <= "\udfff"
            else "a control character")
    shown = value if len(value) <= 80 else value[:77] + "..."
    return f"{what} {shown!r} contains {kind}"


def check_id(value: str, what: str, where: str) -> str:
    """``value`` if it is a valid TREC token, else ``InputError("<where>: <what> 'a b' contains whitespace")``;
    ``where`` is ``<file>:<line>`` (or the closest a reader has)."""
    problem = id_problem(value, what)
    if problem:
        raise InputError(f"{where}: {problem}")
    return value


def _lines(path: Path, what: str) -> list[str]:
    """The file's lines (split on newlines only, as Pyserini's readers split), or a one-line error for a
    missing file, a byte that is not UTF-8 (by line) or a file with nothing in it."""
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, data, e) from None
    if not text.strip():
        raise InputError(f"{path}: empty {what} file ({len(data)} bytes)")
    return [line.rstrip("\r") for line in text.removeprefix("\ufeff").split("\n")]


# --------------------------------------------------------------------------------------------- topics


def clean(text: str) -> str:
    """One line of text: TSV topics and JSON contents must not carry tabs or newlines."""
    return re.sub(r"\s+", " ", text).strip()


def read_topics(path: Path) -> dict[str, str]:
    """Pyserini's TSV topics (qid<TAB>text) as {qid: text}, order kept; a bad line is named."""
    path = Path(path)
    topics: dict[str, str] = {}
    first: dict[str, int] = {}
    for n, line in enumerate(_lines(path, "topic"), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise InputError(f"{path}:{n}: expected 'qid<TAB>text'")
        qid, text = line.split("\t", 1)
        if not qid.strip():
            raise InputError(f"{path}:{n}: empty qid ({qid!r}); expected 'qid<TAB>text'")
        check_id(qid, "qid", f"{path}:{n}")
        if "\t" in text:
            raise InputError(f"{path}:{n}: more than one tab (Pyserini would read only the text up to the second); "
                             "expected 'qid<TAB>text'")
        if qid in topics:
            raise InputError(f"{path}:{n}: duplicate qid {qid} (first on line {first[qid]})")
        if not clean(text):
            raise InputError(f"{path}:{n}: empty question for qid {qid}")
        topics[qid], first[qid] = clean(text), n
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
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    first: dict[tuple[str, str], int] = {}
    for n, line in enumerate(_lines(path, "qrels"), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not re.fullmatch(r"-?\d+", parts[3]):
            raise InputError(f"{path}:{n}: not a TREC qrels line 'qid iter docid relevance' ({line.strip()[:80]!r})")
        qid, docid = parts[0], parts[2]  # split() leaves no whitespace; control characters it does
        check_id(qid, "qid", f"{path}:{n}")
        check_id(docid, "docid", f"{path}:{n}")
        if (qid, docid) in first:
            raise InputError(f"{path}:{n}: duplicate judgement of {docid} for query {qid} "
                             f"(first on line {first[qid, docid]})")
        first[qid, docid] = n
        qrels.setdefault(qid, {})[docid] = int(parts[3])
    return qrels


def read_qrels_frame(paths: list[Path]) -> pd.DataFrame:
    """Several qrels files as one (query_id, doc_id, relevance) frame, the form ir-measures takes."""
    rows = [(qid, d, r) for path in paths for qid, docs in read_qrels(path).items() for d, r in docs.items()]
    return plain_strings(pd.DataFrame(rows, columns=QRELS_COLUMNS), ["query_id", "doc_id"])


def plain_strings(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Id columns as Python ``str`` objects. pandas 3 stores strings in Arrow arrays, and ir-measures (like
    our per-query code) walks frames row by row: element access on Arrow arrays made one 100-deep run file
    of a 3-language XQuAD-R slice take 25 s to evaluate (6-7 s now for a full-XQuAD-R file, 3.7x the lines)."""
    for c in columns:
        df[c] = df[c].astype(object)
    return df


def write_qrels(path: Path, rows) -> None:
    """rows: (qid, docid) pairs, all judged relevant (1); atomic."""
    with atomic_write(path) as f:
        for qid, docid in rows:
            f.write(f"{qid} 0 {docid} 1\n")


# --------------------------------------------------------------------------------------------- runs


def read_run(path: Path) -> pd.DataFrame:
    """A TREC run as a DataFrame (query_id, doc_id, score, rank), or a one-line error naming the file and
    line: a 0-byte or blank file, a line without six fields, a score that is not a finite number, a rank
    that is not an integer, an id that is no TREC token (``check_id``: pandas splits on spaces and tabs
    only, so a no-break space or a control character stays inside a field), a (qid, docid) pair listed twice."""
    path = Path(path)
    require_file(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty run (0 bytes): the command that wrote it failed or found nothing")
    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, names=COLUMNS, dtype={"query_id": str, "doc_id": str},
                         engine="c", na_filter=False, on_bad_lines="error")
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty run (only blank lines)") from None
    except UnicodeDecodeError:
        _lines(path, "run")  # raises with the line of the first byte that is not UTF-8
        raise
    except (pd.errors.ParserError, ValueError) as e:
        message = str(e).splitlines()[0]
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
        detail = f"line {m.group(2)}: {m.group(3)} fields" if m else message  # pandas counts file lines
        raise InputError(f"{path}: {RUN_FORMAT} ({detail})") from None
    if not len(df):
        raise InputError(f"{path}: empty run (only blank lines)")
    short = df["tag"].eq("")
    if short.any():
        row = int(np.flatnonzero(short.to_numpy())[0])
        raise InputError(f"{path}: {RUN_FORMAT} (line {_file_line(path, row)}: fewer than 6 fields)")
    if not pd.api.types.is_numeric_dtype(df["score"]):
        bad = pd.to_numeric(df["score"], errors="coerce").isna().to_numpy()
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: {RUN_FORMAT} (line {_file_line(path, row)}: score {df['score'].iloc[row]!r} "
                         "is not a number)")
    finite = np.isfinite(df["score"].to_numpy(dtype=float))
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{path}:{_file_line(path, row)}: score {df['score'].iloc[row]} is not a finite number")
    if not pd.api.types.is_integer_dtype(df["rank"]):
        bad = pd.to_numeric(df["rank"], errors="coerce")
        row = int(np.flatnonzero((bad.isna() | (bad != bad.round())).to_numpy())[0])
        raise InputError(f"{path}: {RUN_FORMAT} (line {_file_line(path, row)}: rank '{df['rank'].iloc[row]}' "
                         "is not an integer)")
    q, qids = pd.factorize(df["query_id"])
    d, docids = pd.factorize(df["doc_id"])
    _check_run_ids(path, q, qids, "qid")
    _check_run_ids(path, d, docids, "docid")
    _check_unique_pairs(path, df, q, d, len(docids))
    return plain_strings(df[["query_id", "doc_id", "score", "rank"]].copy(), ["query_id", "doc_id"])


def _check_run_ids(path: Path, codes: np.ndarray, uniques, what: str) -> None:
    """``check_id`` on each distinct id of a run column: one regex search over their concatenation (a
    13M-line run has a few hundred thousand distinct docids); the id and its line only once one fails."""
    values = uniques.tolist()  # element access on pandas' Arrow strings is 10x slower
    if all(values) and not BAD_ID_CHAR.search("".join(values)):
        return
    k = next(i for i, v in enumerate(values) if id_problem(v, what))
    row = int(np.flatnonzero(codes == k)[0])
    check_id(values[k], what, f"{path}:{_file_line(path, row)}")


def _check_unique_pairs(path: Path, df: pd.DataFrame, q: np.ndarray, d: np.ndarray, n_docs: int) -> None:
    """A docid twice for one query would be counted twice by some measures and once by others."""
    dup = pd.Series(q.astype(np.int64) * max(1, n_docs) + d).duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        qid, docid = df["query_id"].iloc[row], df["doc_id"].iloc[row]
        same = np.flatnonzero((q == q[row]) & (d == d[row]))
        raise InputError(f"{path}:{_file_line(path, row)}: duplicate docid {docid} for query {qid} "
                         f"(first on line {_file_line(path, int(same[0]))}; duplicate lines in all: {int(dup.sum())})")


def _file_line(path: Path, row: int) -> int:
    """The 1-based line of the ``row``-th (0-based) non-blank line: pandas skips blank lines."""
    seen = -1
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                seen += 1
                if seen == row:
                    return n
    return row + 1


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


