"""Conversion of topic sets into Pyserini's file conventions: LAReQA (XQuAD-R, MLQA-R) and MIRACL.

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
    require_file,
    sha256,
    write_json,
)
from ..core.trec import clean, read_qrels, read_topics, write_qrels, write_topics
from .topic_sets import CORPUS_VARIANTS, POOL, converted_dir, dataset_spec

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
    try:
        articles = data["data"]
    except (TypeError, KeyError):
        raise InputError(f"{path}: not a LAReQA/SQuAD file (no top-level 'data' list)") from None
    candidates, questions = [], []
    for a, article in enumerate(articles):
        for p, para in enumerate(article.get("paragraphs", [])):
            where = f"{path}: article {a} paragraph {p}"
            try:
                context, sentences, breaks, qas = (
                    para["context"], para["sentences"], para["sentence_breaks"], para["qas"])
            except KeyError as e:
                raise InputError(f"{where}: missing field {e.args[0]!r} (LAReQA files have sentences "
                                 "and sentence_breaks per paragraph)") from None
            if len(sentences) != len(breaks):
                raise InputError(f"{where}: {len(sentences)} sentences but {len(breaks)} sentence_breaks")
            ids = [f"{lang}-{a}-{p}-{s}" for s in range(len(sentences))]
            candidates += [Candidate(i, clean(s), clean(context)) for i, s in zip(ids, sentences)]
            for qa in qas:
                try:
                    start = qa["answers"][0]["answer_start"]
                    sid, text = qa["id"], qa["question"]
                except (KeyError, IndexError, TypeError):
                    raise InputError(f"{where}: a question lacks id, question or answers[0].answer_start") from None
                hit = [i for i, (b, e) in zip(ids, breaks) if b <= start < e]
                if len(hit) != 1:
                    raise InputError(f"{where}: answer_start {start} of question {sid} is in no sentence")
                questions.append(Question(f"{lang}-{sid}", sid, clean(text), hit[0]))
    if not questions:
        raise InputError(f"{path}: no questions found")
    return candidates, questions


def write_corpus(path: Path, docs) -> None:
    """docs: (docid, contents) pairs, as a Pyserini JsonCollection file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for docid, contents in docs:
            f.write(json.dumps({"id": docid, "contents": contents}, ensure_ascii=False) + "\n")


def _verify_source(path: Path, expected_sha: str | None, warnings: list[str]) -> str:
    digest = sha256(require_file(path))
    if expected_sha and digest != expected_sha:
        warnings.append(f"{path}: checksum differs from topics/manifest.json (other data; counts may differ)")
    return digest


def convert_lareqa(dataset: str, spec: dict, root: Path, out: Path) -> dict:
    warnings: list[str] = []
    langs = list(spec["languages"])
    by_lang: dict[str, tuple[list[Candidate], list[Question]]] = {}
    sources = {}
    for lang in langs:
        lspec = spec["languages"][lang]
        path = root / lspec["file"]
        sources[lang] = {"file": lspec["file"], "sha256": _verify_source(path, lspec.get("sha256"), warnings)}
        by_lang[lang] = parse_lareqa(path, lang)

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
        for variant in CORPUS_VARIANTS:
            write_corpus(out / "corpus" / variant / lang / "docs.jsonl",
                         ((c.docid, c.sentence if variant == "sentence" else f"{c.sentence}\n{c.context}")
                          for c in cands))
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
    for key, want in spec.get("settings", {}).items():
        if settings[key] != want:
            warnings.append(f"{dataset}: {settings[key]} {key} settings, manifest expects {want}")
    return {"dataset": dataset, "format": "lareqa", "languages": langs, "counts": counts,
            "settings": settings, "corpus_variants": list(CORPUS_VARIANTS), "sources": sources,
            "warnings": warnings}


# ---------------------------------------------------------------------------------------------
# MIRACL


def load_miracl_corpus(path: Path | None, hub: list[str] | None):
    """MIRACL passages through ``datasets``: a local corpus.jsonl, else the hub dataset (needs a network)."""
    import datasets

    if path is not None and path.is_file():
        _check_jsonl(path)
        return datasets.load_dataset("json", data_files=str(path), split="train")
    if hub:
        return datasets.load_dataset(*hub, split="train")
    raise InputError(f"{path}: MIRACL corpus not found")


def _check_jsonl(path: Path) -> None:
    """Fail on the first unreadable line by number (datasets' own error hides the file and line)."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: malformed or truncated JSON on line {n} ({e.msg})") from None
            if not isinstance(doc, dict) or not {"docid", "text"} <= doc.keys():
                raise InputError(f"{path}: line {n} lacks docid/text (MIRACL corpus layout)")


def _bundled_miracl(name: str):
    """Pyserini's own MIRACL topics and qrels (Anserini fetches them from GitHub: needs a network)."""
    from ..pyserini_glue.java import configure

    configure()
    try:
        from pyserini.search import get_qrels_file, get_topics

        topics = get_topics(name)
        return ([(str(q), clean(t["title"])) for q, t in topics.items()], Path(get_qrels_file(name)))
    except Exception as e:  # noqa: BLE001 - pyjnius raises JavaException; say what failed in one line
        raise InputError(f"Pyserini topics {name}: not available ({str(e).splitlines()[0]})") from None


def convert_miracl(dataset: str, spec: dict, root: Path, out: Path, source: str = "auto") -> dict:
    warnings: list[str] = []
    langs = list(spec["languages"])
    counts, sources = {}, {}
    for lang in langs:
        lspec = spec["languages"][lang]
        files = {k: root / lspec[k] for k in ("corpus", "topics", "qrels")}
        use_files = source == "files" or (source == "auto" and files["topics"].is_file())
        if use_files:
            topics = list(read_topics(files["topics"]).items())
            qrels_path = files["qrels"]
            sources[lang] = {k: {"file": lspec[k], "sha256": _verify_source(p, lspec["sha256"][k], warnings)}
                             for k, p in files.items()}
        else:
            topics, qrels_path = _bundled_miracl(lspec["bundled_topics"])
            sources[lang] = {"topics": lspec["bundled_topics"]}
        qrels = read_qrels(qrels_path)
        corpus = load_miracl_corpus(files["corpus"], lspec.get("hub_corpus"))
        write_topics(out / f"topics.{lang}.tsv", [(q, t) for q, t in topics if q in qrels])
        contents = ((d["docid"], clean(f"{d.get('title') or ''} {d['text']}")) for d in corpus)
        docs = list(contents)
        for variant in CORPUS_VARIANTS:  # passages have no separate context; both names point at them
            write_corpus(out / "corpus" / variant / lang / "docs.jsonl", docs)
        write_qrels(out / "qrels" / f"{lang}-{lang}.txt",
                         [(q, d) for q, judged in qrels.items() for d, rel in judged.items() if rel > 0])
        # keep graded/negative judgements too: copy the qrels as given for users who want them
        (out / "qrels" / f"{lang}-{lang}.judged.txt").write_text(
            "".join(f"{q} 0 {d} {r}\n" for q, judged in qrels.items() for d, r in judged.items()), encoding="utf-8")
        n_topics = sum(1 for q, _ in topics if q in qrels)
        counts[lang] = {"questions": n_topics, "candidates": len(docs)}
        for key, mkey in (("questions", "queries"), ("candidates", "passages")):
            want = lspec.get(mkey)
            if want is not None and want != counts[lang][key] and use_files:
                warnings.append(f"{dataset}/{lang}: {counts[lang][key]} {key}, manifest expects {want}")
    return {"dataset": dataset, "format": "miracl", "languages": langs, "counts": counts,
            "settings": {"mono": len(langs)}, "corpus_variants": list(CORPUS_VARIANTS),
            "sources": sources, "warnings": warnings}


def convert(dataset: str, data: str | Path | None = None, topics_dir: Path | None = None,
            miracl_source: str = "auto", quiet: bool = False) -> dict:
    """Convert one dataset into ``topics/<dataset>/``; the directory appears whole or not at all."""
    spec = dataset_spec(dataset)
    root = data_dir(data)
    with atomic_directory(converted_dir(dataset, topics_dir)) as out:
        if spec["format"] == "lareqa":
            meta = convert_lareqa(dataset, spec, root, out)
        else:
            meta = convert_miracl(dataset, spec, root, out, miracl_source)
        meta["data_dir"] = str(root)
        write_json(out / "meta.json", meta)
    if not quiet:
        for w in meta["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
    return meta
