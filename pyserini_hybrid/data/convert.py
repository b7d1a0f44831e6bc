"""Conversion of topic sets into Pyserini's file conventions: LAReQA (XQuAD-R, MLQA-R), MIRACL, NTREX-128.

The layout written is described in ``topic_sets``; a converted set appears whole or not at all
(``atomic_directory``), with ``meta.json`` recording counts, settings, checksums and warnings.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.files import (
    atomic_directory,
    data_dir,
    load_json,
    write_json,
)
from ..core.lock import output_lock
from ..core.squad import check_squad
from ..core.trec import check_id, clean, read_qrels, read_topics, write_qrels, write_topics
from . import miracl
from .corpus import noting_judged, read_json_collection, write_corpus
from .ntrex import convert_ntrex
from .sources import origin_name, pick_languages, unchecked_warning, verify_source
from .topic_sets import (
    CORPUS_VARIANTS,
    POOL,
    converted_dir,
    dataset_spec,
    known_languages,
    named_languages,
)

# ---------------------------------------------------------------------------------------------
# LAReQA (XQuAD-R, MLQA-R)


@dataclass(frozen=True)
class Candidate:
    docid: str
    sentence: str
    context: str


@dataclass(frozen=True)
class Question:
    qid: str  # "<lang>-<source id>": unique across languages
    source_id: str  # shared by the translations of one question
    text: str
    answer_docid: str  # the sentence holding this language's answer start


def parse_lareqa(path: Path, lang: str) -> tuple[list[Candidate], list[Question]]:
    """Candidates and questions of one LAReQA file, validated so that bad input fails by name."""
    data = load_json(path)
    if not isinstance(data, dict) or "data" not in data:
        raise InputError(f"{path}: not a LAReQA/SQuAD file (no top-level 'data' list)")
    articles = check_squad(data, path, lareqa=True)  # every field's type, or one line naming its JSON path
    candidates, questions = [], []
    for a, article in enumerate(articles):
        for p, para in enumerate(article["paragraphs"]):
            where = f"{path}: article {a} paragraph {p}"
            context, sentences, breaks, qas = para["context"], para["sentences"], para["sentence_breaks"], para["qas"]
            if len(sentences) != len(breaks):
                raise InputError(f"{where}: {len(sentences)} sentences but {len(breaks)} sentence_breaks")
            ids = [f"{lang}-{a}-{p}-{s}" for s in range(len(sentences))]
            empty = [s for s, text in enumerate(sentences) if not clean(text)]
            if empty:  # an empty candidate: Anserini would skip it, the dense index would not
                raise InputError(f"{where}: sentence {empty[0]} is empty (every candidate needs text)")
            candidates += [Candidate(i, clean(s), clean(context)) for i, s in zip(ids, sentences)]
            for qa in qas:
                try:
                    start = qa["answers"][0]["answer_start"]
                    sid, text = qa["id"], qa["question"]
                except (KeyError, IndexError, TypeError):
                    raise InputError(f"{where}: a question lacks id, question or answers[0].answer_start") from None
                check_id(str(sid), "question id", where)  # it becomes the qid <lang>-<id> of every TREC file
                if not clean(text):  # an empty topic: bm25 would fail on it, dense only after encoding everything
                    raise InputError(f"{where}: question {sid} is empty (whitespace only)")
                hit = [i for i, (b, e) in zip(ids, breaks) if b <= start < e]
                if len(hit) != 1:
                    raise InputError(f"{where}: answer_start {start} of question {sid} is in no sentence")
                questions.append(Question(f"{lang}-{sid}", sid, clean(text), hit[0]))
    if not questions:
        raise InputError(f"{path}: no questions found")
    return candidates, questions


def convert_lareqa(dataset: str, spec: dict, root: Path, out: Path) -> dict:
    warnings: list[str] = []
    langs = list(spec["languages"])
    by_lang: dict[str, tuple[list[Candidate], list[Question]]] = {}
    sources = {}
    for lang in langs:
        lspec = spec["languages"][lang]
        path = root / lspec["file"]
        sources[lang] = {"file": lspec["file"],
                         "sha256": verify_source(path, lspec.get("sha256"), warnings, origin_name(spec))}
        by_lang[lang] = parse_lareqa(path, lang)
    unchecked = [x for x in langs if not spec["languages"][x].get("sha256")]
    warnings += unchecked_warning(dataset, spec, unchecked)

    # source id -> {lang: answer docid}: the relevant candidate of each translation of a question
    answers: dict[str, dict[str, str]] = {}
    for lang, (_, questions) in by_lang.items():
        for q in questions:
            if lang in answers.setdefault(q.source_id, {}):
                raise InputError(f"{root / spec['languages'][lang]['file']}: question id {q.source_id} appears twice")
            answers[q.source_id][lang] = q.answer_docid

    counts, settings = {}, {"mono": 0, "cross": 0, "multilingual": 0}
    for lang, (cands, questions) in by_lang.items():
        counts[lang] = {"questions": len(questions), "candidates": len(cands)}
        write_topics(out / f"topics.{lang}.tsv", [(q.qid, q.text) for q in questions])
        for variant in CORPUS_VARIANTS:  # one docs.jsonl each (size: all in one file); the docid hashes once
            write_corpus(out / "corpus" / variant / lang,
                         ((c.docid, c.sentence if variant == "sentence" else f"{c.sentence}\n{c.context}")
                          for c in cands), len(cands), out / "docids" / f"{lang}.npy" if variant == "sentence" else None)
        for other in langs:
            # X -> Y: only the questions whose id also exists in Y (MLQA-R is partly parallel)
            rows = [(q.qid, answers[q.source_id][other]) for q in questions if other in answers[q.source_id]]
            if rows:
                write_qrels(out / "qrels" / f"{lang}-{other}.txt", rows)
                settings["mono" if other == lang else "cross"] += 1
        pool_rows = [(q.qid, d) for q in questions for _, d in sorted(answers[q.source_id].items())]
        write_qrels(out / "qrels" / f"{lang}-{POOL}.txt", pool_rows)
        settings["multilingual"] += 1
    with open(out / "topics.all.tsv", "w", encoding="utf-8") as f:
        for lang in langs:
            f.write((out / f"topics.{lang}.tsv").read_text(encoding="utf-8"))

    for lang in langs:
        for key in ("questions", "candidates"):
            want = spec["languages"][lang].get(key)
            if want is not None and want != counts[lang][key]:
                warnings.append(f"{dataset}/{lang}: {counts[lang][key]} {key}, manifest expects {want}")
    for key, want in spec.get("settings", {}).items() if len(langs) == len(spec["languages"]) else ():
        if settings[key] != want:
            warnings.append(f"{dataset}: {settings[key]} {key} settings, manifest expects {want}")
    return {"dataset": dataset, "format": "lareqa", "languages": langs, "counts": counts,
            "settings": settings, "corpus_variants": list(CORPUS_VARIANTS), "sources": sources,
            "unchecked": unchecked, "warnings": warnings}



# ---------------------------------------------------------------------------------------------
# Monolingual sets: MIRACL (any of its languages) and plain Pyserini topics + qrels + JsonCollection


def _without_derived(sources: dict) -> dict:
    return {k: {x: y for x, y in v.items() if x not in ("passages_sha256", "files")} for k, v in sources.items()}


@dataclass(frozen=True)
class Converted:
    """A conversion made before: its meta.json and folder, whose languages are carried over unchanged when
    their sources are the same."""

    meta: dict
    directory: Path


def convert_miracl(dataset: str, spec: dict, root: Path, out: Path, source: str = "auto", languages=None,
                   before_this: Converted | None = None, shard: int | None = None) -> dict:
    previous, previous_dir = (before_this.meta, before_this.directory) if before_this else (None, None)
    warnings: list[str] = []
    known = miracl.known_languages(spec)
    present = miracl.present_languages(spec, root)
    where = str(root / spec["dir"]) if spec.get("dir") else str(root)
    others = miracl.other_folders(spec, root)  # el/, xx/: taken only when asked for by name
    if others:
        known += others
        present += [x for x in others if x in (languages or ()) or x in (previous or {}).get("languages", [])]
        left = [x for x in others if x not in present]
        warnings += [miracl.left_out(where, left)] if left else []
    before = [x for x in (previous or {}).get("languages", []) if x in known]
    if spec.get("source") == "hub" and not languages:
        if not before:
            raise InputError(f"{dataset}: name the languages to convert (--languages, of {', '.join(known)}): "
                             "each one is a whole Wikipedia from the hub")
        languages = before
    langs = pick_languages(dataset, known, present, languages, before, where, warnings)
    counts, sources, unchecked = {}, {}, []
    for lang in langs:
        lspec = miracl.language_spec(spec, lang)
        src = miracl._sources(lspec, root, source, spec.get("source") == "hub")
        expected = lspec.get("sha256") or {}
        old = (previous or {}).get("sources", {}).get(lang)
        if previous_dir is not None and old and _without_derived(old) == src and lang in previous["counts"]:
            miracl.carry(lang, previous_dir, out)
            sources[lang], counts[lang] = old, previous["counts"][lang]
        else:
            counts[lang] = miracl.convert_language(lang, lspec, src, root, out, shard)
            sources[lang] = src
        warnings += miracl.dropped_judgements(lang, lspec, src, counts[lang], root)
        local = [k for k in ("corpus", "topics", "qrels") if "sha256" in src[k]]
        for k in local:
            if expected.get(k) and expected[k] != src[k]["sha256"]:
                warnings.append(f"{root / lspec[k]}: checksum differs from {origin_name(spec)} (other data; counts may differ)")
        if local and not all(expected.get(k) for k in local):
            unchecked.append(lang)
        for key, mkey in (("questions", "queries"), ("candidates", "passages")):
            want = lspec.get(mkey)
            if want is not None and want != counts[lang][key] and "file" in src["topics"]:
                warnings.append(f"{dataset}/{lang}: {counts[lang][key]} {key}, {origin_name(spec)} expects {want}")
    warnings += unchecked_warning(dataset, spec, unchecked)
    return {"dataset": dataset, "format": "miracl", "languages": langs, "counts": counts,
            "settings": {"mono": len(langs)}, "corpus_variants": list(CORPUS_VARIANTS), "sources": sources,
            "unchecked": unchecked, "warnings": warnings}


def convert_pyserini(dataset: str, spec: dict, root: Path, out: Path, languages=None, shard: int | None = None) -> dict:
    """A user's own Pyserini files per language: TSV topics, TREC qrels, a JsonCollection (monolingual)."""
    warnings: list[str] = []
    known = list(spec["languages"])
    langs = pick_languages(dataset, known, known, languages, [], origin_name(spec), warnings)
    counts, sources = {}, {}
    for lang in langs:
        lspec = spec["languages"][lang]
        expected = lspec.get("sha256") or {}
        sources[lang] = {k: {"file": lspec[k], "sha256": verify_source(root / lspec[k], expected.get(k), warnings,
                                                                        origin_name(spec))}
                         for k in ("topics", "qrels")}
        topics, qrels = read_topics(root / lspec["topics"]), read_qrels(root / lspec["qrels"])
        if not any(q in qrels for q in topics):
            raise InputError(f"{root / lspec['qrels']}: no judged query is among the topics of {root / lspec['topics']}")
        judged, found = {d for docs in qrels.values() for d in docs}, set()  # as MIRACL's: judged docids seen
        passages = noting_judged(read_json_collection(root / lspec["corpus"]), judged, found)
        written = write_corpus(out / "corpus" / "sentence" / lang, passages, shard, out / "docids" / f"{lang}.npy")
        kept, qrels, dropped = miracl.keep_judged(topics.items(), qrels, found, root / lspec["qrels"], lang,
                                                  root / lspec["corpus"])
        write_topics(out / f"topics.{lang}.tsv", kept)
        (out / "corpus" / "context").mkdir(parents=True, exist_ok=True)
        (out / "corpus" / "context" / lang).symlink_to(Path("..") / "sentence" / lang)
        sources[lang]["corpus"] = {"file": lspec["corpus"], "passages_sha256": written["sha256"]}
        if expected.get("corpus") and expected["corpus"] != written["sha256"]:
            warnings.append(f"{root / lspec['corpus']}: passages' checksum differs from {origin_name(spec)}")
        write_qrels(out / "qrels" / f"{lang}-{lang}.txt",
                    [(q, d) for q, judged in qrels.items() for d, rel in judged.items() if rel > 0])
        counts[lang] = {"questions": len(kept), "candidates": written["passages"],
                        "topics_without_qrels": len(topics) - len(kept),
                        **({"judgements_without_passage": dropped} if dropped else {})}
        warnings += miracl.dropped_judgements(lang, lspec, sources[lang], counts[lang], root)
    unchecked = [x for x in langs if not spec["languages"][x].get("sha256")]
    warnings += unchecked_warning(dataset, spec, unchecked)
    return {"dataset": dataset, "format": "pyserini", "languages": langs, "counts": counts,
            "settings": {"mono": len(langs)}, "corpus_variants": list(CORPUS_VARIANTS), "sources": sources,
            "unchecked": unchecked, "warnings": warnings}


def convert(dataset: str, data: str | Path | None = None, topics_dir: Path | None = None,
            miracl_source: str = "auto", quiet: bool = False, languages=None, shard_size: int | None = None) -> dict:
    """Convert one dataset into ``topics/<dataset>/``; the directory appears whole or not at all.

    ``languages``: for MIRACL, NTREX and Pyserini-format sets, the languages to convert (added to those
    converted before); LAReQA sets are always converted whole (their pool needs every language)."""
    spec = dataset_spec(dataset, data)
    root = Path(spec["root"]) if spec.get("root") else data_dir(data)
    if spec.get("root") and not root.is_dir():
        raise InputError(f"{root}: directory of {spec['origin']} not found")
    if languages and spec["format"] == "lareqa":
        known = known_languages(dataset, data=data)
        unknown = [x for x in languages if x not in known]
        if unknown:
            raise InputError(f"{dataset}: unknown language code {', '.join(unknown)} (known: {', '.join(known)})")
    target = converted_dir(dataset, topics_dir)
    with output_lock(target, "topic conversion", wait=True):  # one writer; a killed one's temporaries go
        previous = load_meta_if_any(target)
        with atomic_directory(target) as out:
            if spec["format"] == "lareqa":
                meta = convert_lareqa(dataset, spec, root, out)
            elif spec["format"] == "ntrex":  # NTREX-128: X->en, en->X and the pool (data/ntrex.py)
                meta = convert_ntrex(dataset, spec, root, out, languages, previous)
            elif spec["format"] == "miracl":
                meta = convert_miracl(dataset, spec, root, out, miracl_source, languages,
                                      Converted(previous, target) if previous else None, shard_size)
            else:
                meta = convert_pyserini(dataset, spec, root, out, languages, shard_size)
            meta["data_dir"] = str(root)
            if spec.get("origin"):
                meta["topic_set_file"] = spec["origin"]
            write_json(out / "meta.json", meta)
    if not quiet:
        for w in meta["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
    return meta


def load_meta_if_any(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_meta(dataset: str, topics_dir: Path | None = None, data: str | Path | None = None,
              auto_convert: bool = True, languages=None) -> dict:
    """The converted set's meta.json, converting first when it is missing or lacks a requested language
    that a monolingual set can have (MIRACL: converting adds it, when it is in the data)."""
    path = converted_dir(dataset, topics_dir) / "meta.json"
    meta = load_json(path) if path.is_file() else None
    languages = named_languages(dataset, languages, None, data)
    if meta is not None and languages and meta["format"] != "lareqa":
        known = known_languages(dataset, data)
        if any(x in known and x not in meta["languages"] for x in languages):
            meta = None
    if meta is None:
        if not auto_convert:
            raise InputError(f"{path}: not converted yet (run: python -m pyserini_hybrid.topics convert {dataset})")
        spec = dataset_spec(dataset, data)
        with output_lock(path.parent, "topic conversion", wait=True):  # another command may be converting it
            meta = load_json(path) if path.is_file() else None
            if meta is None or (languages and meta["format"] != "lareqa" and
                                any(x in known_languages(dataset, data) and x not in meta["languages"]
                                    for x in languages)):
                convert(dataset, data, topics_dir, languages=languages if spec["format"] != "lareqa" else None)
                meta = load_json(path)
    return meta
