"""Training sets declared, never coded (issue 40): the three formats on tiny local files, bad declarations in
one line, decontamination on constructed overlaps, ``train data``, the old training set bit for bit, and an
exported model that sentence-transformers loads with the same embeddings."""

import gzip
import hashlib
import json
import os
import subprocess
import sys
import zipfile

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.train import pairs as pr
from pyserini_hybrid.train import sets

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def digest(p) -> str:
    """sha256 of a PairSet as training sees it: every row (query, languages, group, split key, positive, its
    paragraph negatives, its paragraph) and every paragraph. Uses only what the PairSet of commit cdbbeae had."""
    h = hashlib.sha256()
    for i in range(len(p)):
        row = [p.query[i], p.lang[i], p.dataset[i], p.group[i], p.split_key[i], p.paragraph[i], p.sentence[i],
               p.positive(i), p.paragraph_negatives(i), p.paragraphs[p.paragraph[i]].context]
        h.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    h.update(json.dumps([[x.sentences, x.context] for x in p.paragraphs], ensure_ascii=False).encode())
    return h.hexdigest()


# Computed by the code before training sets were declared (commit cdbbeae, SOURCES in pairs.py, the XQuAD
# rule) on the shared data: git worktree add /tmp/old cdbbeae, then with PYTHONPATH=/tmp/old
#   from pyserini_hybrid.train.pairs import load_pairs, split_validation; p = load_pairs(DATA, quiet=True)
# and digest(p) above, and sha256(json.dumps(split_validation(p, 2.0)[1])).
OLD_PAIRS = "aa22ed6ea53daf1e485f8bde96581bc84e736e64866c60cfc372c8e71c363c28"
OLD_VALIDATION = "fdac9812d63ed27ac767cd2ce8d2519fbff4520c8b2e45a487bd094b54dc3abf"


def test_old_training_set_gives_bit_identical_pairs(shared_data):
    """The default sets, decontaminated against XQuAD-R as before: the same pairs, split and drop counts."""
    p = pr.load_pairs(shared_data, quiet=True, decontaminate=["xquad-r"])
    assert digest(p) == OLD_PAIRS
    _, val = pr.split_validation(p, 2.0)
    assert hashlib.sha256(json.dumps(val).encode()).hexdigest() == OLD_VALIDATION
    assert p.counts["dropped_by_set"] == {"xquad-r": {"squad/en": 1190, "squad/es": 732, "squad/it": 778,
                                                      "squad/da": 859}}
    assert sum(p.counts["dropped_evaluation"].values()) == 3559 and len(p) == 45743


# ------------------------------------------------------------------ tiny data
def squad_file(paragraphs, version="v1.1"):
    """SQuAD JSON from [(context, [(id, question, answer text or None, impossible)])]."""
    paras = []
    for context, qas in paragraphs:
        items = []
        for qid, question, answer, impossible in qas:
            answers = [] if answer is None else [{"text": answer, "answer_start": context.index(answer)}]
            items.append({"id": qid, "question": question, "answers": answers, "is_impossible": impossible})
        paras.append({"context": context, "qas": items})
    return {"version": version, "data": [{"title": "t", "paragraphs": paras}]}


EN = [("Paris is the capital of France. It lies on the Seine.", [("q1", "What is the capital of France?", "Paris", False),
                                                                  ("q2", "Which river flows through Paris?", "Seine", False)]),
      ("Berlin is the capital of Germany. It has many museums.", [("q3", "What is the capital of Germany?", "Berlin", False)]),
      ("Rome is the capital of Italy. It is very old.", [("q4", "What is the capital of Italy?", "Rome", False)])]
DE = [("Paris ist die Hauptstadt Frankreichs. Es liegt an der Seine.", [("q1", "Was ist die Hauptstadt Frankreichs?", "Paris", False),
                                                                        ("q2", "Welcher Fluss fließt durch Paris?", "Seine", False)]),
      ("Berlin ist die Hauptstadt Deutschlands. Es hat viele Museen.", [("q3", "Was ist die Hauptstadt Deutschlands?", "Berlin", False),
                                                                        ("qx", "Unbeantwortbar?", None, True)]),
      ("Rom ist die Hauptstadt Italiens. Es ist sehr alt.", [("q4", "Was ist die Hauptstadt Italiens?", "Rom", False)])]


@pytest.fixture
def tiny_data(tmp_path):
    """A data dir: a parallel SQuAD set (en JSON, de as a .gz and as a zip member), a pairs set, an evaluation
    topic set (LAReQA-like) that shares texts with them, and an id list."""
    root = tmp_path / "data"
    (root / "mine").mkdir(parents=True)
    (root / "mine/en.json").write_text(json.dumps(squad_file(EN)), encoding="utf-8")
    (root / "mine/de.json.gz").write_bytes(gzip.compress(json.dumps(squad_file(DE, "v2.0")).encode()))
    records = [{"query": f"frage {i}", "positive": f"antwort {i}.", "lang": "de", "group": f"g{i}",
                "negatives": [f"falsch {i}."]} for i in range(6)]
    records += [{"query": f"question {i}", "positive": f"answer {i}.", "lang": "en", "group": f"g{i}"} for i in range(6)]
    records.append({"query": "Ｗｈｏ   WROTE Faust?", "positive": "Goethe wrote it.", "lang": "en", "group": "g9"})
    with gzip.open(root / "mine/pairs.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    (root / "mine/ids.txt").write_text("# ids that must not be trained on\nq4\n")
    # the evaluation set: its paragraph is en's Berlin paragraph, its question Faust's (full-width, cased)
    (root / "eval").mkdir()
    ev = squad_file([("Berlin is the capital of Germany. It has many museums.", [("e1", "who wrote faust?", "Berlin", False)])])
    ev["data"][0]["paragraphs"][0].update(sentences=["Berlin is the capital of Germany.", "It has many museums."],
                                          sentence_breaks=[[0, 33], [34, 54]])
    (root / "eval/en.json").write_text(json.dumps(ev), encoding="utf-8")
    (root / "topic-sets.toml").write_text('[tiny-eval]\nformat = "lareqa"\nlanguages = { en = "eval/en.json" }\n')
    (root / "training-sets.toml").write_text(
        '[mine]\nformat = "squad"\nparallel = true\ndir = "mine"\nexclude_ids = "ids.txt"\n'
        'languages = { en = ["en.json"], de = ["de.json.gz"] }\n'
        '[mine-pairs]\nformat = "pairs"\nparallel = true\nfiles = ["mine/pairs.jsonl.gz"]\n')
    return root


def test_squad_and_pairs_formats_and_decontamination(tiny_data):
    p = pr.load_pairs(tiny_data, datasets=["mine", "mine-pairs"], quiet=True)
    c = p.counts
    # Berlin's paragraph is the evaluation set's: q3 goes in en and, through its id, in de; q4 is on the id list
    assert c["dropped_by_set"]["tiny-eval"] == {"mine/en": 1, "mine/de": 1, "mine-pairs/en": 1}
    assert c["dropped_by_set"]["id list"] == {"mine/en": 1, "mine/de": 1}
    assert c["dropped_impossible"]["mine/de"] == 1
    assert c["pairs"] == {"mine/en": 2, "mine/de": 2, "mine-pairs/de": 6, "mine-pairs/en": 6}
    rows = {(p.lang[i], p.group[i]): i for i in range(len(p))}
    assert p.positive(rows[("de", "q2")]) == "Es liegt an der Seine." and p.dataset[rows[("de", "q2")]] == "mine"
    # translations share the English paragraph's split key; a record's negatives are its paragraph negatives
    assert p.split_key[rows[("de", "q1")]] == p.split_key[rows[("en", "q1")]] == "mine:en.json:0:0"
    assert p.paragraph_negatives(rows[("de", "g1")]) == ["falsch 1."]
    assert p.parallel == {"mine", "mine-pairs"} and "tiny-eval" in c["decontamination"]["evaluation_sets"]
    # only the named evaluation sets: nothing of tiny-eval is dropped then
    q = pr.load_pairs(tiny_data, datasets=["mine"], quiet=True, decontaminate=["tiny-eval"])
    assert sum(q.counts["dropped_evaluation"].values()) == 4  # q3 x2 by text, q4 x2 by id


def test_zip_members_v2_and_answers_without_start(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    raw = squad_file(EN)
    raw["data"][0]["paragraphs"][0]["qas"][1]["answers"] = [{"text": "Seine"}]            # no answer_start
    raw["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = None        # null
    flat = [{"id": "t1", "context": "กรุงเทพฯ เป็นเมืองหลวง", "question": "เมืองหลวงคืออะไร",
             "answers": {"text": ["กรุงเทพฯ"], "answer_start": [0]}}]
    with zipfile.ZipFile(root / "a.zip", "w") as z:
        z.writestr("data/en.json", json.dumps(raw))
        z.writestr("data/th.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in flat))
    (root / "training-sets.json").write_text(json.dumps(  # JSON declarations work like TOML ones
        {"z": {"format": "squad", "languages": {"en": [{"zip": "a.zip", "member": "data/en.json"}],
                                                "th": [{"zip": "a.zip", "member": "data/th.jsonl"}]}}}))
    p = pr.load_pairs(root, datasets=["z"], quiet=True)
    assert p.counts["dropped_no_answer_start"] == {"z/en": 2, "z/th": 0}
    assert sorted(p.query) == ["What is the capital of France?", "What is the capital of Italy?", "เมืองหลวงคืออะไร"]
    assert p.split_key[p.query.index("เมืองหลวงคืออะไร")] == "z:a.zip:data/th.jsonl:0"


def test_hf_format_through_datasets(tmp_path):
    """``load_dataset`` on a local JSON dataset folder, and ``load_from_disk`` on a saved one, offline."""
    import datasets

    root = tmp_path / "d"
    (root / "hf-json").mkdir(parents=True)
    rows = [{"q": f"q {i}", "p": f"p {i}.", "l": "sw"} for i in range(5)]
    (root / "hf-json/train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    datasets.Dataset.from_list([{"question": "Swali?", "context": "Jibu ni hili. Na hili.",
                                 "answers": {"text": ["hili"], "answer_start": [8]}}]).save_to_disk(root / "saved")
    (root / "training-sets.toml").write_text(
        '[hfj]\nformat = "hf"\nname = "hf-json"\nsplit = "train"\ncolumns = { query = "q", positive = "p", lang = "l" }\n'
        '[hfs]\nformat = "hf"\nname = "saved"\nlanguage = "sw"\n'
        'columns = { query = "question", context = "context", answers = "answers" }\n')
    p = pr.load_pairs(root, datasets=["hfj", "hfs"], quiet=True)
    assert p.counts["pairs"] == {"hfj/sw": 5, "hfs/sw": 1}
    assert p.positive(p.query.index("Swali?")) == "Jibu ni hili."


@pytest.mark.parametrize("body,message", [
    ('[x]\nformat = "squad"\nlanguages = { en = ["a.json"] }\ncolour = 1\n', r"training-sets\.toml:\[x\]: unknown key\(s\) colour"),
    ('[x]\nformat = "csv"\n', r"\[x\]: format must be one of squad, pairs, hf"),
    ('[x]\nformat = "squad"\nlanguages = { en = ["missing.json"] }\n', r"\[x\]: .*missing\.json: training file missing"),
    ('[x]\nformat = "squad"\nlanguages = { xx = ["a.json"] }\n', r"\[x\]: language code 'xx' is not in pyserini_hybrid/data/languages\.tsv"),
    ('[x]\nformat = "squad"\nparallel = true\nlanguages = { en = ["a.json"], de = ["b.json"] }\n',
     r"\[x\]: parallel = true, but its languages \(en, de\) share no question id"),
    ('[x]\nformat = "pairs"\nfiles = ["p.jsonl"]\n', r"p\.jsonl:2: no positive"),
    ('[squad]\nformat = "pairs"\nfiles = ["p.jsonl"]\n', r"\[squad\]: already declared \(a built-in training set\)"),
])
def test_bad_declarations_are_one_line(tmp_path, body, message):
    root = tmp_path / "d"
    root.mkdir()
    (root / "a.json").write_text(json.dumps(squad_file(EN[:1])))
    (root / "b.json").write_text(json.dumps(squad_file([(c, [(q + "-de", t, a, i) for q, t, a, i in qs]) for c, qs in DE[:1]])))
    (root / "p.jsonl").write_text('{"query": "a", "positive": "b", "lang": "en"}\n{"query": "c", "lang": "en"}\n')
    (root / "training-sets.toml").write_text(body)
    with pytest.raises(InputError, match=message):
        pr.load_pairs(root, datasets=["x" if "[x]" in body else "squad"], quiet=True)


def test_train_data_lists_sets_and_cli_errors_in_one_line(tiny_data, tmp_path, cli_error):
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.train", "data", "--data-dir", str(tiny_data),
                           "--datasets", "mine", "mine-pairs", "--quiet"], capture_output=True, text=True,
                          cwd=tmp_path, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "mine  [squad, parallel]" in out and "pairs: 4 (en 2, de 2)" in out
    assert "dropped as texts of evaluation sets: tiny-eval 2, id list 2; skipped: impossible 1" in out
    assert "mine (mine): languages de en; groups in >= 2: 2; ordered cross-lingual pairs 4" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[y]\nformat = "pairs"\nfiles = "n.jsonl"\nweight = 2\n')
    line = cli_error(["pyserini_hybrid.train", "data", "--data-dir", str(tiny_data), "--training-sets", str(bad)], ENV)
    assert line == f"error: {bad}:[y]: unknown key(s) weight (a pairs set has default, description, dir, exclude_ids, " \
                   "files, format, languages, licence, link, parallel, warning)"


def test_sources_view_for_the_study(shared_data, tiny_data, monkeypatch):
    monkeypatch.setenv(sets.ENV, str(tiny_data / "training-sets.toml"))  # $PYSERINI_HYBRID_TRAINING_SETS
    view = pr.SOURCES
    assert view["mine"] == {"parallel": True, "files": {"en": ["en.json"], "de": ["de.json.gz"]}}
    assert view["squad"] == {"parallel": True, "files": {"en": ["squad/en.dev-v1.1.json"], "es": ["squad/es.dev-v1.1-small.json"],
                                                         "it": ["squad/it.dev-v1.1.json"], "da": ["squad/da.dev-v1.1-small.json"]}}
    assert {"squad-id", "squad-tr", "jaquad", "iapp-th"} <= set(view)
    builtin = sets.declared(shared_data)
    assert [n for n, s in builtin.items() if s.default] == ["squad", "arcd", "cmrc2018", "drcd", "jsquad"]
    assert builtin["squad-tr"].warning and builtin["squad-tr"].licence == "CC BY-NC-ND 4.0"


# ------------------------------------------------------------------ training and the exported model
TEXTS = ["Who wrote Faust?", "Goethe schrieb Faust im Jahr 1808.", "¿Quién ganó la Copa del Mundo de 2010?",
         "España ganó el Mundial de 2010.", "誰が勝った？", "東京は日本の首都です。", "北京是中国的首都。",
         "القاهرة هي عاصمة مصر.", "Москва — столица России.", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
         "दिल्ली भारत की राजधानी है।", "กรุงเทพฯ เป็นเมืองหลวงของประเทศไทย", "Hà Nội là thủ đô của Việt Nam.",
         "İstanbul Türkiye'nin en büyük şehridir.", "Jakarta adalah ibu kota Indonesia.", "서울은 한국의 수도이다.",
         "Nairobi ni mji mkuu wa Kenya.", "København er Danmarks hovedstad.", "Roma è la capitale d'Italia.",
         "a"]


def test_exported_model_loads_in_sentence_transformers_with_the_same_embeddings(tmp_path, tiny_multilingual):
    from sentence_transformers import SentenceTransformer

    from pyserini_hybrid.models.config import EncoderConfig
    from pyserini_hybrid.models.encoder import BiEncoder
    from pyserini_hybrid.models.text_encoder import TextEncoder

    out = tmp_path / "export"
    BiEncoder.build(str(tiny_multilingual), EncoderConfig(max_query_length=32, max_passage_length=64)).save(out)
    ours = TextEncoder(out, precision="fp32")
    st = SentenceTransformer(str(out), device="cpu")
    assert len(TEXTS) == 20 and st.max_seq_length == 64
    for prompt, prefix, length in (("query", "query: ", 32), ("passage", "passage: ", 64)):
        a = ours.embed(TEXTS, prefix, length)
        b = st.encode(TEXTS, prompt_name=prompt, convert_to_numpy=True, batch_size=7)
        assert abs(a - b).max() <= 1e-5, (prompt, abs(a - b).max())


def tiny_sets(root, fmt):
    """8 parallel en/de questions in the given format, each its own paragraph or record."""
    en = [(f"Town {i} lies on river {i}. It is old.", [(f"id{i}", f"Where is town {i}?", f"river {i}", False)]) for i in range(8)]
    de = [(f"Stadt {i} liegt am Fluss {i}. Sie ist alt.", [(f"id{i}", f"Wo liegt Stadt {i}?", f"Fluss {i}", False)]) for i in range(8)]
    root.mkdir(parents=True, exist_ok=True)
    records = [{"query": qs[0][1], "positive": c.split(". ")[0] + ".", "lang": lang, "group": qs[0][0]}
               for lang, paras in (("en", en), ("de", de)) for c, qs in paras]
    if fmt == "squad":
        (root / "en.json").write_text(json.dumps(squad_file(en)))
        (root / "de.json").write_text(json.dumps(squad_file(de)))
        decl = 'languages = { en = ["en.json"], de = ["de.json"] }'
    elif fmt == "pairs":
        (root / "p.jsonl").write_text("\n".join(json.dumps(r) for r in records))
        decl = 'files = ["p.jsonl"]'
    else:
        (root / "hf").mkdir()
        (root / "hf/train.json").write_text("\n".join(json.dumps(r) for r in records))
        decl = 'name = "hf"\ncolumns = { query = "query", positive = "positive", lang = "lang", group = "group" }'
    (root / "training-sets.toml").write_text(f'[my-{fmt}]\nformat = "{fmt}"\nparallel = true\n{decl}\n')


@pytest.mark.parametrize("fmt", ["squad", "pairs", "hf"])
def test_a_user_set_of_each_format_trains(tmp_path, tiny_multilingual, fmt):
    from pyserini_hybrid.train import recipe as rc
    from pyserini_hybrid.train.loop import CARD, train

    root = tmp_path / "data"
    tiny_sets(root, fmt)
    recipe = rc.from_dict({"model": {"name": str(tiny_multilingual), "max_query_length": 32, "max_passage_length": 64},
                           "data": {"datasets": [f"my-{fmt}"], "validation_percent": 0.0, "validation_groups": 0},
                           "train": {"batch_size": 4, "steps": 2, "alpha": 0.5, "precision": "fp32", "threads": 1,
                                     "save_every": 2, "eval_every": 2}}, "tiny.toml")
    out = train(recipe, tmp_path / "model", str(root), quiet=True)
    card = json.loads((out / CARD).read_text())
    assert card["data"]["pairs"] == {f"my-{fmt}/en": 8, f"my-{fmt}/de": 8} and card["steps"] == 2
    assert list(card["data"]["sets"]) == [f"my-{fmt}"]
    readme = (out / "README.md").read_text()
    for part in (f"`my-{fmt}`", "Pairs per language: en 8, de 8", "Decontamination", "## Batching",
                 "SentenceTransformer"):
        assert part in readme
    assert json.loads((out / "modules.json").read_text())[1]["path"] == "1_Pooling"


def test_recipe_naming_a_set_of_a_declaration_file(tmp_path, tiny_multilingual, cli_error):
    """``--training-sets FILE`` on the train command; an unknown set is one line before any work."""
    root = tmp_path / "data"
    tiny_sets(root / "mine", "pairs")
    decl = root / "mine" / "training-sets.toml"
    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\ndatasets = ["my-pairs", "nope"]\n[train]\nsteps = 2\nbatch_size = 4\n')
    line = cli_error(["pyserini_hybrid.train", str(recipe), "--training-sets", str(decl), "--data-dir", str(root),
                      "--output", str(tmp_path / "out")], ENV)
    assert line.startswith(f"error: {recipe}: data.datasets: unknown training set(s) nope (declared: squad, ")
    assert "my-pairs" in line and not (tmp_path / "out").exists()


def test_pre_made_cross_lingual_pairs_serve_x_y_batches_only(tmp_path):
    from pyserini_hybrid.train.samplers import HybridBatchSampler

    root = tmp_path / "d"
    root.mkdir()
    lines = [{"query": f"where is town {i}?", "positive": f"Stadt {i} liegt am Fluss.", "lang": "en",
              "positive_lang": "de"} for i in range(6)]
    lines += [{"query": f"town {i}?", "positive": f"Town {i} lies on a river.", "lang": "en"} for i in range(6)]
    (root / "x.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    (root / "training-sets.toml").write_text('[x]\nformat = "pairs"\nfiles = ["x.jsonl"]\n')
    p = pr.load_pairs(root, datasets=["x"], quiet=True)
    assert p.positive_lang.count("de") == 6 and p.parallel == set()
    rows = list(range(len(p)))
    cross = HybridBatchSampler(p, rows, 4, alpha=0.0, seed=1).next_batch()
    assert (cross.kind, cross.query_lang, cross.passage_lang) == ("cross", "en", "de")
    assert all(p.positive_lang[r] == "de" for r in cross.positives)
    mono = HybridBatchSampler(p, rows, 4, alpha=1.0, seed=1).next_batch()
    assert all(p.positive_lang[r] == "en" for r in mono.positives)
    assert len(pr.load_pairs(root, datasets=["x"], languages=["en"], quiet=True)) == 6  # de positives filtered
