"""Users' own topic sets: declared in a small file of theirs (LAReQA, MIRACL layout, or Pyserini topics + qrels +
JsonCollection), passed with --topic-sets or found in the data directory, then named like a built-in set in
topics, bm25, dense, fusion, evaluate, benchmark and the study. Built from slices of the real shared data."""

import json
import subprocess
import sys

import pytest
from test_miracl_languages import OFFLINE, miracl_language

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.core.trec import read_qrels, read_topics
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data import user_sets
from pyserini_hybrid.data.convert import convert

TOPIC_SETS = """\
# my topic sets: paths are relative to this file
[tiny-qa]                     # LAReQA format, like XQuAD-R / MLQA-R
format = "lareqa"
description = "two XQuAD-R paragraphs in German and English"
languages = { de = "tiny-qa/de.json", en = "tiny-qa/en.json" }

[my-trec]                     # plain Pyserini files
format = "pyserini"
[my-trec.languages.sw]
topics = "my-trec/topics.sw.tsv"
qrels = "my-trec/qrels.sw.txt"
corpus = "my-trec/corpus"     # a JsonCollection: a .jsonl file or a directory of them
"""
MIRACL_SETS = """\
[my-miracl]                   # MIRACL layout: <dir>/<lang>/{corpus.jsonl,topics.dev.tsv,qrels.dev.tsv}
format = "miracl"
dir = "my-miracl"
"""


@pytest.fixture(autouse=True)
def no_leftover_registrations(monkeypatch):
    """--topic-sets registers files for the rest of a process: keep each test's to itself."""
    monkeypatch.setattr(user_sets, "_registered", [])
    monkeypatch.setattr(user_sets, "_data_dir", [None])
    monkeypatch.delenv(user_sets.ENV, raising=False)
    monkeypatch.delenv("PYSERINI_HYBRID_DATA", raising=False)


@pytest.fixture
def user_data(tmp_path, shared_data):
    """A data dir of the user's own: a LAReQA pair cut from XQuAD-R, Pyserini files and a MIRACL-layout dir
    cut from MIRACL-mini; topic-sets.toml declares the first two, sets.toml (passed by flag) the third."""
    root = tmp_path / "mine"
    counts = {}
    for lang in ("de", "en"):
        raw = json.loads((shared_data / "lareqa/xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        raw["data"] = [{**raw["data"][0], "paragraphs": raw["data"][0]["paragraphs"][:2]}]
        (root / "tiny-qa").mkdir(parents=True, exist_ok=True)
        (root / "tiny-qa" / f"{lang}.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        paras = raw["data"][0]["paragraphs"]
        counts[lang] = {"questions": sum(len(p["qas"]) for p in paras),
                        "candidates": sum(len(p["sentences"]) for p in paras)}
    sw = miracl_language(shared_data, tmp_path / "src" / "sw", slice(0, 8))
    (root / "my-trec" / "corpus").mkdir(parents=True)
    (root / "my-trec" / "corpus" / "part.jsonl").write_text("".join(
        json.dumps({"id": (d := json.loads(x))["docid"], "contents": f"{d['title']} {d['text']}"}, ensure_ascii=False) + "\n"
        for x in sw["lines"]), encoding="utf-8")
    (root / "my-trec" / "topics.sw.tsv").write_text((tmp_path / "src/sw/topics.dev.tsv").read_text(encoding="utf-8"))
    (root / "my-trec" / "qrels.sw.txt").write_text((tmp_path / "src/sw/qrels.dev.tsv").read_text(encoding="utf-8"))
    counts["sw"] = {"questions": sw["queries"], "candidates": sw["passages"]}
    counts["miracl-de"] = miracl_language(shared_data, root / "my-miracl" / "de", slice(8, 14))
    (root / "topic-sets.toml").write_text(TOPIC_SETS, encoding="utf-8")
    (root / "sets.toml").write_text(MIRACL_SETS, encoding="utf-8")
    return root, counts


@pytest.mark.parametrize("text, message", [
    ('[x]\nformat = "trec"\n', "format must be one of lareqa, miracl, pyserini"),
    ('[xquad-r]\nformat = "lareqa"\nlanguages = { de = "a.json" }\n', r"\[xquad-r\]: a built-in topic set has that name"),
    ('[x]\nformat = "lareqa"\nlanguages = { "pt-br" = "a.json" }\n', "language code 'pt-br': lower-case letters and digits"),
    ('[x]\nformat = "lareqa"\n', "languages: a table with one entry per language code"),
    ('[x]\nformat = "pyserini"\nlanguages.de = { topics = "t.tsv" }\n', "languages.de: needs qrels, corpus"),
    ('[x]\nformat = "miracl"\n', r"a miracl set needs dir"),
    ('[x]\nformat = "lareqa"\nlangs = 1\n', r"unknown key\(s\) langs"),
    ('["My Set"]\nformat = "miracl"\ndir = "d"\n', "a set name is lower-case letters"),
    ('[x\nformat = "miracl"\n', "sets.toml:1: not a valid topic-set file"),
])
def test_a_bad_topic_set_file_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "sets.toml"
    path.write_text(text, encoding="utf-8")
    tp.register_topic_sets([path])
    with pytest.raises(InputError, match=message) as e:
        tp.manifest()
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_sets_come_from_the_flag_the_environment_and_the_data_dir(user_data, tmp_path, monkeypatch):
    root, _ = user_data
    builtin = set(tp.builtin_manifest())
    assert set(tp.manifest()) == builtin  # nothing declared yet (the shared data has no topic-sets file)
    assert set(tp.manifest(root)) == builtin | {"tiny-qa", "my-trec"}  # found in the data dir
    tp.register_topic_sets([root / "sets.toml"])  # --topic-sets
    assert set(tp.manifest()) == builtin | {"my-miracl"}
    monkeypatch.setattr(user_sets, "_registered", [])
    monkeypatch.setenv(user_sets.ENV, str(root / "sets.toml"))
    assert tp.dataset_spec("my-miracl")["origin"] == str(root / "sets.toml")
    assert tp.known_languages("my-miracl")[:3] == ["ar", "bn", "de"]  # every MIRACL language, found in dir
    assert tp.present_languages("my-miracl") == ["de"]
    (tmp_path / "clash.toml").write_text(MIRACL_SETS, encoding="utf-8")
    tp.register_topic_sets([tmp_path / "clash.toml"])
    with pytest.raises(InputError, match=r"mine/sets.toml: \[my-miracl\]: already declared in .*clash.toml"):
        tp.manifest()
    assert tp.builtin_manifest().keys() == builtin  # the package's manifest is untouched


def test_user_sets_convert_like_the_built_in_ones(user_data, tmp_path, capsys):
    root, counts = user_data
    topics = tmp_path / "topics"
    tp.register_topic_sets([root / "sets.toml"])  # what --topic-sets and --data-dir do on a command line
    tp.use_data_dir(root)
    qa = convert("tiny-qa", root, topics)
    assert qa["counts"] == {x: counts[x] for x in ("de", "en")} and qa["counts"]["de"]["candidates"] > 0
    assert qa["settings"] == {"mono": 2, "cross": 2, "multilingual": 2}
    assert len(read_qrels(tp.resolve("tiny-qa-de-en", topics))) == counts["de"]["questions"]
    assert tp.resolve("tiny-qa-en-pool", topics).is_file() and tp.resolve("tiny-qa-all", topics).is_file()
    trec = convert("my-trec", root, topics)
    assert trec["counts"]["sw"]["questions"] == counts["sw"]["questions"]
    assert trec["counts"]["sw"]["candidates"] == counts["sw"]["candidates"]
    assert len(read_topics(tp.resolve("my-trec-sw", topics))) == counts["sw"]["questions"]
    mine = convert("my-miracl", None, topics)  # its paths are relative to its own file, not the data dir
    assert mine["languages"] == ["de"] and mine["counts"]["de"]["questions"] == counts["miracl-de"]["queries"]
    err = capsys.readouterr().err
    assert f"warning: tiny-qa: de, en: no checksum in {root / 'topic-sets.toml'}" in err
    assert f"warning: my-miracl: de: no checksum in {root / 'sets.toml'}" in err
    assert qa["topic_set_file"] == str(root / "topic-sets.toml") and qa["unchecked"] == ["de", "en"]
    # with a declared checksum there is nothing to warn about; a wrong one is said
    from pyserini_hybrid.core.files import sha256

    good, bad = sha256(root / "tiny-qa/de.json"), "0" * 64
    (root / "topic-sets.toml").write_text(TOPIC_SETS.replace(
        'languages = { de = "tiny-qa/de.json", en = "tiny-qa/en.json" }',
        f'[tiny-qa.languages.de]\nfile = "tiny-qa/de.json"\nsha256 = "{good}"\n'
        f'[tiny-qa.languages.en]\nfile = "tiny-qa/en.json"\nsha256 = "{bad}"'))
    qa = convert("tiny-qa", root, topics, quiet=True)
    assert qa["unchecked"] == [] and len(qa["warnings"]) == 1 and "en.json: checksum differs from" in qa["warnings"][0]


def test_topics_cli_lists_and_resolves_a_user_set(user_data, tmp_path):
    root, _ = user_data
    run = [sys.executable, "-m", "pyserini_hybrid.topics"]
    env = {**__import__("os").environ, **OFFLINE}
    proc = subprocess.run(run + ["list", "--data-dir", str(root), "--topic-sets", str(root / "sets.toml")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    rows = {line.split("\t")[0]: line.split("\t") for line in proc.stdout.splitlines()}
    assert proc.returncode == 0 and rows["my-miracl"][1:] == ["miracl", "de", str(root / "sets.toml")]
    assert rows["tiny-qa"][1:3] == ["lareqa", "de en"] and len(rows["xquad-r"]) == 3
    proc = subprocess.run(run + ["convert", "my-trec", "--data-dir", str(root), "--topics-dir", str(tmp_path / "t")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    assert proc.returncode == 0 and "my-trec: 1 languages (sw)" in proc.stdout
    proc = subprocess.run(run + ["path", "my-trec-sw-sw", "--data-dir", str(root), "--topics-dir", str(tmp_path / "t")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    assert proc.stdout.strip() == str(tmp_path / "t" / "my-trec" / "qrels" / "sw-sw.txt")


def test_the_study_accepts_a_user_set_by_name(user_data, tmp_path, monkeypatch):
    """The study resolves names through topic_sets.manifest(): $PYSERINI_HYBRID_TOPIC_SETS reaches it."""
    from pyserini_hybrid.study.config import Study

    root, _ = user_data
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "x"\nrecipe = "encoders/me5-small-hybrid-cpu.toml"\nseeds = [1]\nbudgets = [2]\n'
                    'datasets = ["tiny-qa"]\n[variants]\nhybrid = 0.5\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown dataset\(s\) tiny-qa"):
        Study.load(path)
    monkeypatch.setenv(user_sets.ENV, str(root / "topic-sets.toml"))
    assert Study.load(path).datasets == ["tiny-qa"]


@pytest.mark.slow
def test_a_user_set_end_to_end_through_every_command(user_data, tmp_path, tiny_multilingual, capsys):
    from pyserini_hybrid.data.__main__ import main as topics_main
    from pyserini_hybrid.evaluate.__main__ import main as evaluate_main
    from pyserini_hybrid.bm25 import main as bm25_main
    from pyserini_hybrid.dense import main as dense_main
    from pyserini_hybrid.fusion import main as fusion_main
    from pyserini_hybrid.benchmark import main as benchmark_main

    root, counts = user_data
    topics, runs = tmp_path / "topics", tmp_path / "runs"
    flags = ["--data-dir", str(root), "--topic-sets", str(root / "sets.toml")]
    assert topics_main(["convert", "tiny-qa", "my-miracl", "--topics-dir", str(topics), *flags]) == 0
    for name in ("tiny-qa", "my-miracl"):
        common = ["--dataset", name, "--topics-dir", str(topics), *flags]
        assert bm25_main([*common, "--output", str(runs / "bm25" / name), "--index-dir", str(tmp_path / "idx")]) == 0
        assert dense_main([*common, "--output", str(runs / "dense" / name), "--index-dir", str(tmp_path / "didx"),
                           "--model", str(tiny_multilingual), "--precision", "fp32"]) == 0
        assert fusion_main(["--dataset", name, "--dense", str(runs / "dense" / name), "--sparse", str(runs / "bm25" / name),
                            "--output", str(runs / "rrf" / name), *flags]) == 0
        assert evaluate_main(["--dataset", name, "--runs", str(runs / "rrf" / name), "--topics-dir", str(topics),
                              *flags]) == 0
    qa = json.loads((runs / "rrf" / "tiny-qa" / "eval" / "results.json").read_text())
    assert set(qa["macro"]) == {"Mo", "Cr", "Mul"} and qa["settings"]["de-en"]["queries"] == counts["de"]["questions"]
    bm25 = json.loads((runs / "bm25" / "tiny-qa" / "run-meta.json").read_text())
    assert bm25["analyzers"] == {"de": "GermanAnalyzer", "en": "DefaultEnglishAnalyzer"} and "unchecked_sources" in bm25
    mine = json.loads((runs / "rrf" / "my-miracl" / "eval" / "results.json").read_text())
    assert mine["settings"]["de-de"]["queries"] == counts["miracl-de"]["queries"]
    capsys.readouterr()
    work = tmp_path / "work"
    assert benchmark_main(["--datasets", "tiny-qa", "my-trec", "--systems", "bm25", "--work-dir", str(work), *flags]) == 0
    table = (work / "results" / "summary.md").read_text()
    assert "| system | tiny-qa Mo | tiny-qa Cr | tiny-qa Mul | tiny-qa rank dist. |" in table
    assert "my-trec (monolingual; nDCG@10 and R@100 per language)." in table and "| sw nDCG@10 | sw R@100 |" in table
    summary = json.loads((work / "results" / "summary.json").read_text())
    assert summary["results"]["bm25/my-trec"]["languages"] == ["sw"]
    assert json.loads((work / "runs" / "bm25" / "my-trec" / "eval" / "results.json").read_text())[
        "settings"]["sw-sw"]["nDCG@10"] > 0.5  # real MIRACL queries and passages, as the user's own files


def test_benchmark_model_labels():
    from pyserini_hybrid.core.errors import InputError
    from pyserini_hybrid.bench.benchmark import model_systems

    assert model_systems(["fusion-rrf", "bm25", "dense"], None) == [
        ("bm25", "bm25", None), ("dense", "dense", None), ("fusion-rrf", "fusion-rrf", None)]
    rows = model_systems(["bm25", "dense", "fusion-rrf"], ["untuned=default", "models/hybrid-60"])
    assert rows == [("bm25", "bm25", None), ("dense-untuned", "dense", None), ("dense-hybrid-60", "dense", "models/hybrid-60"),
                    ("fusion-rrf-untuned", "fusion-rrf", None), ("fusion-rrf-hybrid-60", "fusion-rrf", "models/hybrid-60")]
    with pytest.raises(InputError, match="two models labelled a"):
        model_systems(["dense"], ["a=x", "a=y"])
    with pytest.raises(InputError, match="a label is letters"):
        model_systems(["dense"], ["a b=x"])


@pytest.mark.slow
def test_benchmark_puts_several_models_side_by_side(user_data, tmp_path, tiny_multilingual, copy_tree):
    """Two models in one benchmark: a dense and a fusion row each, every fusion built from its own model's run."""
    from pyserini_hybrid.benchmark import main as benchmark_main

    root, _ = user_data
    other = tmp_path / "other-model"
    copy_tree(tiny_multilingual, other)
    work = tmp_path / "work"
    assert benchmark_main(["--datasets", "tiny-qa", "--systems", "bm25", "dense", "fusion-rrf", "--precision", "fp32",
                           "--model", f"a={tiny_multilingual}", str(other), "--work-dir", str(work),
                           "--data-dir", str(root)]) == 0
    rows = [line.split(" | ")[0].lstrip("| ") for line in (work / "results/summary.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| system")]
    assert rows == ["bm25", "dense-a", "dense-other-model", "fusion-rrf-a", "fusion-rrf-other-model"]
    results = json.loads((work / "results/summary.json").read_text())["results"]
    assert results["dense-a/tiny-qa"]["macro"] == results["dense-other-model/tiny-qa"]["macro"]  # the same weights
    for label, model in (("a", tiny_multilingual), ("other-model", other)):
        dense_meta = json.loads((work / "runs" / f"dense-{label}" / "tiny-qa" / "run-meta.json").read_text())
        assert dense_meta["model"] == str(model)
        fused = (work / "runs" / f"fusion-rrf-{label}" / "tiny-qa" / "run-meta.json").read_text()
        assert f"dense-{label}" in fused and "bm25" in fused
