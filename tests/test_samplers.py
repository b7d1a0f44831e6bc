"""Batch samplers on the real training pairs: no model involved."""

import collections

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.train.pairs import split_validation
from pyserini_hybrid.train.samplers import (
    CROSS,
    MONO,
    HybridBatchSampler,
    validation_batches,
)

BATCH = 16


@pytest.fixture(scope="module")
def rows(training_pairs):
    return split_validation(training_pairs, 2.0)


def draw(pairs, train_rows, alpha, n, seed=7, batch=BATCH):
    sampler = HybridBatchSampler(pairs, train_rows, batch, alpha, seed)
    return [sampler.next_batch() for _ in range(n)]


def test_realised_alpha_within_tolerance(training_pairs, rows):
    for alpha in (0.5, 0.2):
        batches = draw(training_pairs, rows[0], alpha, 2000)
        share = sum(b.kind == MONO for b in batches) / len(batches)
        # binomial sd at n=2000 is ~0.011; 4 sd
        assert abs(share - alpha) < 0.045, (alpha, share)


def test_mono_batches_are_single_language(training_pairs, rows):
    for b in draw(training_pairs, rows[0], 1.0, 300):
        assert b.kind == MONO and b.queries == b.positives and len(b.queries) == BATCH
        assert {training_pairs.lang[i] for i in b.queries} == {b.query_lang}
        assert {training_pairs.dataset[i] for i in b.queries} == {b.dataset}


def test_cross_batches_never_same_language_and_aligned(training_pairs, rows):
    seen = set()
    for b in draw(training_pairs, rows[0], 0.0, 300):
        assert b.kind == CROSS and b.query_lang != b.passage_lang and b.dataset == "squad"
        assert {training_pairs.lang[i] for i in b.queries} == {b.query_lang}
        assert {training_pairs.lang[i] for i in b.positives} == {b.passage_lang}
        # the positive is the translation of the query's own question
        assert [training_pairs.group[i] for i in b.queries] == [training_pairs.group[i] for i in b.positives]
        seen.add((b.query_lang, b.passage_lang))
    assert len(seen) == 12  # all ordered pairs of en, es, it, da


def test_no_duplicate_groups_or_positives_in_a_batch(training_pairs, rows):
    for b in draw(training_pairs, rows[0], 0.5, 500, batch=64):
        groups = [training_pairs.group[i] for i in b.queries]
        positives = [training_pairs.positive(i) for i in b.positives]
        assert len(set(groups)) == len(groups) and len(set(positives)) == len(positives)


def test_dataset_draws_follow_dataset_size(training_pairs, rows):
    train = rows[0]
    size = collections.Counter(training_pairs.dataset[i] for i in train)
    batches = draw(training_pairs, train, 1.0, 3000)
    got = collections.Counter(b.dataset for b in batches)
    for name, n in size.items():
        expected = n / sum(size.values())
        assert abs(got[name] / len(batches) - expected) < 0.03, (name, got[name] / len(batches), expected)
    # monolingual-only datasets never serve X-Y batches
    assert {b.dataset for b in draw(training_pairs, train, 0.0, 200)} == {"squad"}
    # within a dataset the language is uniform (squad: 4 languages)
    langs = collections.Counter(b.query_lang for b in batches if b.dataset == "squad")
    assert max(langs.values()) / min(langs.values()) < 1.3


def test_seeded_deterministic_and_state_resumes(training_pairs, rows):
    a = draw(training_pairs, rows[0], 0.5, 50, seed=3)
    assert a == draw(training_pairs, rows[0], 0.5, 50, seed=3)
    assert a != draw(training_pairs, rows[0], 0.5, 50, seed=4)
    s1 = HybridBatchSampler(training_pairs, rows[0], BATCH, 0.5, 3)
    first = [s1.next_batch() for _ in range(20)]
    state = s1.state_dict()
    rest = [s1.next_batch() for _ in range(30)]
    s2 = HybridBatchSampler(training_pairs, rows[0], BATCH, 0.5, 3)
    s2.load_state_dict(state)
    assert first + [s2.next_batch() for _ in range(30)] == first + rest == a


def test_streams_cover_every_row_before_repeating(training_pairs, rows):
    sampler = HybridBatchSampler(training_pairs, rows[0], BATCH, 1.0, 0)
    ar = [i for i in rows[0] if training_pairs.dataset[i] == "arcd"]
    seen = []
    while True:
        b = sampler.next_batch()
        if sampler.streams.cursor.get("mono|arcd|ar", [0])[0] > 0:
            break  # this batch wrapped into the second pass
        if b.dataset == "arcd":
            seen += b.queries
    assert len(set(seen)) == len(seen)  # one pass: no repeats
    # and nearly all rows (a row whose positive equals one already in its batch is passed over)
    assert len(seen) > 0.95 * len(ar) - BATCH


def test_shards_split_a_global_batch(training_pairs, rows):
    b = draw(training_pairs, rows[0], 0.5, 1)[0]
    parts = [b.shard(r, 2) for r in range(2)]
    assert parts[0].queries + parts[1].queries == b.queries and parts[0].kind == parts[1].kind == b.kind


def test_validation_batches_fixed_and_cover_types(training_pairs, rows):
    val = validation_batches(training_pairs, rows[1], 32, 0)
    assert val == validation_batches(training_pairs, rows[1], 32, 0)
    kinds = collections.Counter(b.kind for b in val)
    assert kinds[MONO] == 8 and kinds[CROSS] == 12  # 4 squad + ar, zh x2, ja; 12 ordered squad pairs
    assert not {training_pairs.group[i] for b in val for i in b.queries} & {training_pairs.group[i] for i in rows[0]}


def test_bad_settings(training_pairs, rows):
    with pytest.raises(InputError, match="alpha must lie in"):
        HybridBatchSampler(training_pairs, rows[0], BATCH, 1.5)
    ar = [i for i in rows[0] if training_pairs.lang[i] == "ar"]
    with pytest.raises(InputError, match="X-Y batches need a parallel dataset"):
        HybridBatchSampler(training_pairs, ar, BATCH, 0.5)
    with pytest.raises(InputError, match="fewer than the batch size"):
        HybridBatchSampler(training_pairs, ar[:10], BATCH, 1.0)
