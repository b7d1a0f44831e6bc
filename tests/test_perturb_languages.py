"""Adversarial topic perturbations and the language table used to group language pairs."""

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.data import perturb as pt
from pyserini_hybrid.data.languages import (
    load_languages,
    resource_group,
    same_family,
    same_script,
)
from pyserini_hybrid.perturb import main as perturb_main


def test_strip_marks_removes_accents_and_tone_marks_only():
    assert pt.strip_marks("Đội thủ Panthers đã thua bao nhiêu điểm?") == "Doi thu Panthers da thua bao nhieu diem?"
    assert pt.strip_marks("¿Cuántos puntos concedió la defensa?") == "¿Cuantos puntos concedio la defensa?"
    assert pt.strip_marks("Πόσους πόντους;") == "Ποσους ποντους;"
    assert pt.strip_marks("Wie viele Punkte gab die Verteidigung ab? Über") == "Wie viele Punkte gab die Verteidigung ab? Uber"
    assert pt.strip_marks("كَتَبَ") == "كتب"
    # Thai: tone marks go, vowel signs stay; Devanagari: the nukta goes, matras stay
    assert pt.strip_marks("ทีมรับของแพนเธอร์สยอมแพ้ที่คะแนนเท่าไร") == "ทีมรับของแพนเธอร์สยอมแพทีคะแนนเทาไร"
    assert pt.strip_marks("डिफ़ेंस ने कितने") == "डिफेंस ने कितने"
    assert pt.strip_marks("How many points?") == "How many points?"


def test_typos_are_deterministic_small_and_keep_the_script():
    topics = {"en-1": "How many points did the Panthers defense surrender?",
              "zh-1": "黑豹队防守失了多少分？", "ru-1": "Сколько очков пропустила защита Пантер?"}
    a = pt.perturb_topics(topics, "en", "typos", seed=0)
    assert a == pt.perturb_topics(topics, "en", "typos", seed=0)
    assert a != pt.perturb_topics(topics, "en", "typos", seed=1)
    for qid, text in topics.items():
        noisy = a[qid]
        assert noisy != text
        assert abs(len(noisy) - len(text)) <= max(1, round(0.1 * len(text)))
        assert set(noisy) <= set(text)  # no character from another script or alphabet


def test_code_switch_splices_the_parallel_question():
    en = {"en-q1": "How many points did the Panthers defense surrender?"}
    parallel = {"en": {"q1": en["en-q1"]}, "de": {"q1": "Wie viele Punkte gab die Verteidigung der Panthers ab?"},
                "zh": {"q1": "黑豹队防守失了多少分？"}}
    out = pt.perturb_topics(en, "en", "code_switch", parallel=parallel, switch_to="de")
    assert out["en-q1"] == "How many points did die Verteidigung der Panthers ab?"
    out = pt.perturb_topics({"zh-q1": parallel["zh"]["q1"]}, "zh", "code_switch", parallel=parallel, switch_to="en")
    assert out["zh-q1"] == "黑豹队防守 the Panthers defense surrender?"
    drawn = pt.perturb_topics(en, "en", "code_switch", parallel=parallel, seed=3)
    assert drawn["en-q1"].startswith("How many points") and drawn["en-q1"] != en["en-q1"]
    with pytest.raises(InputError, match="parallel topics"):
        pt.perturb_topics(en, "en", "code_switch")
    with pytest.raises(InputError, match="unknown perturbation"):
        pt.perturb_topics(en, "en", "shouting")


def test_perturbed_topic_files_keep_ids_and_read_back(tmp_path, capsys):
    src = tmp_path / "topics.de.tsv"
    src.write_text("de-a\tÜber wie viele Jahre?\nde-b\tWer gewann?\n", encoding="utf-8")
    out = tmp_path / "de.strip.tsv"
    assert perturb_main([str(src), "--lang", "de", "--kind", "strip_marks", "-o", str(out)]) == 0
    assert pt.read_topics(out) == {"de-a": "Uber wie viele Jahre?", "de-b": "Wer gewann?"}
    assert "1 changed" in capsys.readouterr().out
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(InputError, match="qid<TAB>text"):
        pt.read_topics(bad)


def test_language_table_covers_every_benchmark_and_training_language():
    table = load_languages()
    needed = {"ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh",  # XQuAD-R, MLQA-R
              "fa", "sw",  # MIRACL-mini
              "it", "da", "ja"}  # training
    assert needed <= set(table)
    assert all(0 <= row["joshi_class"] <= 5 for row in table.values())
    assert same_script("en", "vi") and not same_script("en", "ru") and same_script("ar", "fa")
    assert same_family("en", "hi") and not same_family("en", "hi", level="branch")
    assert same_family("de", "en", level="branch") and not same_family("zh", "ja")
    assert resource_group("en", "zh") == "high-high"
    assert resource_group("en", "th") == resource_group("th", "en") == "high-low"
    assert resource_group("el", "th") == "low-low"
    with pytest.raises(InputError, match="not in pyserini_hybrid/data/languages.tsv"):
        same_script("en", "xx")
