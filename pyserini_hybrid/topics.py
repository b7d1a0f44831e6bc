"""Topic sets: XQuAD-R, MLQA-R (LAReQA format) and MIRACL converted to Pyserini's file conventions.

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

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError, cli
from .files import PROJECT_ROOT, atomic_directory, data_dir, load_json, require_file, sha256, write_json

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


def clean(text: str) -> str:
    """One line of text: TSV topics and JSON contents must not carry tabs or newlines."""
    return re.sub(r"\s+", " ", text).strip()


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


def write_trec_qrels(path: Path, rows) -> None:
    """rows: (qid, docid) pairs, all judged relevant (1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for qid, docid in rows:
            f.write(f"{qid} 0 {docid} 1\n")


def write_topics_tsv(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for qid, text in rows:
            f.write(f"{qid}\t{text}\n")


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
        write_topics_tsv(out / f"topics.{lang}.tsv", [(q.qid, q.text) for q in questions])
        for variant in CORPUS_VARIANTS:
            write_corpus(out / "corpus" / variant / lang / "docs.jsonl",
                         ((c.docid, c.sentence if variant == "sentence" else f"{c.sentence}\n{c.context}")
                          for c in cands))
        for other in langs:
            # X -> Y: only the questions whose id also exists in Y (MLQA-R is partly parallel)
            rows = [(q.qid, answers[q.source_id][other]) for q in questions if other in answers[q.source_id]]
            if rows:
                write_trec_qrels(out / "qrels" / f"{lang}-{other}.txt", rows)
                settings["mono" if other == lang else "cross"] += 1
        pool_rows = [(q.qid, d) for q in questions for _, d in sorted(answers[q.source_id].items())]
        write_trec_qrels(out / "qrels" / f"{lang}-{POOL}.txt", pool_rows)
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


def _read_tsv_topics(path: Path) -> list[tuple[str, str]]:
    rows = []
    for n, line in enumerate(require_file(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise InputError(f"{path}: line {n} is not 'qid<TAB>query'")
        rows.append((parts[0], clean(" ".join(parts[1:]))))
    return rows


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels (qid iter docid rel) as {qid: {docid: rel}}, with a named error on a bad line."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(require_file(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not re.fullmatch(r"-?\d+", parts[3]):
            raise InputError(f"{path}: line {n} is not a TREC qrels line 'qid iter docid relevance'")
        qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


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
    from .java import configure

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
            topics = _read_tsv_topics(files["topics"])
            qrels_path = files["qrels"]
            sources[lang] = {k: {"file": lspec[k], "sha256": _verify_source(p, lspec["sha256"][k], warnings)}
                             for k, p in files.items()}
        else:
            topics, qrels_path = _bundled_miracl(lspec["bundled_topics"])
            sources[lang] = {"topics": lspec["bundled_topics"]}
        qrels = read_qrels(qrels_path)
        corpus = load_miracl_corpus(files["corpus"], lspec.get("hub_corpus"))
        write_topics_tsv(out / f"topics.{lang}.tsv", [(q, t) for q, t in topics if q in qrels])
        contents = ((d["docid"], clean(f"{d.get('title') or ''} {d['text']}")) for d in corpus)
        docs = list(contents)
        for variant in CORPUS_VARIANTS:  # passages have no separate context; both names point at them
            write_corpus(out / "corpus" / variant / lang / "docs.jsonl", docs)
        write_trec_qrels(out / "qrels" / f"{lang}-{lang}.txt",
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


# ---------------------------------------------------------------------------------------------
# Converted sets: build and resolve


def converted_dir(dataset: str, topics_dir: Path | None = None) -> Path:
    return (topics_dir or TOPICS_DIR) / dataset


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


def load_meta(dataset: str, topics_dir: Path | None = None, data: str | Path | None = None,
              auto_convert: bool = True) -> dict:
    """The converted set's meta.json, converting first when it is missing."""
    path = converted_dir(dataset, topics_dir) / "meta.json"
    if not path.is_file():
        if not auto_convert:
            raise InputError(f"{path}: not converted yet (run: python -m pyserini_hybrid.topics convert {dataset})")
        convert(dataset, data, topics_dir)
    return load_json(path)


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


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.topics", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert datasets into topics/<dataset>/")
    conv.add_argument("datasets", nargs="*", help="default: all in topics/manifest.json")
    conv.add_argument("--data-dir", help="shared data directory (default ../shared/data or $PYSERINI_HYBRID_DATA)")
    conv.add_argument("--topics-dir", type=Path, help="where converted sets go (default topics/)")
    conv.add_argument("--miracl-source", choices=["auto", "files", "bundled"], default="auto",
                      help="MIRACL topics/qrels from the data dir's files or Pyserini's bundled sets (network)")
    sub.add_parser("list", help="list known datasets and languages")
    path = sub.add_parser("path", help="print the file of a named topic set or qrels")
    path.add_argument("name", help="e.g. xquad-r-en (topics), xquad-r-en-de or xquad-r-en-pool (qrels)")
    path.add_argument("--topics-dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "list":
        for name, spec in manifest().items():
            print(f"{name}\t{spec['format']}\t{' '.join(spec['languages'])}")
    elif args.command == "path":
        print(resolve(args.name, args.topics_dir))
    else:
        for dataset in args.datasets or list(manifest()):
            meta = convert(dataset, args.data_dir, args.topics_dir, args.miracl_source)
            total_q = sum(c["questions"] for c in meta["counts"].values())
            total_c = sum(c["candidates"] for c in meta["counts"].values())
            print(f"{dataset}: {len(meta['languages'])} languages, {total_q} topics, {total_c} candidates, "
                  f"settings {meta['settings']} -> {converted_dir(dataset, args.topics_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
