"""BM25-mined hard negatives: for each training question, the best BM25 candidate sentence of its own
language that is not its positive (``data.hard_negatives = "bm25"``).

Candidates are every sentence of the training paragraphs of one language, indexed and searched with
Pyserini's CLI exactly like the BM25 baseline (``bm25.build_index`` / ``bm25.search``: one index and one
search per language). Results are cached by the pairs' content, so a second training run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tqdm import tqdm

from ..core.files import atomic_write, load_json, work_dir, write_json
from ..core.trec import read_run
from ..retrieval.bm25 import build_index, search
from .pairs import PairSet

DEPTH = 20


def _key(pairs: PairSet, rows: list[int]) -> str:
    h = hashlib.sha256()
    for i in rows:
        h.update(f"{pairs.lang[i]}\t{pairs.query[i]}\t{pairs.positive(i)}\n".encode())
    return h.hexdigest()[:16]


def mine_bm25_negatives(pairs: PairSet, rows: list[int], cache: Path | None = None,
                        threads: int = 2, quiet: bool = False) -> dict[int, tuple[int, int]]:
    """row -> (paragraph, sentence) of its hard negative; rows whose search found none are absent."""
    cache = (cache or work_dir() / "indexes" / "train-negatives") / _key(pairs, rows)
    done = cache / "negatives.json"
    if done.is_file():
        return {int(k): tuple(v) for k, v in load_json(done).items()}
    by_lang: dict[str, list[int]] = {}
    for i in rows:
        by_lang.setdefault(pairs.positive_lang[i], []).append(i)  # candidates in the positive's language
    out: dict[int, tuple[int, int]] = {}
    log = cache / "pyserini.log"
    cache.mkdir(parents=True, exist_ok=True)
    for lang, items in tqdm(sorted(by_lang.items()), desc="BM25 negatives", unit="lang", disable=quiet):
        work = cache / lang
        corpus = work / "corpus"
        paragraphs = sorted({pairs.paragraph[i] for i in items})
        with atomic_write(corpus / "docs.jsonl") as f:
            for p in paragraphs:
                for s, _ in enumerate(pairs.paragraphs[p].sentences):
                    f.write(json.dumps({"id": f"{p}-{s}", "contents": pairs.candidate(p, s)}, ensure_ascii=False)
                            + "\n")
        with atomic_write(work / "topics.tsv") as f:
            for i in items:
                f.write(f"{i}\t{' '.join(pairs.query[i].split())}\n")
        used = build_index(corpus, work / "index", lang, threads, log)
        search(work / "index", work / "topics.tsv", work / "run.trec", used, DEPTH, threads, log)
        run = read_run(work / "run.trec")
        for qid, group in run.groupby("query_id", sort=False):
            i = int(qid)
            positive = pairs.positive(i)
            for doc in group.sort_values("rank")["doc_id"]:
                p, s = map(int, doc.split("-"))
                if pairs.candidate(p, s) != positive:
                    out[i] = (p, s)
                    break
    write_json(done, {str(k): list(v) for k, v in out.items()})
    return out
