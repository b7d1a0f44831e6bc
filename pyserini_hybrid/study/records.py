"""What a unit keeps of a run directory: enough to recompute every measure, with no run file, index or model.

- ``ranks``: one row per (target, query, relevant candidate): its grade and its rank. Ranks within the run's
  depth are the run's own (``core.trec.ranked``: ties as trec_eval breaks them), so measures recomputed from
  them equal ir-measures on the run. Beyond the depth, a dense run's rank is exact from the full ranking (every
  candidate's score from the faiss index's vectors and the query embedding Pyserini searched with); a BM25 or
  fusion run has no full ranking, so the rank is left empty ("beyond depth").
- ``top``: for each multilingual-pool query, the languages of its first 10 candidates (language measures).
- ``spearman``: for dense runs, per question and pair of its languages, Spearman's correlation of the two
  parallel queries' scores over the whole pool (how alike the rankings of one question in two languages are).

NTREX (``ntrex_*``): every X->en and en->X query, and the pool's queries of every ``POOL_EVERY``-th line (lines
1, 5, 9, ...: a systematic quarter spread over all 123 documents; the pool's candidates are every line), so a
unit's record stays small (the default subset's pool has 82k queries with 40 relevant candidates each). Its
measures (P@1, MRR@10, nDCG@10, the pool's rank distance counted at depth + 1, PEER@100) need no rank beyond
the run's depth, so no full ranking is kept; the pool drops each query's own sentence and is read to depth - 1
(``evaluate.bitext``). Its rank correlation is kept per language pair, averaged over the recorded questions.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.trec import ranked, read_qrels_frame, read_run, read_topics
from ..data import topic_sets as tp
from ..data.convert import load_meta
from ..data.ntrex import relevant
from ..pyserini_glue.dense_files import read_encoded_queries

TOP_K = 10
RANK_COLUMNS = ["target", "query_id", "doc_id", "rel", "rank"]
POOL_EVERY = 4  # NTREX: the pool queries recorded are those of lines 1, 5, 9, ...


def targets(dataset: str, run_dir: Path, langs: list[str], lareqa: bool) -> list[str]:
    out = [y for y in langs if (run_dir / f"{y}.trec").is_file()]
    if lareqa and (run_dir / f"{tp.POOL}.trec").is_file():
        out.append(tp.POOL)
    return out


def target_qrels(dataset: str, target: str, langs: list[str], topics_dir: Path, lareqa: bool) -> pd.DataFrame:
    """The relevant candidates of ``target`` for queries of ``langs``, as ``evaluate_run_dir`` reads them (the
    pool holds only the evaluated languages' candidates)."""
    query_langs = langs if lareqa else [target]
    files = [p for p in (tp.qrels_path(dataset, x, target, topics_dir) for x in query_langs) if p.is_file()]
    if not files:
        return pd.DataFrame(columns=["query_id", "doc_id", "relevance"])
    qrels = read_qrels_frame(files)
    qrels = qrels[qrels["relevance"] > 0]
    if target == tp.POOL:
        qrels = qrels[qrels["doc_id"].str.split("-", n=1).str[0].isin(langs)]
    return qrels[["query_id", "doc_id", "relevance"]]


class DenseScores:
    """Every candidate's score for a query, from the flat index Pyserini searched (inner product) and the
    query embedding it searched with."""

    def __init__(self, index_dir: Path, embeddings: Path, topics: dict[str, str]):
        import faiss

        index = faiss.read_index(str(index_dir / "index"))
        self.vectors = index.reconstruct_n(0, index.ntotal).astype(np.float32)
        self.docids = [x for x in (index_dir / "docid").read_text(encoding="utf-8").split("\n") if x]
        self.position = {d: i for i, d in enumerate(self.docids)}
        by_text = read_encoded_queries(embeddings)  # embedding.npy + texts.json: no pickle is ever loaded
        self.query = {q: np.asarray(by_text[t], dtype=np.float32) for q, t in topics.items() if t in by_text}

    def scores(self, qids: list[str]) -> np.ndarray:
        return np.stack([self.query[q] for q in qids]) @ self.vectors.T


def full_ranks(scores: DenseScores, qids: np.ndarray, docs: np.ndarray, chunk: int = 512) -> np.ndarray:
    """1 + the number of candidates scored above each (query, candidate) pair; NaN where either is unknown."""
    out = np.full(len(qids), np.nan)
    pos = np.array([scores.position.get(d, -1) for d in docs])
    known = np.array([q in scores.query for q in qids]) & (pos >= 0)
    unique = sorted(set(qids[known]))
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        row_of = {q: i for i, q in enumerate(part)}
        s = scores.scores(part)
        rows = np.flatnonzero(known & np.isin(qids, part))
        qi = np.array([row_of[q] for q in qids[rows]])
        rel = s[qi, pos[rows]]
        out[rows] = 1 + (s[qi] > rel[:, None]).sum(axis=1)
    return out


def relevant_ranks(dataset: str, run_dir: Path, langs: list[str], topics_dir: Path, depth: int,
                   dense: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """(ranks table, checks): ``dense`` = {"indexes": {target: dir}, "queries": embedding.pkl, "topics": {qid:
    text}} for full ranks beyond the depth. ``checks`` counts where the full ranking and the run disagree
    within the depth (float ties), for the unit's record."""
    meta = load_meta(dataset, topics_dir)
    if meta["format"] == "ntrex":
        return ntrex_ranks(meta, run_dir, langs, depth)
    lareqa = meta["format"] == "lareqa"
    rows, checks = [], {"within_depth": 0, "beyond_depth": 0, "full_rank_disagreements": 0}
    for target in targets(dataset, run_dir, langs, lareqa):
        qrels = target_qrels(dataset, target, langs, topics_dir, lareqa)
        if qrels.empty:
            continue
        run = ranked(read_run(run_dir / f"{target}.trec"))
        merged = qrels.merge(run[["query_id", "doc_id", "rank"]], on=["query_id", "doc_id"], how="left")
        merged.loc[merged["rank"] > depth, "rank"] = np.nan
        checks["within_depth"] += int(merged["rank"].notna().sum())
        if dense is not None:
            scores = DenseScores(Path(dense["indexes"][target]), Path(dense["queries"]), dense["topics"])
            full = full_ranks(scores, merged["query_id"].to_numpy(), merged["doc_id"].to_numpy())
            have = merged["rank"].notna() & ~np.isnan(full)
            checks["full_rank_disagreements"] += int((merged["rank"][have] != full[have]).sum())
            beyond = merged["rank"].isna() & ~np.isnan(full)
            # outside the run's depth, by definition ranked after it (float noise cannot move it inside)
            merged.loc[beyond, "rank"] = np.maximum(full[beyond.to_numpy()], depth + 1)
            checks["beyond_depth"] += int(beyond.sum())
        merged.insert(0, "target", target)
        rows.append(merged.rename(columns={"relevance": "rel"})[RANK_COLUMNS])
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=RANK_COLUMNS)
    table["rank"] = table["rank"].astype("Int64")
    return table, checks


def recorded_line(query_ids: pd.Series) -> np.ndarray:
    """NTREX: whether a pool query (``<lang>-<line>``) is one the unit records (``POOL_EVERY``)."""
    return (query_ids.str.split("-", n=1).str[1].astype(int) % POOL_EVERY == 1).to_numpy()


def ntrex_pool_run(path: Path) -> pd.DataFrame:
    """An NTREX pool run as its measures read it: the recorded queries, each one's own sentence taken out,
    ranked again (``evaluate.bitext``)."""
    run = read_run(path)
    run = run[recorded_line(run["query_id"]) & (run["query_id"] != run["doc_id"]).to_numpy()]
    return ranked(run)


def ntrex_qrels(meta: dict, target: str, query_langs: list[str], langs: list[str]) -> pd.DataFrame:
    """The relevant (query, candidate) pairs of ``target`` from the line alignment (``data.ntrex.relevant``:
    the aligned line and lines of the same text); the pool's for the recorded queries alone."""
    doc_langs = list(langs) if target == tp.POOL else [target]
    pairs = [(q, d) for x in query_langs for y in doc_langs if y != x for q, d in relevant(meta, x, y)
             if target != tp.POOL or int(q.split("-", 1)[1]) % POOL_EVERY == 1]
    return pd.DataFrame(pairs, columns=["query_id", "doc_id"]).assign(relevance=1)


def ntrex_ranks(meta: dict, run_dir: Path, langs: list[str], depth: int) -> tuple[pd.DataFrame, dict]:
    """NTREX's ranks table: each search of ``tp.searches`` (X->en, en->X, the pool), its relevant candidates'
    ranks within the depth (the pool's within depth - 1, its own sentence out), beyond it empty."""
    plan = tp.searches(meta, langs)
    rows, checks = [], {"within_depth": 0, "beyond_depth": 0, "full_rank_disagreements": 0}
    for target in [t for t in plan if (run_dir / f"{t}.trec").is_file()]:
        path = run_dir / f"{target}.trec"
        run, cut = (ntrex_pool_run(path), depth - 1) if target == tp.POOL else (ranked(read_run(path)), depth)
        qrels = ntrex_qrels(meta, target, plan[target], langs)
        merged = qrels.merge(run[["query_id", "doc_id", "rank"]], on=["query_id", "doc_id"], how="left")
        merged.loc[merged["rank"] > cut, "rank"] = np.nan
        checks["within_depth"] += int(merged["rank"].notna().sum())
        merged.insert(0, "target", target)
        rows.append(merged.rename(columns={"relevance": "rel"})[RANK_COLUMNS])
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=RANK_COLUMNS)
    table["rank"] = table["rank"].astype("Int64")
    return table, checks


def pool_top(run_dir: Path, k: int = TOP_K, ntrex: bool = False) -> pd.DataFrame:
    """Each pool query's first ``k`` candidates' languages (docids are ``<lang>-<id>``); NTREX: the recorded
    queries, their own sentences out (``ntrex_pool_run``)."""
    path = run_dir / f"{tp.POOL}.trec"
    if not path.is_file():
        return pd.DataFrame(columns=["query_id", "top"])
    run = ntrex_pool_run(path) if ntrex else ranked(read_run(path))
    run = run[run["rank"] <= k]
    run = run.assign(lang=run["doc_id"].str.split("-", n=1).str[0])
    top = run.groupby("query_id", sort=True)["lang"].agg(",".join)
    return top.rename("top").reset_index()


def parallel_spearman(dense: dict, langs: list[str], ntrex: bool = False) -> pd.DataFrame:
    """Per question (the qid after ``<lang>-``) and pair of languages that both hold it: Spearman's rho of
    the two queries' scores over the whole pool. Ranks by argsort (scores are continuous, ties negligible).
    NTREX: the recorded lines' questions, and per pair the mean over them (question ``*``)."""
    scores = DenseScores(Path(dense["indexes"][tp.POOL]), Path(dense["queries"]), dense["topics"])
    by_question: dict[str, dict[str, str]] = {}
    for qid in scores.query:
        lang, _, rest = qid.partition("-")
        if lang in langs and (not ntrex or int(rest) % POOL_EVERY == 1):
            by_question.setdefault(rest, {})[lang] = qid
    rows = []
    n = len(scores.docids)
    for question, qids in sorted(by_question.items()):
        if len(qids) < 2:
            continue
        order = sorted(qids)
        s = scores.scores([qids[x] for x in order])
        r = np.empty_like(s)
        r[np.arange(len(order))[:, None], np.argsort(s, axis=1)] = np.arange(n, dtype=np.float32)
        r -= r.mean(axis=1, keepdims=True)
        r /= np.linalg.norm(r, axis=1, keepdims=True)
        c = r @ r.T
        for i in range(len(order)):
            for j in range(i + 1, len(order)):
                rows.append((question, order[i], order[j], round(float(c[i, j]), 5)))
    out = pd.DataFrame(rows, columns=["question", "lang_a", "lang_b", "spearman"])
    if ntrex:  # 500 questions x 820 pairs would be 410k rows: their per-pair means give the same average
        out = out.groupby(["lang_a", "lang_b"], sort=True)["spearman"].mean().round(5).reset_index()
        out.insert(0, "question", "*")
    return out


def write_tsv_gz(df: pd.DataFrame, path: Path) -> None:
    """A small, diff-stable table: gzip without a timestamp, so the same rows give the same bytes."""
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(buf.getvalue().encode("utf-8"))


CENSORED = "-"  # a relevant candidate beyond the run's depth (no full ranking); an empty cell: none there


def write_ranks(ranks: pd.DataFrame, path: Path) -> None:
    """The ranks table, wide where every relevant candidate is graded 1 and there is a pool (LAReQA, NTREX):
    one row per query, one column per target (``<lang>``, ``pool:<lang>``), so the long query ids are written
    once, not once per target; a cell holds the ranks of that target's (language's) relevant candidates, ``;``
    between them where there are several (NTREX's lines of the same text). MIRACL (graded passages) stays long."""
    lang = ranks["doc_id"].str.split("-", n=1).str[0]
    key = ranks["target"].where(ranks["target"] != tp.POOL, tp.POOL + ":" + lang)
    wide_ok = len(ranks) and (ranks["rel"] == 1).all() and (ranks["target"] == tp.POOL).any()
    if not wide_ok:
        write_tsv_gz(ranks.astype({"rank": "string"}).fillna({"rank": CENSORED}), path)
        return
    cells = ranks.assign(key=key, cell=ranks["rank"].astype("string").fillna(CENSORED))
    cells = cells.sort_values(["query_id", "key", "rank"], kind="stable", na_position="last")
    cells = cells.groupby(["query_id", "key"], sort=False)["cell"].agg(";".join).reset_index()
    wide = cells.pivot(index="query_id", columns="key", values="cell").sort_index()
    wide = wide[sorted(wide.columns)].reset_index()
    write_tsv_gz(wide, path)


def read_ranks(path: Path) -> pd.DataFrame:
    """The long ranks table (``RANK_COLUMNS``; rank NaN = beyond depth) from either layout; in the wide one a
    candidate is known by its language only (``doc_id`` = ``<lang>-?``), which is all the measures need."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "target" not in df.columns:
        long = df.melt(id_vars="query_id", var_name="key", value_name="cell")
        long = long[long["cell"] != ""]
        long = long.assign(cell=long["cell"].str.split(";")).explode("cell", ignore_index=True)
        pool = long["key"].str.startswith(tp.POOL + ":")
        lang = long["key"].str.split(":").str[-1]
        target = long["key"].where(~pool, tp.POOL)
        df = pd.DataFrame({"target": target, "query_id": long["query_id"], "doc_id": lang + "-?", "rel": "1",
                           "rank": long["cell"]})
    out = df[RANK_COLUMNS].copy()
    out["rel"] = out["rel"].astype(int)
    out["rank"] = pd.to_numeric(out["rank"].replace(CENSORED, ""), errors="coerce")
    return out.sort_values(["target", "query_id", "doc_id"], ignore_index=True)


def read_tsv_gz(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"query_id": str, "doc_id": str, "target": str, "question": str},
                       keep_default_na=False, na_values=[""])


def dense_inputs(info: dict, dataset: str, langs: list[str], topics_dir: Path) -> dict:
    """What ``relevant_ranks`` needs of a dense run: its indexes, query embeddings and topics."""
    topics = {}
    for x in langs:
        topics.update(read_topics(tp.topics_path(dataset, x, topics_dir)))
    return {"indexes": info["indexes"], "queries": info["queries"], "topics": topics}
