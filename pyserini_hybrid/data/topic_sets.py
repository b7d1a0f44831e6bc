"""Topic-set names and paths: XQuAD-R, MLQA-R and MIRACL as Pyserini names its topics (conversion: ``convert``).

A converted set lives in ``topics/<dataset>/`` (git-ignored; it derives from data we may not commit):

- ``topics.<lang>.tsv``           Pyserini TSV topics (qid, question); qids are unique across languages
- ``topics.all.tsv``              every language's topics in one file (one search per index covers all)
- ``corpus/<variant>/<lang>/docs.jsonl``  Pyserini JsonCollection; ``sentence`` or ``context`` (the
                                  candidate sentence followed by its paragraph, as LAReQA encodes it)
- ``qrels/<X>-<Y>.txt``           TREC qrels for query language X against candidates in Y (X == Y: mono)
- ``qrels/<X>-pool.txt``          TREC qrels against the multilingual pool (LAReQA sets only)
- ``meta.json``                   counts, languages, settings and source checksums

Users name sets as Pyserini names its topics: ``xquad-r-en`` (topics), ``xquad-r-en-de`` and
``xquad-r-en-pool`` (qrels); ``python -m pyserini_hybrid.topics path NAME`` prints the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import InputError
from ..core.files import PROJECT_ROOT, load_json

TOPICS_DIR = PROJECT_ROOT / "topics"
MANIFEST = TOPICS_DIR / "manifest.json"
CORPUS_VARIANTS = ("sentence", "context")
POOL = "pool"


def manifest() -> dict:
    return {k: v for k, v in load_json(MANIFEST).items() if not k.startswith("_")}


def dataset_spec(dataset: str) -> dict:
    specs = manifest()
    if dataset not in specs:
        raise InputError(f"{MANIFEST}: unknown dataset {dataset!r} (known: {', '.join(specs)})")
    return specs[dataset]


def check_languages(dataset: str, languages) -> list[str]:
    known = list(dataset_spec(dataset)["languages"])
    if not languages:
        return known
    unknown = [lang for lang in languages if lang not in known]
    if unknown:
        raise InputError(f"{dataset}: unknown language code {', '.join(unknown)} (known: {', '.join(known)})")
    return list(languages)



def converted_dir(dataset: str, topics_dir: Path | None = None) -> Path:
    return (topics_dir or TOPICS_DIR) / dataset


def data_key(meta: dict) -> str:
    """A short fingerprint of a converted set's source files: caches built from other data never match."""
    import hashlib

    return hashlib.sha256(json.dumps(meta["sources"], sort_keys=True).encode()).hexdigest()[:12]


def topics_path(dataset: str, lang: str = "all", topics_dir: Path | None = None) -> Path:
    return converted_dir(dataset, topics_dir) / f"topics.{lang}.tsv"


def qrels_path(dataset: str, query_lang: str, doc_lang: str, topics_dir: Path | None = None) -> Path:
    return converted_dir(dataset, topics_dir) / "qrels" / f"{query_lang}-{doc_lang}.txt"


def corpus_dir(dataset: str, lang: str, variant: str = "sentence", topics_dir: Path | None = None) -> Path:
    if variant not in CORPUS_VARIANTS:
        raise InputError(f"unknown corpus variant {variant!r} (choose {' or '.join(CORPUS_VARIANTS)})")
    return converted_dir(dataset, topics_dir) / "corpus" / variant / lang


def resolve(name: str, topics_dir: Path | None = None) -> Path:
    """``xquad-r-en`` -> topics file; ``xquad-r-en-de`` / ``xquad-r-en-pool`` -> qrels file."""
    for dataset in sorted(manifest(), key=len, reverse=True):
        if not name.startswith(dataset + "-"):
            continue
        parts = name[len(dataset) + 1:].split("-")
        langs = list(dataset_spec(dataset)["languages"])
        if len(parts) == 1 and parts[0] in langs + ["all"]:
            path = topics_path(dataset, parts[0], topics_dir)
        elif len(parts) == 2 and parts[0] in langs and parts[1] in langs + [POOL]:
            path = qrels_path(dataset, parts[0], parts[1], topics_dir)
        else:
            raise InputError(f"{name}: unknown topic set (languages of {dataset}: {', '.join(langs)})")
        if not path.is_file():
            raise InputError(f"{path}: no such file; convert first (python -m pyserini_hybrid.topics convert {dataset})")
        return path
    raise InputError(f"{name}: unknown topic set (datasets: {', '.join(manifest())})")


def load_meta(dataset: str, topics_dir: Path | None = None, data: str | Path | None = None,
              auto_convert: bool = True) -> dict:
    """The converted set's meta.json, converting first when it is missing."""
    path = converted_dir(dataset, topics_dir) / "meta.json"
    if not path.is_file():
        if not auto_convert:
            raise InputError(f"{path}: not converted yet (run: python -m pyserini_hybrid.topics convert {dataset})")
        from .convert import convert

        convert(dataset, data, topics_dir)
    return load_json(path)
