"""Batch samplers: X-X-mono, X-Y and hybrid(α). They yield row indices (no model, no text).

- ``MonolingualBatches``: one language X per batch, chosen uniformly among the dataset's languages
  (as in the paper); queries and positives both in X.
- ``CrossLingualBatches``: one ordered pair (X, Y), X ≠ Y, chosen uniformly among the pairs with enough
  shared groups; queries in X, positives the Y translations of the same groups.
- ``HybridBatchSampler``: per batch, X-X with probability α, else X-Y; the dataset is drawn in proportion
  to its size among those that can serve the type (monolingual-only datasets feed only X-X batches).

No batch holds two pairs of one group (translations are false negatives) or two equal positives (two
questions on one sentence). Rows are consumed from per-stream permutations that depend only on
(seed, stream, epoch), so the whole state is a few integers and a numpy generator state; it is saved in
checkpoints. For data parallelism every rank draws the same global batch (same seed, same state) and
keeps its own slice, so batch type and languages agree across ranks at every step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from .pairs import PairSet

MONO, CROSS = "mono", "cross"


@dataclass(frozen=True)
class Batch:
    kind: str              # "mono" or "cross"
    dataset: str
    query_lang: str
    passage_lang: str
    queries: list[int]     # rows whose question is the query
    positives: list[int]   # rows whose answer sentence is the positive (same group, passage language)

    def shard(self, rank: int, world: int) -> "Batch":
        per = len(self.queries) // world
        part = slice(rank * per, (rank + 1) * per)
        return Batch(self.kind, self.dataset, self.query_lang, self.passage_lang, self.queries[part],
                     self.positives[part])


class Streams:
    """Endless per-key passes over item lists, each pass a permutation seeded by (seed, key, epoch)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.cursor: dict[str, list[int]] = {}   # key -> [epoch, position]
        self._perm: dict[str, tuple[int, np.ndarray]] = {}

    def _permutation(self, key: str, epoch: int, n: int) -> np.ndarray:
        cached = self._perm.get(key)
        if cached is None or cached[0] != epoch:
            salt = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
            cached = (epoch, np.random.default_rng([self.seed, salt, epoch]).permutation(n))
            self._perm[key] = cached
        return cached[1]

    def take(self, key: str, n_items: int, count: int, accept) -> list[int]:
        """``count`` item positions accepted by ``accept`` (a rejected item is passed over this epoch)."""
        epoch, pos = self.cursor.get(key, [0, 0])
        out, seen = [], 0
        while len(out) < count:
            if pos == n_items:
                epoch, pos = epoch + 1, 0
            item = int(self._permutation(key, epoch, n_items)[pos])
            pos += 1
            seen += 1
            if accept(item):
                out.append(item)
            elif seen > 2 * n_items:
                raise InputError(f"cannot fill a batch of {count} from {key}: too few distinct groups")
        self.cursor[key] = [epoch, pos]
        return out

    def state_dict(self) -> dict:
        return {"seed": self.seed, "cursor": {k: list(v) for k, v in self.cursor.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.seed = state["seed"]
        self.cursor = {k: list(v) for k, v in state["cursor"].items()}
        self._perm.clear()


class _NoDuplicates:
    """Accepts a row unless its group or its positive text is already in the batch."""

    def __init__(self, pairs: PairSet):
        self.pairs, self.groups, self.positives = pairs, set(), set()

    def __call__(self, row: int, positive_row: int | None = None) -> bool:
        group, positive = self.pairs.group[row], self.pairs.positive(row if positive_row is None else positive_row)
        if group in self.groups or positive in self.positives:
            return False
        self.groups.add(group)
        self.positives.add(positive)
        return True


class MonolingualBatches:
    """X-X: one language per batch."""

    def __init__(self, pairs: PairSet, rows: list[int], batch_size: int, streams: Streams):
        self.pairs, self.batch_size, self.streams = pairs, batch_size, streams
        self.rows: dict[str, dict[str, list[int]]] = {}
        for r in rows:
            if pairs.positive_lang[r] == pairs.lang[r]:  # a pre-made X-Y pair serves X-Y batches only
                self.rows.setdefault(pairs.dataset[r], {}).setdefault(pairs.lang[r], []).append(r)
        for dataset, by_lang in self.rows.items():
            for lang, items in by_lang.items():
                if len(items) < batch_size:
                    raise InputError(f"{dataset}/{lang}: {len(items)} training pairs, fewer than the batch size "
                                     f"{batch_size}; lower the batch size or leave the language out")

    def datasets(self) -> list[str]:
        return sorted(self.rows)

    def draw(self, rng: np.random.Generator, dataset: str) -> Batch:
        langs = sorted(self.rows[dataset])
        lang = langs[int(rng.integers(len(langs)))]
        items = self.rows[dataset][lang]
        fresh = _NoDuplicates(self.pairs)
        picked = self.streams.take(f"{MONO}|{dataset}|{lang}", len(items), self.batch_size,
                                   lambda i: fresh(items[i]))
        rows = [items[i] for i in picked]
        return Batch(MONO, dataset, lang, lang, rows, rows)


class CrossLingualBatches:
    """X-Y: one ordered language pair per batch, over the groups present in both languages."""

    def __init__(self, pairs: PairSet, rows: list[int], batch_size: int, streams: Streams):
        self.pairs, self.batch_size, self.streams = pairs, batch_size, streams
        by_group: dict[str, dict[str, dict[str, int]]] = {}
        made: dict[str, dict[tuple[str, str], list[tuple[int, int]]]] = {}  # pre-made X-Y pairs (records)
        for r in rows:
            d, x, y = pairs.dataset[r], pairs.lang[r], pairs.positive_lang[r]
            if x != y:
                made.setdefault(d, {}).setdefault((x, y), []).append((r, r))
            elif d in pairs.parallel:
                by_group.setdefault(d, {}).setdefault(pairs.group[r], {})[x] = r
        self.shared: dict[str, dict[tuple[str, str], list[tuple[int, int]]]] = {}
        for dataset in sorted(set(by_group) | set(made)):
            groups = by_group.get(dataset, {})
            langs = sorted({x for g in groups.values() for x in g} | {x for p in made.get(dataset, {}) for x in p})
            for x in langs:
                for y in langs:
                    if x != y:
                        both = [(g[x], g[y]) for _, g in sorted(groups.items()) if x in g and y in g]
                        both += made.get(dataset, {}).get((x, y), [])
                        if len(both) >= batch_size:
                            self.shared.setdefault(dataset, {})[(x, y)] = both

    def datasets(self) -> list[str]:
        return sorted(self.shared)

    def draw(self, rng: np.random.Generator, dataset: str) -> Batch:
        pairs = sorted(self.shared[dataset])
        x, y = pairs[int(rng.integers(len(pairs)))]
        items = self.shared[dataset][(x, y)]
        fresh = _NoDuplicates(self.pairs)
        picked = self.streams.take(f"{CROSS}|{dataset}|{x}|{y}", len(items), self.batch_size,
                                   lambda i: fresh(items[i][0], items[i][1]))
        return Batch(CROSS, dataset, x, y, [items[i][0] for i in picked], [items[i][1] for i in picked])


class HybridBatchSampler:
    """X-X with probability α, else X-Y; α = 1 is the X-X-mono baseline, α = 0 the X-Y one."""

    def __init__(self, pairs: PairSet, rows: list[int], batch_size: int, alpha: float = 0.5, seed: int = 0):
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha must lie in [0, 1], got {alpha}")
        self.alpha, self.seed = float(alpha), seed
        self.streams = Streams(seed)
        self.mono = MonolingualBatches(pairs, rows, batch_size, self.streams) if alpha > 0 else None
        self.cross = CrossLingualBatches(pairs, rows, batch_size, self.streams) if alpha < 1 else None
        if self.cross is not None and not self.cross.datasets():
            raise InputError(f"X-Y batches need a parallel dataset with two languages sharing at least {batch_size} "
                             f"questions; the chosen data has none (alpha={alpha})")
        size: dict[str, int] = {}
        for r in rows:
            size[pairs.dataset[r]] = size.get(pairs.dataset[r], 0) + 1
        self.sizes = size
        self.rng = np.random.default_rng(seed)
        self.drawn = 0

    def _dataset(self, source) -> str:
        names = source.datasets()
        weights = np.array([self.sizes[d] for d in names], dtype=float)
        return names[int(self.rng.choice(len(names), p=weights / weights.sum()))]

    def next_batch(self) -> Batch:
        kind = MONO if self.rng.random() < self.alpha else CROSS
        source = self.mono if kind == MONO else self.cross
        self.drawn += 1
        return source.draw(self.rng, self._dataset(source))

    def __iter__(self):
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"alpha": self.alpha, "drawn": self.drawn, "rng": self.rng.bit_generator.state,
                "streams": self.streams.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["alpha"] != self.alpha:
            raise InputError(f"checkpoint sampler has alpha {state['alpha']}, the recipe {self.alpha}")
        self.drawn = state["drawn"]
        self.rng.bit_generator.state = state["rng"]
        self.streams.load_state_dict(state["streams"])


def validation_batches(pairs: PairSet, rows: list[int], batch_size: int, seed: int = 0) -> list[Batch]:
    """A fixed set, the same for every α: one X-X batch per (dataset, language), one X-Y per ordered pair.

    Languages or pairs with fewer held-out rows than the batch size get a smaller batch (all they have)."""
    out = []
    rng = np.random.default_rng(seed)
    by: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        if pairs.positive_lang[r] == pairs.lang[r]:
            by.setdefault((pairs.dataset[r], pairs.lang[r]), []).append(r)
    for (dataset, lang), items in sorted(by.items()):
        chosen, fresh = [], _NoDuplicates(pairs)
        for i in rng.permutation(len(items)):
            if len(chosen) < batch_size and fresh(items[i]):
                chosen.append(items[i])
        if len(chosen) >= 2:
            out.append(Batch(MONO, dataset, lang, lang, chosen, chosen))
    try:
        cross = CrossLingualBatches(pairs, rows, 2, Streams(seed))
    except InputError:
        return out
    for dataset in cross.datasets():
        for (x, y), items in sorted(cross.shared[dataset].items()):
            chosen, fresh = [], _NoDuplicates(pairs)
            for i in rng.permutation(len(items)):
                if len(chosen) < batch_size and fresh(*items[i]):
                    chosen.append(items[i])
            out.append(Batch(CROSS, dataset, x, y, [a for a, _ in chosen], [b for _, b in chosen]))
    return out
