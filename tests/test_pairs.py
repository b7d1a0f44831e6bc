"""Training pairs from the real SQuAD-format files: contamination filter, sentence positives, groups."""

import collections
import json

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import load_json
from pyserini_hybrid.train import pairs as pr


def xquad(shared_data):
    """XQuAD's question ids and whitespace-normalised paragraphs (from XQuAD-R English)."""
    raw = load_json(shared_data / "lareqa/xquad-r/en.json")
    paras = [p for a in raw["data"] for p in a["paragraphs"]]
    return {q["id"] for p in paras for q in p["qas"]}, {" ".join(p["context"].split()) for p in paras}


def test_xquad_paragraphs_are_dropped_in_all_four_languages(training_pairs, shared_data):
    """The XQuAD rule, now one case of decontamination against every evaluation set: 3,559 questions."""
    ids, texts = xquad(shared_data)
    assert len(ids) == 1190 and len(texts) == 240
    assert not ids & set(training_pairs.group)
    # no training paragraph (any language) is an XQuAD paragraph, and no English one shares its text
    english = {" ".join(p.context.split()) for i, p in enumerate(training_pairs.paragraphs)}
    assert not english & texts
    dropped = training_pairs.counts["dropped_by_set"]["xquad-r"]
    assert dropped == {"squad/en": 1190, "squad/es": 732, "squad/it": 778, "squad/da": 859}
    assert training_pairs.counts["dropped_xquad"] == dropped  # the card's older key, for older readers
    # every dropped translation is the translation of an XQuAD question: count them in the raw file
    for lang, rel in (("es", "squad/es.dev-v1.1-small.json"), ("da", "squad/da.dev-v1.1-small.json")):
        raw = load_json(shared_data / "qa-train" / rel)
        present = {q["id"] for a in raw["data"] for p in a["paragraphs"] for q in p["qas"]}
        assert dropped[f"squad/{lang}"] == len(present & ids)
    # the other evaluation sets' texts go too: ARCD paragraphs that are MIRACL-mini passages, two SQuAD
    # sentences that are MLQA-R candidates (with their translations)
    assert training_pairs.counts["dropped_by_set"]["miracl-mini"] == {"arcd/ar": 30}
    assert training_pairs.counts["dropped_by_set"]["mlqa-r"]["squad/en"] == 2


def test_filter_reported(shared_data, capsys):
    pr.load_pairs(shared_data, languages=["da"], datasets=["squad"])
    out = capsys.readouterr().out
    assert "dropped as texts of evaluation sets: 860 (squad/da 860; by set: xquad-r 859, mlqa-r 1)" in out


def test_positive_is_the_sentence_holding_the_answer(training_pairs, shared_data):
    raw = load_json(shared_data / "qa-train/squad/en.dev-v1.1.json")
    answers = {q["id"]: q["answers"][0]["text"] for a in raw["data"] for p in a["paragraphs"] for q in p["qas"]}
    rows = [i for i in range(len(training_pairs)) if training_pairs.lang[i] == "en"]
    hits = sum(answers[training_pairs.group[i]] in training_pairs.positive(i) for i in rows)
    # an answer may straddle a sentence break; almost all lie inside their sentence
    assert hits / len(rows) > 0.98
    for i in rows[:50]:
        para = training_pairs.paragraphs[training_pairs.paragraph[i]]
        assert training_pairs.positive(i) in para.context
        assert training_pairs.positive(i) not in training_pairs.paragraph_negatives(i)


@pytest.mark.parametrize("lang,text,expected", [
    ("zh", "北京是中国的首都。它有很多人口！你去过吗？", 3),
    ("ja", "東京は日本の首都です。人口が多い！行ったことがありますか？", 3),
    ("ar", "القاهرة هي عاصمة مصر. هل زرتها؟ نعم، زرتها مرات عديدة.", 3),
    ("en", "Dr. Smith went to Washington in 1999. He liked it.", 2),
])
def test_sentence_splitter_handles_cjk_and_arabic(lang, text, expected):
    spans = pr.split_sentences(text, lang)
    assert len(spans) == expected
    assert "".join(text[a:b] for a, b in spans).replace(" ", "") == text.replace(" ", "")


def test_native_sets_have_cjk_sentences(training_pairs):
    for lang, mark in (("zh", "。"), ("ja", "。")):
        rows = [i for i in range(len(training_pairs)) if training_pairs.lang[i] == lang][:300]
        # sentence positives are shorter than their paragraphs and end at a full stop mostly
        ends = sum(training_pairs.positive(i).endswith(mark) for i in rows)
        assert ends / len(rows) > 0.6
    # JSQuAD's "title [SEP] " prefix never reaches a positive
    assert not any("[SEP]" in training_pairs.positive(i) for i in range(len(training_pairs))
                   if training_pairs.lang[i] == "ja")


def test_groups_link_translations_only(training_pairs):
    langs = collections.defaultdict(set)
    for g, x, d in zip(training_pairs.group, training_pairs.lang, training_pairs.dataset):
        langs[(d, g)].add(x)
    parallel = [v for (d, _), v in langs.items() if d == "squad"]
    assert max(len(v) for v in parallel) == 4 and sum(len(v) > 1 for v in parallel) > 5000
    assert all(len(v) == 1 for (d, _), v in langs.items() if d != "squad")
    # one pair per (group, language)
    assert len(set(zip(training_pairs.group, training_pairs.lang))) == len(training_pairs)


def test_validation_split_keeps_translations_together(training_pairs):
    train, val = pr.split_validation(training_pairs, 2.0)
    assert 0.01 < len(val) / len(training_pairs) < 0.03
    assert not {training_pairs.group[i] for i in train} & {training_pairs.group[i] for i in val}
    assert not {training_pairs.paragraph[i] for i in train} & {training_pairs.paragraph[i] for i in val}


def test_context_positives(shared_data):
    ctx = pr.load_pairs(shared_data, languages=["ar"], datasets=["arcd"], context=True, quiet=True)
    assert all(ctx.positive(i).startswith(ctx.paragraphs[ctx.paragraph[i]].sentences[ctx.sentence[i]] + " ")
               for i in range(len(ctx)))


def test_bad_inputs(shared_data, tmp_path):
    with pytest.raises(InputError, match="no training data for language.*fr"):
        pr.load_pairs(shared_data, languages=["fr"])
    with pytest.raises(InputError, match=r"unknown training set\(s\) natural-questions"):
        pr.load_pairs(shared_data, datasets=["natural-questions"])
    # a training file in the wrong format
    root = tmp_path / "data"
    (root / "qa-train" / "native").mkdir(parents=True)
    (root / "lareqa" / "xquad-r").mkdir(parents=True)
    (root / "qa-train/native/ar.arcd.json").write_text(json.dumps({"data": [{"title": "x", "paras": []}]}))
    with pytest.raises(InputError, match=r"ar\.arcd\.json: not SQuAD format"):
        pr.load_pairs(root, datasets=["arcd"])
    (root / "qa-train/native/ar.arcd.json").write_text('{"data": [')
    with pytest.raises(InputError, match=r"ar\.arcd\.json: truncated JSON"):
        pr.load_pairs(root, datasets=["arcd"])
