"""MIRACL in all its 18 languages: where each language's corpus, topics and qrels come from, and their
conversion into Pyserini files (streamed: a corpus never sits in memory at once).

Per language, from local files in MIRACL layout (``<dir>/<lang>/corpus.jsonl``, ``topics.dev.tsv``,
``qrels.dev.tsv``) where they exist, else from the network: the corpus through ``datasets``
(``miracl/miracl-corpus``, ``miracl-corpus-v1.0-<lang>/docs-*.jsonl.gz``, streamed; a local copy of that
repository can stand in, ``$PYSERINI_HYBRID_MIRACL_HUB=DIR``), topics and qrels from Pyserini's bundled
``miracl-v1.0-<lang>-dev`` (Anserini fetches them into ``~/.cache/pyserini/topics-and-qrels``). BM25 can use
Pyserini's prebuilt ``miracl-v1.0-<lang>`` Lucene index instead of indexing (``retrieval.bm25``).
Checksums exist for the shared copies only (``topics/manifest.json``); other data is warned about, its
own checksum recorded in ``meta.json`` and its counts taken from the files.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import sha256
from ..core.trec import clean, read_qrels, read_topics, write_qrels, write_topics
from .analyzers import anserini_analyzer
from .corpus import link_tree, write_corpus

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
    """(docid, contents) of MIRACL passages through ``datasets``, streamed: a local corpus.jsonl, else the
    hub dataset (needs a network, or ``$PYSERINI_HYBRID_MIRACL_HUB``). Contents = title + text."""
    import datasets

    if path is not None and path.is_file():
        _check_jsonl(path)
        where, files = str(path), str(path)
    elif hub:
        where = files = hub_data_files(hub)
    else:
        raise InputError(f"{path}: MIRACL corpus not found")
    try:
        stream = datasets.load_dataset("json", data_files=files, split="train", streaming=True)
        for d in stream:
            yield d["docid"], clean(f"{d.get('title') or ''} {d['text']}")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - offline, missing files, a dropped connection: one line
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{where}: MIRACL corpus not readable through datasets ({type(e).__name__}: {reason}); "
                         f"the hub needs a network (unset HF_DATASETS_OFFLINE/HF_HUB_OFFLINE) or a local copy "
                         f"(${HUB_ENV}=DIR)") from None


def _check_jsonl(path: Path) -> None:
    """Fail on the first unreadable line by number (datasets' own error hides the file and line)."""
    import json

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


def bundled(name: str):
    """Pyserini's own MIRACL topics and qrels (Anserini fetches them from GitHub once: needs a network)."""
    from ..pyserini_glue.java import configure

    configure()
    try:
        from pyserini.search import get_qrels_file, get_topics

        with _quiet_fds():  # Anserini logs its downloads to the process's stdout
            topics = get_topics(name)
            qrels = Path(get_qrels_file(name))
        return [(str(q), clean(t["title"])) for q, t in topics.items()], qrels
    except Exception as e:  # noqa: BLE001 - pyjnius raises JavaException; say what failed in one line
        raise InputError(f"Pyserini topics {name}: not available ({str(e).splitlines()[0]}; "
                         "Anserini downloads them into ~/.cache/pyserini/topics-and-qrels: needs a network)") from None


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
    """One language into ``out``: topics (those with judgements), qrels, corpus shards; its counts."""
    if "bundled" in sources["topics"]:
        topics, qrels_file = bundled(sources["topics"]["bundled"])
    else:
        topics, qrels_file = list(read_topics(root / lspec["topics"]).items()), root / lspec["qrels"]
    qrels = read_qrels(qrels_file)
    kept = [(q, t) for q, t in topics if q in qrels]
    if not kept:
        raise InputError(f"{qrels_file}: no judged query is among the topics of {lang} (topics and qrels do not match)")
    write_topics(out / f"topics.{lang}.tsv", kept)
    corpus = root / lspec["corpus"] if "file" in sources["corpus"] else None
    written = write_corpus(out / "corpus" / "sentence" / lang, stream_passages(corpus, lspec.get("hub_corpus")), shard)
    (out / "corpus" / "context").mkdir(parents=True, exist_ok=True)  # passages have no separate context
    (out / "corpus" / "context" / lang).symlink_to(Path("..") / "sentence" / lang)
    write_qrels(out / "qrels" / f"{lang}-{lang}.txt",
                [(q, d) for q, judged in qrels.items() for d, rel in judged.items() if rel > 0])
    # graded and negative judgements too, as given, for users who want them
    (out / "qrels" / f"{lang}-{lang}.judged.txt").write_text(
        "".join(f"{q} 0 {d} {r}\n" for q, judged in qrels.items() for d, r in judged.items()), encoding="utf-8")
    sources["corpus"] |= {"passages_sha256": written["sha256"], "files": written["files"]}
    return {"questions": len(kept), "candidates": written["passages"], "topics_without_qrels": len(topics) - len(kept)}


def carry(lang: str, previous: Path, out: Path) -> None:
    """Hard-link a language converted before (same sources) into the new conversion instead of streaming it again."""
    names = [f"topics.{lang}.tsv", f"corpus/sentence/{lang}", f"corpus/context/{lang}", f"qrels/{lang}-{lang}.txt",
             f"qrels/{lang}-{lang}.judged.txt"]
    for name in names:
        src, dst = previous / name, out / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            link_tree(src, dst)
        else:
            os.link(src, dst)
