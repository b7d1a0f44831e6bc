"""Topic-set names and paths: XQuAD-R, MLQA-R, MIRACL, NTREX-128 and users' own sets as Pyserini names its
topics (conversion: ``convert``; users' sets: ``user_sets``; MIRACL's languages: ``miracl``; NTREX: ``ntrex``).

``manifest()`` is the one place names resolve: the package's ``data/manifest.json`` (the built-in
default) and every user topic-set file in reach (``--topic-sets FILE``, ``$PYSERINI_HYBRID_TOPIC_SETS``,
``topic-sets.toml`` in the data directory). A converted set lives in ``topics/<dataset>/`` (git-ignored;
it derives from data we may not commit):

- ``topics.<lang>.tsv``           Pyserini TSV topics (qid, question); LAReQA qids are unique across languages
- ``topics.all.tsv``              every language's topics in one file (LAReQA: one search per index covers all)
- ``corpus/<variant>/<lang>/``    Pyserini JsonCollection, ``docs.jsonl`` or, past a shard's size,
                                  ``docs-00000.jsonl`` ...; ``sentence`` or ``context`` (LAReQA: the candidate
                                  sentence followed by its paragraph; monolingual sets: the same passages)
- ``qrels/<X>-<Y>.txt``           TREC qrels for query language X against candidates in Y (X == Y: mono)
- ``qrels/<X>-pool.txt``          TREC qrels against the multilingual pool (LAReQA sets; NTREX's follow from
                                  its line alignment, ``ntrex.relevant``)
- ``docids/<lang>.npy``           the language's candidates as sorted docid hashes (``evaluate`` checks runs)
- ``meta.json``                   counts, languages, settings, source checksums and warnings

Users name sets as Pyserini names its topics: ``xquad-r-en`` (topics), ``xquad-r-en-de`` and
``xquad-r-en-pool`` (qrels); ``python -m pyserini_hybrid.topics path NAME`` prints the file.

Which topics search which candidates is ``searches``: every language every index (LAReQA), X->en, en->X and
the pool (NTREX), each language its own (monolingual sets); ``planned_topics`` gives NTREX's files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import atomic_write, data_dir, load_json, work_dir
from . import user_sets
from .languages import ntrex_codes
from .miracl import known_languages as miracl_languages
from .miracl import other_folders
from .miracl import present_languages as found
from .ntrex import expand, scan

MANIFEST = Path(__file__).with_name("manifest.json")  # package data: installed with the package
CORPUS_VARIANTS = ("sentence", "context")
POOL = "pool"
DEFAULT_DATASETS = ("xquad-r", "mlqa-r", "miracl-mini")  # what ``topics convert`` does without names

register_topic_sets = user_sets.register
use_data_dir = user_sets.use_data_dir


def builtin_manifest() -> dict:
    """The package's own sets (``data/manifest.json``)."""
    return {k: v for k, v in load_json(MANIFEST).items() if not k.startswith("_")}


def manifest(data=None) -> dict:
    """Every set in reach, by name: the built-in ones, then the users' (``user_sets``)."""
    builtin = builtin_manifest()
    return {**builtin, **user_sets.user_sets(builtin, data)}


def dataset_spec(dataset: str, data=None) -> dict:
    specs = manifest(data)
    if dataset not in specs:
        raise InputError(f"unknown dataset {dataset!r} (known: {', '.join(specs)}; "
                         f"declare your own in a topic-set file: --topic-sets FILE)")
    return specs[dataset]


def known_languages(dataset: str, data=None) -> list[str]:
    """Every language code the set can have (MIRACL: its 18 languages and any the spec lists)."""
    spec = dataset_spec(dataset, data)
    if spec["format"] == "miracl":
        try:  # a discovering set's folders that are not MIRACL languages, as conversion takes them
            others = other_folders(spec, Path(spec["root"]) if spec.get("root") else data_dir(data))
        except InputError:
            others = []
        return miracl_languages(spec) + others
    if spec["format"] == "ntrex":  # every language with an NTREX code in data/languages.tsv
        return sorted(ntrex_codes().values())
    return list(spec["languages"])


def present_languages(dataset: str, data=None) -> list[str]:
    """The languages a set has in the data (MIRACL: those found in its directory; a hub-sourced set: all)."""
    spec = dataset_spec(dataset, data)
    if spec["format"] == "ntrex":
        directory = data_dir(data) / spec["dir"]  # absent: none present (``list`` names every set)
        return sorted(scan(directory)[0]) if directory.is_dir() else []
    if spec["format"] != "miracl":
        return list(spec["languages"])
    return found(spec, Path(spec["root"]) if spec.get("root") else data_dir(data))


def check_languages(dataset: str, languages, meta: dict) -> list[str]:
    """The languages to run: all converted ones (``meta``: the converted set's meta.json) by default; a code
    the set cannot have is an error, one it can have but that was not converted (not in the data) is skipped
    with a line saying so, and nothing left is an error naming what exists."""
    known = known_languages(dataset)
    available = list(meta["languages"])
    languages = named_languages(dataset, languages, available)
    if not languages:
        return available
    pivot = dataset_spec(dataset).get("pivot")
    if pivot and pivot not in languages:  # NTREX: every setting has English on one side
        languages = [pivot, *languages]
    unknown = [lang for lang in languages if lang not in known]
    if unknown:
        raise InputError(f"{dataset}: unknown language code {', '.join(unknown)} (known: {', '.join(known)})")
    chosen = [lang for lang in languages if lang in available]
    if not chosen:
        raise InputError(f"{dataset}: none of {', '.join(languages)} here (converted: {', '.join(available)})")
    skipped = [lang for lang in languages if lang not in available]
    if skipped:
        print(f"{dataset}: {', '.join(skipped)} not in the data; skipped (converted: {', '.join(available)})",
              file=sys.stderr)
    return list(dict.fromkeys(chosen))


def converted_dir(dataset: str, topics_dir: Path | None = None) -> Path:
    return (topics_dir or work_dir() / "topics") / dataset


def data_key(meta: dict) -> str:
    """A short fingerprint of a converted set's source files: caches built from other data never match."""
    return hashlib.sha256(json.dumps(_stable(meta["sources"]), sort_keys=True).encode()).hexdigest()[:12]


def language_key(meta: dict, lang: str) -> str:
    """The fingerprint of one language's sources (its candidates depend on nothing else): adding a language
    to a monolingual set keeps the other languages' indexes."""
    return hashlib.sha256(json.dumps([meta["format"], _stable(meta["sources"][lang])], sort_keys=True).encode()).hexdigest()[:12]


DERIVED = ("files",)  # how a corpus was cut into files says nothing about its content


def _stable(obj):
    """Sources without what follows from the rest: a local file's checksum already fixes its passages'."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items()
                if k not in DERIVED and not (k == "passages_sha256" and "sha256" in obj)}
    return obj


def topics_path(dataset: str, lang: str = "all", topics_dir: Path | None = None) -> Path:
    return converted_dir(dataset, topics_dir) / f"topics.{lang}.tsv"


def qrels_path(dataset: str, query_lang: str, doc_lang: str, topics_dir: Path | None = None) -> Path:
    return converted_dir(dataset, topics_dir) / "qrels" / f"{query_lang}-{doc_lang}.txt"


def docids_path(dataset: str, lang: str, topics_dir: Path | None = None) -> Path:
    """The sorted docid hashes of a language's candidates (``corpus.DocidHashes``), kept beside the corpus."""
    return converted_dir(dataset, topics_dir) / "docids" / f"{lang}.npy"


def corpus_dir(dataset: str, lang: str, variant: str = "sentence", topics_dir: Path | None = None) -> Path:
    if variant not in CORPUS_VARIANTS:
        raise InputError(f"unknown corpus variant {variant!r} (choose {' or '.join(CORPUS_VARIANTS)})")
    return converted_dir(dataset, topics_dir) / "corpus" / variant / lang


def resolve(name: str, topics_dir: Path | None = None) -> Path:
    """``xquad-r-en`` -> topics file; ``xquad-r-en-de`` / ``xquad-r-en-pool`` -> qrels file (user sets too)."""
    specs = manifest()
    for dataset in sorted(specs, key=len, reverse=True):
        if not name.startswith(dataset + "-"):
            continue
        parts = name[len(dataset) + 1:].split("-")
        langs = known_languages(dataset)
        if len(parts) == 1 and parts[0] in langs + ["all"]:
            path = topics_path(dataset, parts[0], topics_dir)
        elif len(parts) == 2 and parts[0] in langs and parts[1] in langs + [POOL]:
            path = qrels_path(dataset, parts[0], parts[1], topics_dir)
        else:
            continue  # perhaps a longer-named set's prefix: try the others first
        if not path.is_file() and parts[-1] == POOL and dataset_spec(dataset)["format"] == "ntrex":
            raise InputError(f"{name}: NTREX's pool has no qrels file: a query's relevant candidates are its line "
                             "in every other language evaluated (data/ntrex.py)")
        if not path.is_file():
            raise InputError(f"{path}: no such file; convert first (python -m pyserini_hybrid.topics convert {dataset})")
        return path
    near = [d for d in specs if name.startswith(d + "-")]
    if near:
        raise InputError(f"{name}: unknown topic set (languages of {near[0]}: {', '.join(known_languages(near[0]))})")
    raise InputError(f"{name}: unknown topic set (datasets: {', '.join(specs)})")


def named_languages(dataset: str, languages, present=None, data=None) -> list[str] | None:
    """``languages`` with a set's named selections expanded (NTREX: ``default``, ``all``)."""
    spec = dataset_spec(dataset, data)
    if spec["format"] != "ntrex" or not languages:
        return list(languages) if languages else languages
    return expand(spec, languages, present if present is not None else known_languages(dataset, data))


def default_hits(dataset: str) -> int | None:
    """The run depth a set asks for by default (NTREX: 100; None: the commands' own default)."""
    return dataset_spec(dataset).get("hits")


def searches(meta: dict, langs: list[str]) -> dict[str, list[str]]:
    """Target (a candidate language, or ``POOL``: the languages' candidates together) -> the query languages
    whose topics search it. LAReQA: every language every target; NTREX: X->en, en->X and every language
    the pool; monolingual sets: each language its own."""
    if meta["format"] == "ntrex":
        pivot = meta["pivot"]
        plan = {y: [pivot] if y != pivot else [x for x in langs if x != pivot] for y in langs}
    elif meta["format"] == "lareqa":
        plan = {y: list(langs) for y in langs}
    else:
        return {y: [y] for y in langs}
    if len(langs) > 1:
        plan[POOL] = list(langs)
    return plan


def planned_topics(dataset: str, meta: dict, langs: list[str], output: Path, topics_dir: Path | None = None,
                   pool: bool = True) -> dict[str, Path]:
    """For a set whose searches differ per target (NTREX): target -> its topics file, a language's own file
    where one language searches it, else one written beside the runs (``queries-<target>.tsv``). {} for the
    other formats, whose layout the retrieval commands know."""
    if meta["format"] != "ntrex":
        return {}
    out = {}
    for target, query_langs in searches(meta, langs).items():
        if target == POOL and not pool:
            continue
        if len(query_langs) == 1:
            out[target] = topics_path(dataset, query_langs[0], topics_dir)
            continue
        out[target] = output / f"queries-{target}.tsv"
        with atomic_write(out[target]) as f:
            f.write("".join(topics_path(dataset, x, topics_dir).read_text(encoding="utf-8") for x in query_langs))
    return out


def languages_tag(langs: list[str]) -> str:
    """The languages joined by '-' for a cache folder's name, or past 100 characters their count and a hash
    (a file name has at most 255 bytes; NTREX has 128 languages)."""
    joined = "-".join(langs)
    if len(joined) <= 100:
        return joined
    return f"{len(langs)}-languages-{hashlib.sha256(joined.encode()).hexdigest()[:12]}"
