"""Reliability, second pass (issue 29): inputs that used to give wrong numbers with exit 0 now stop at once."""

import json
import os
import shutil

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.retrieval import fusion
from pyserini_hybrid.train import recipe as rc

RECIPE = PROJECT_ROOT / "encoders" / "me5-small-hybrid-cpu.toml"


@pytest.mark.parametrize("change, message", [
    ({"max_grad_norm": -1.0}, "train.max_grad_norm must be positive"),
    ({"max_grad_norm": 0.0}, "train.max_grad_norm must be positive"),
    ({"weight_decay": -5.0}, "train.weight_decay must be >= 0"),
])
def test_recipes_that_would_train_backwards_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        rc.with_changes(rc.load(RECIPE), train=change)
    with pytest.raises(InputError, match=message):  # and from the command line's --set
        rc.load(RECIPE, [f"train.{k}={v}" for k, v in change.items()])


def _run_dir(path, hits):
    path.mkdir(parents=True)
    (path / "run-meta.json").write_text(json.dumps({"system": "x", "dataset": "miracl-mini", "languages": ["sw"],
                                                    "hits": hits}))
    (path / "sw.trec").write_text("")
    return path


def test_fusion_refuses_inputs_of_different_depths_and_a_depth_they_do_not_hold(tmp_path):
    dense, sparse = _run_dir(tmp_path / "dense", 10), _run_dir(tmp_path / "bm25", 100)
    with pytest.raises(InputError, match="10 deep and .* 100 deep: fuse runs of one depth"):
        fusion.run_fusion("miracl-mini", dense, sparse, tmp_path / "out")
    shutil.rmtree(dense)
    dense = _run_dir(tmp_path / "dense", 100)
    with pytest.raises(InputError, match="--hits 1000: the input runs are only 100 deep"):
        fusion.run_fusion("miracl-mini", dense, sparse, tmp_path / "out", depth=1000)
    assert not (tmp_path / "out").exists()  # nothing written before the check


def test_a_model_directory_without_its_tokenizer_is_refused(tiny_multilingual, tmp_path):
    from pyserini_hybrid.models.text_encoder import TextEncoder

    broken = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_multilingual, broken)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
        (broken / name).unlink(missing_ok=True)
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")  # what a stray file quietly gives
    with pytest.raises(InputError, match="tokenizer of 5 tokens for an embedding matrix of"):
        TextEncoder(broken)
    TextEncoder(tiny_multilingual)  # the intact directory loads


# --- the WEAK cases of issue 29 as a user meets them: one line `error: <file>[:<line>]: <problem>`, exit 2 ---

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
STUDY = '[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nbudgets = [2]\n' \
        'datasets = ["xquad-r"]\n[variants]\nhybrid = 0.5\n'


def recipe_bytes(change):
    def case(tmp, shared):
        (tmp / "r.toml").write_bytes(change(RECIPE.read_bytes()))
        return ["pyserini_hybrid.train", str(tmp / "r.toml"), "--output", str(tmp / "out")]
    return case


def study_bytes(data: bytes):
    def case(tmp, shared):
        (tmp / "s.toml").write_bytes(data)
        return ["pyserini_hybrid.study", str(tmp / "s.toml"), "--work-dir", str(tmp / "work"), "plan"]
    return case


def topic_set_bytes(data: bytes):
    def case(tmp, shared):
        (tmp / "sets.toml").write_bytes(data)
        return ["pyserini_hybrid.topics", "list", "--topic-sets", str(tmp / "sets.toml")]
    return case


def lareqa_question(text: str):
    def case(tmp, shared):
        data = tmp / "data" / "lareqa" / "xquad-r"
        data.mkdir(parents=True)
        for src in (shared / "lareqa/xquad-r").iterdir():
            (data / src.name).symlink_to(src)
        raw = json.loads((shared / "lareqa/xquad-r/de.json").read_text(encoding="utf-8"))
        raw["data"][0]["paragraphs"][0]["qas"][0]["question"] = text
        (data / "de.json").unlink()
        (data / "de.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        return ["pyserini_hybrid.topics", "convert", "xquad-r", "--data-dir", str(tmp / "data"), "--topics-dir",
                str(tmp / "topics")]
    return case


def seed_line(data: bytes) -> bytes:
    return data.replace(b"\nseed = 42", b"\nseed = 99999999999999999999")


CLI_CASES = {  # case -> (argv builder, the one error line's start or a part of it)
    "recipe_bom": (recipe_bytes(lambda b: b"\xef\xbb\xbf" + b), "r.toml:1: the file starts with a byte-order mark"),
    "recipe_latin1": (recipe_bytes(lambda b: b.replace(b"# multilingual", b"# multilingu\xe9l", 1)),
                      "r.toml:1: not UTF-8 text (byte 0xe9 at column 13"),
    "recipe_syntax": (recipe_bytes(lambda b: b.replace(b"\nl2_norm = true", b"\nl2_norm true", 1)),
                      "r.toml:9: not a valid TOML recipe: Expected '=' after a key in a key/value pair (column 9)"),
    "recipe_huge_seed": (recipe_bytes(seed_line), "r.toml:33: train.seed must be below 2**32 (4294967296), "
                                                  "got 99999999999999999999"),
    "recipe_huge_seed_set": (lambda tmp, shared: ["pyserini_hybrid.train", str(RECIPE), "--set",
                                                  "train.seed=99999999999999999999", "--output", str(tmp / "out")],
                             "me5-small-hybrid-cpu.toml (--set): train.seed must be below 2**32"),
    "recipe_type_line": (recipe_bytes(lambda b: b.replace(b"\nsteps = 200", b'\nsteps = "200"', 1)),
                         "r.toml:26: train.steps must be int, got '200'"),
    "study_latin1": (study_bytes(STUDY.replace('"x"', '"\xe9"').encode("latin-1")), "s.toml:2: not UTF-8 text (byte 0xe9"),
    "study_huge_seed": (study_bytes(STUDY.replace("[1]", "[99999999999999999999]").encode()),
                        "s.toml:4: study.seeds: seeds are whole numbers in [0, 2**32), got 99999999999999999999"),
    "study_budget_string": (study_bytes(STUDY.replace("[2]", '["two"]').encode()), "s.toml: [study]: a value of the wrong"),
    "topic_set_bom": (topic_set_bytes(b'\xef\xbb\xbf[mine]\nformat = "miracl"\ndir = "m"\n'),
                      "sets.toml:1: the file starts with a byte-order mark"),
    "topic_set_latin1": (topic_set_bytes(b'[mine]\nformat = "miracl"\ndescription = "\xe9"\ndir = "m"\n'),
                         "sets.toml:3: not UTF-8 text (byte 0xe9"),
    "lareqa_blank_question": (lareqa_question(" \t "), "de.json: article 0 paragraph 0: question "),
    "benchmark_unknown_language": (lambda tmp, shared: ["pyserini_hybrid.benchmark", "--datasets", "miracl-mini",
                                                        "--languages", "sw", "klingon", "--work-dir", str(tmp / "work")],
                                   "unknown language code klingon (none of miracl-mini can have it"),
}


@pytest.mark.parametrize("case, expected", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_second_pass_error_is_one_line_naming_file_and_line(case, expected, tmp_path, shared_data, cli_error):
    argv = case(tmp_path, shared_data)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    error = cli_error(argv, ENV)
    assert expected in error, error
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.is_dir())
    assert [p for p in after if p not in before] == []  # no file written, not even a half-converted set


def test_miracl_layout_folders_that_are_not_miracl_languages_are_said_and_taken_by_name(tmp_path, shared_data,
                                                                                        monkeypatch):
    """el/ and xx/ beside sw/ used to be dropped without a word, and --languages el refused while
    languages = ["el"] in the set's file was accepted: now both take el, and the default says what it left."""
    from pyserini_hybrid.data import topic_sets as tp
    from pyserini_hybrid.data import user_sets
    from pyserini_hybrid.data.convert import convert

    monkeypatch.setattr(user_sets, "_registered", [])  # registrations last a process: keep this test's to itself

    for lang in ("sw", "el", "xx"):
        (tmp_path / "m" / lang).mkdir(parents=True)
        for name in ("corpus.jsonl", "topics.dev.tsv", "qrels.dev.tsv"):
            (tmp_path / "m" / lang / name).symlink_to(shared_data / "miracl-mini" / "sw" / name)
    (tmp_path / "sets.toml").write_text('[mine]\nformat = "miracl"\ndir = "m"\n'
                                        '[listed]\nformat = "miracl"\ndir = "m"\nlanguages = ["el"]\n')
    tp.register_topic_sets([str(tmp_path / "sets.toml")])
    meta = convert("mine", topics_dir=tmp_path / "t", quiet=True)
    assert meta["languages"] == ["sw"]
    assert any("folder(s) el, xx hold MIRACL-layout files but are not MIRACL languages: left out" in w
               for w in meta["warnings"])
    assert "el" in tp.known_languages("mine")
    by_name = convert("mine", topics_dir=tmp_path / "t", quiet=True, languages=["el"])
    listed = convert("listed", topics_dir=tmp_path / "t", quiet=True)
    assert by_name["languages"] == ["el", "sw"] and listed["languages"] == ["el"]
    assert by_name["counts"]["el"] == listed["counts"]["el"]
    assert any("folder(s) xx hold" in w for w in by_name["warnings"])
