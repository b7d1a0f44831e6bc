"""MIRACL in all its 18 languages: where each language's corpus, topics and qrels come from, and their
conversion into Pyserini files (streamed: a corpus never sits in memory at once).

Per language, from local files in MIRACL layout (``<dir>/<lang>/corpus.jsonl``, ``topics.dev.tsv``,
``qrels.dev.tsv``) where they exist, else from the network: the corpus through ``datasets``
(``miracl/miracl-corpus``, ``miracl-corpus-v1.0-<lang>/docs-*.jsonl.gz``, streamed; a local copy of that
repository can stand in, ``$PYSERINI_HYBRID_MIRACL_HUB=DIR``), topics and qrels from Pyserini's bundled
``miracl-v1.0-<lang>-dev`` (Anserini fetches them into ``~/.cache/pyserini/topics-and-qrels``). BM25 can use
Pyserini's prebuilt ``miracl-v1.0-<lang>`` Lucene index instead of indexing (``retrieval.bm25``).
Checksums exist for the shared copies only (``data/manifest.json``); other data is warned about, its
own checksum recorded in ``meta.json`` and its counts taken from the files.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import read_jsonl, sha256
from ..core.trec import check_id, clean, read_qrels, read_topics, write_qrels, write_topics
from ..pyserini_glue.java import configure
from ..pyserini_glue.versions import pyserini_at_least
from .analyzers import anserini_analyzer
from .corpus import DocidHashes, docid_hash, link_tree, noting_judged, passage_problem, write_corpus

MIRACL_LANGUAGES = ("ar", "bn", "de", "en", "es", "fa", "fi", "fr", "hi", "id", "ja", "ko", "ru", "sw", "te",
                    "th", "yo", "zh")
HUB_REPO = "miracl/miracl-corpus"
HUB_ENV = "PYSERINI_HYBRID_MIRACL_HUB"
LAYOUT = {"corpus": "corpus.jsonl", "topics": "topics.dev.tsv", "qrels": "qrels.dev.tsv"}


def facts(lang: str) -> dict:
    """What Pyserini and the hub call a MIRACL language's parts, and its Anserini analyzer."""
    return {"bundled_topics": f"miracl-v1.0-{lang}-dev", "hub_corpus": [HUB_REPO, lang],
            "prebuilt_index": f"miracl-v1.0-{lang}", "analyzer": anserini_analyzer(lang)}


def known_languages(spec: dict) -> list[str]:
    listed = list(spec.get("languages", {}))
    if spec.get("discover") == "miracl":
        return sorted(set(listed) | set(MIRACL_LANGUAGES))
    return listed


def other_folders(spec: dict, root: Path) -> list[str]:
    """Folders of a MIRACL-layout ``dir`` holding its files under a code that is not a MIRACL language (el/,
    xx/): a set that discovers its languages leaves them out, and says so; ``--languages el`` (or listing
    it in the set's ``languages``) takes one in."""
    if spec.get("discover") != "miracl" or not spec.get("dir"):
        return []
    base = root / spec["dir"]
    known = set(known_languages(spec))
    try:
        folders = sorted(p.name for p in base.iterdir() if p.is_dir())
    except OSError:
        return []
    return [x for x in folders if x not in known and x.isalnum() and x.islower()
            and any((base / x / name).exists() for name in LAYOUT.values())]


def left_out(where: str, folders: list[str]) -> str:
    return (f"{where}: folder(s) {', '.join(folders)} hold MIRACL-layout files but are not MIRACL languages: left "
            f"out (convert them with --languages {' '.join(folders)}, or list them in the set's languages)")


def language_spec(spec: dict, lang: str) -> dict:
    """Defaults (MIRACL layout under ``dir``, Pyserini's and the hub's names) under the spec's own entries."""
    base = facts(lang) if lang in MIRACL_LANGUAGES else {}
    if spec.get("dir"):
        base |= {k: f"{spec['dir']}/{lang}/{name}" for k, name in LAYOUT.items()}
    return base | spec.get("languages", {}).get(lang, {})


def present_languages(spec: dict, root: Path) -> list[str]:
    """Known languages with data here: local files (any of the three; a missing one is then an error by
    name), or, in a hub-sourced set (``source = "hub"``), every MIRACL language: it comes over the network."""
    out = []
    for lang in known_languages(spec):
        lspec = language_spec(spec, lang)
        local = any((root / lspec[k]).exists() for k in LAYOUT if k in lspec)
        remote = spec.get("source") == "hub" and "bundled_topics" in lspec
        if local or remote:
            out.append(lang)
    return out


def hub_data_files(hub: list[str]) -> str:
    """The ``datasets`` data_files pattern of one language of the hub corpus (or of a local copy of it)."""
    repo, lang = hub
    repo = os.environ.get(HUB_ENV) or repo
    base = repo if Path(repo).is_dir() else f"hf://datasets/{repo}"
    return f"{base}/miracl-corpus-v1.0-{lang}/docs-*.jsonl.gz"


def stream_passages(path: Path | None, hub: list[str] | None):
    """(docid, contents) of MIRACL passages through ``datasets``, streamed: a local corpus.jsonl (checked
    line by line first), else the hub dataset (needs a network, or ``$PYSERINI_HYBRID_MIRACL_HUB``).
    Contents = title + text."""
    if path is not None and path.is_file():
        check_corpus(path)
        where, files = str(path), str(path)
    elif hub:
        where = files = hub_data_files(hub)
    else:
        raise InputError(f"{path}: MIRACL corpus not found")
    import datasets

    try:
        stream = datasets.load_dataset("json", data_files=files, split="train", streaming=True)
        for d in stream:  # (datasets fills a key a row lacks with None: a missing title is None here)
            problem = _passage_problem({k: v for k, v in d.items() if not (k == "title" and v is None)})
            if problem:
                raise InputError(f"{where}: passage {d.get('docid')!r}: {problem}")
            yield d["docid"], clean(f"{d.get('title') or ''} {d['text']}")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, missing files, a dropped connection: one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{where}: MIRACL corpus not readable through datasets ({type(e).__name__}: {reason}); "
                         f"the hub needs a network (unset HF_DATASETS_OFFLINE/HF_HUB_OFFLINE) or a local copy "
                         f"(${HUB_ENV}=DIR)") from None


def _passage_problem(doc) -> str | None:
    """What is wrong with one passage object (None: nothing): docid and text strings, title a string if
    given, the docid a TREC token, not empty (``corpus.passage_problem``, shared with every format)."""
    problem = passage_problem(doc, "docid", ("text",), ("title",))
    return f"{problem} (MIRACL corpus layout)" if problem and problem.startswith("lacks") else problem


def check_corpus(path: Path) -> int:
    """Check a local corpus.jsonl before ``datasets`` reads it (its own errors hide the file and line):
    every line JSON with string docid, text and title, no docid twice, at least one passage. Docids are
    remembered as 8-byte hashes (MIRACL en has 32.9 M); only a repeated hash is looked up again."""
    hashes = DocidHashes()
    for n, doc in read_jsonl(path):
        problem = _passage_problem(doc)
        if problem:
            raise InputError(f"{path}:{n}: {problem}")
        hashes.add(doc["docid"])
    if not hashes:
        raise InputError(f"{path}: empty MIRACL corpus (no passages)")
    repeated = hashes.repeated()
    if repeated:
        first: dict[str, int] = {}
        for n, doc in read_jsonl(path):
            if docid_hash(doc["docid"]) in repeated:
                if doc["docid"] in first:
                    raise InputError(f"{path}:{n}: duplicate docid {doc['docid']} (first on line {first[doc['docid']]})")
                first[doc["docid"]] = n
    return len(hashes)


def bundled(name: str):
    """Pyserini's own MIRACL topics and qrels (fetched from GitHub once: needs a network; where they are
    kept depends on the Pyserini version, docs/versions.md)."""
    configure()
    try:
        from pyserini.search import get_qrels_file, get_topics

        with _quiet_fds():  # Anserini logs its downloads to the process's stdout
            topics = get_topics(name)
            qrels = Path(get_qrels_file(name))
        pairs = [(str(q), clean(t["title"])) for q, t in topics.items()]
    except Exception as e:  # noqa: BLE001 - pyjnius raises JavaException; say what failed in one line
        where = ("Pyserini downloads them into $PYSERINI_CACHE/topics and /qrels" if pyserini_at_least(2) else
                 "Anserini downloads them into ~/.cache/pyserini/topics-and-qrels")
        raise InputError(f"Pyserini topics {name}: not available ({str(e).splitlines()[0]}; "
                         f"{where}: needs a network)") from None
    for qid, _ in pairs:  # read here, not through read_topics: checked here
        check_id(qid, "qid", f"Pyserini topics {name}")
    return pairs, qrels


@contextlib.contextmanager
def _quiet_fds():
    """File descriptors 1 and 2 (where the JVM writes) to nowhere for the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _sources(lspec: dict, root: Path, source: str, hub_set: bool) -> dict:
    """Where each part of one language comes from (with checksums of local files)."""
    files = {k: root / lspec[k] for k in LAYOUT if k in lspec}
    out = {}
    local_topics = source != "bundled" and "topics" in files and files["topics"].is_file()
    if local_topics or source == "files" or not lspec.get("bundled_topics"):
        for k in ("topics", "qrels"):
            if k not in files or not files[k].is_file():
                raise InputError(f"{files.get(k, root / lspec.get('dir', ''))}: file not found")
            out[k] = {"file": lspec[k], "sha256": sha256(files[k])}
    else:
        out["topics"] = out["qrels"] = {"bundled": lspec["bundled_topics"]}
    if "corpus" in files and files["corpus"].is_file():
        out["corpus"] = {"file": lspec["corpus"], "sha256": sha256(files["corpus"])}
    elif lspec.get("hub_corpus") and (hub_set or source == "bundled" or not files.get("corpus")):
        out["corpus"] = {"hub": hub_data_files(lspec["hub_corpus"])}
    else:
        raise InputError(f"{files['corpus']}: file not found")
    return out


def convert_language(lang: str, lspec: dict, sources: dict, root: Path, out: Path, shard: int | None) -> dict:
    """One language into ``out``: corpus shards, then the topics with judgements and the qrels, less the
    judgements of docids the corpus lacks (counted: ``judgements_without_passage``); its counts."""
    if "bundled" in sources["topics"]:
        topics, qrels_file = bundled(sources["topics"]["bundled"])
    else:
        topics, qrels_file = list(read_topics(root / lspec["topics"]).items()), root / lspec["qrels"]
    qrels = read_qrels(qrels_file)
    if not any(q in qrels for q, _ in topics):
        raise InputError(f"{qrels_file}: no judged query is among the topics of {lang} (topics and qrels do not match)")
    corpus = root / lspec["corpus"] if "file" in sources["corpus"] else None
    judged, found = {d for docs in qrels.values() for d in docs}, set()
    passages = noting_judged(stream_passages(corpus, lspec.get("hub_corpus")), judged, found)
    written = write_corpus(out / "corpus" / "sentence" / lang, passages, shard, out / "docids" / f"{lang}.npy")
    kept, qrels, dropped = keep_judged(topics, qrels, found, qrels_file, lang, corpus or sources["corpus"].get("hub"))
    write_topics(out / f"topics.{lang}.tsv", kept)
    (out / "corpus" / "context").mkdir(parents=True, exist_ok=True)  # passages have no separate context
    (out / "corpus" / "context" / lang).symlink_to(Path("..") / "sentence" / lang)
    write_qrels(out / "qrels" / f"{lang}-{lang}.txt",
                [(q, d) for q, docs in qrels.items() for d, rel in docs.items() if rel > 0])
    # graded and negative judgements too, as given, for users who want them
    (out / "qrels" / f"{lang}-{lang}.judged.txt").write_text(
        "".join(f"{q} 0 {d} {r}\n" for q, docs in qrels.items() for d, r in docs.items()), encoding="utf-8")
    sources["corpus"] |= {"passages_sha256": written["sha256"], "files": written["files"]}
    return {"questions": len(kept), "candidates": written["passages"], "topics_without_qrels": len(topics) - len(kept),
            **({"judgements_without_passage": dropped} if dropped else {})}


def keep_judged(topics, qrels: dict, found: set, qrels_file, lang: str, corpus) -> tuple[list, dict, int]:
    """The (qid, text) topics that still have a judgement, the judgements whose docid is in the corpus
    (``found``) and how many were dropped. Every format's rule: a judgement of a passage nobody can
    retrieve would score every run lower. No judged passage, or no topic left, is an error."""
    judged = {d for docs in qrels.values() for d in docs}
    if not found:
        raise InputError(f"{qrels_file}: none of its {len(judged)} judged docids is in the corpus of {lang} "
                         f"({corpus}; qrels and corpus do not match)")
    total = sum(len(docs) for docs in qrels.values())
    qrels = {q: kept for q, docs in qrels.items() if (kept := {d: r for d, r in docs.items() if d in found})}
    kept = [(q, t) for q, t in topics if q in qrels]
    if not kept:
        raise InputError(f"{qrels_file}: no query of the topics of {lang} has a judgement of a passage in the corpus")
    return kept, qrels, total - sum(len(docs) for docs in qrels.values())


def dropped_judgements(lang: str, lspec: dict, sources: dict, counts: dict, root: Path) -> list[str]:
    """The warning for judgements that were dropped because the corpus lacks their docid (none: [])."""
    n = counts.get("judgements_without_passage", 0)
    if not n:
        return []
    where = root / lspec["qrels"] if "file" in sources["qrels"] else f"Pyserini qrels {sources['qrels']['bundled']}"
    return [f"{where}: {n} judgement(s) name docids not in the corpus of {lang}; dropped "
            "(counted in meta.json: counts.judgements_without_passage)"]


def carry(lang: str, previous: Path, out: Path) -> None:
    """Hard-link a language converted before (same sources) into the new conversion instead of streaming it again."""
    names = [f"topics.{lang}.tsv", f"corpus/sentence/{lang}", f"corpus/context/{lang}", f"qrels/{lang}-{lang}.txt",
             f"qrels/{lang}-{lang}.judged.txt", f"docids/{lang}.npy"]
    for name in names:
        src, dst = previous / name, out / name
        if name.startswith("docids/") and not src.is_file():
            continue  # converted before the docid list was kept: evaluate reads the corpus instead
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            link_tree(src, dst)
        else:
            os.link(src, dst)
