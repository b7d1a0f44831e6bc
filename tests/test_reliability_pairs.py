"""Training data of the wrong shape (issue 19): SQuAD/LAReQA fields of the wrong type are one-line
errors naming the file and the field, never a TypeError from deep inside the pair builder."""

import json
import subprocess
import sys

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.train import pairs as pr


@pytest.fixture
def arcd_root(tmp_path, shared_data):
    """A data root whose only training file is a copy of the real ARCD file; returns (root, parsed copy)."""
    root = tmp_path / "data"
    (root / "qa-train" / "native").mkdir(parents=True)
    raw = json.loads((shared_data / "qa-train/native/ar.arcd.json").read_text(encoding="utf-8"))
    return root, raw


def write(root, raw):
    (root / "qa-train/native/ar.arcd.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")


def test_real_copy_loads(arcd_root):
    root, raw = arcd_root
    write(root, raw)
    assert len(pr.load_pairs(root, datasets=["arcd"], quiet=True)) > 1000


@pytest.mark.parametrize("change,message", [
    (lambda raw: raw["data"][0]["paragraphs"][1]["qas"][0]["answers"][0].update(answer_start="12"),
     r"data\[0\]\.paragraphs\[1\]\.qas\[0\]\.answers\[0\]\.answer_start: expected an integer, got str '12'"),
    (lambda raw: raw.update(data={"articles": raw["data"]}), r"ar\.arcd\.json: not SQuAD format: data: expected a list, got dict"),
    (lambda raw: raw["data"][2]["paragraphs"][0].update(context=None),
     r"data\[2\]\.paragraphs\[0\]\.context: expected a string, got null"),
    (lambda raw: raw["data"][0]["paragraphs"][0]["qas"][0].update(question=None),
     r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.question: expected a string, got null"),
    (lambda raw: raw["data"][0]["paragraphs"][0]["qas"][0].update(answers={"text": "x"}),
     r"qas\[0\]\.answers: expected a list, got dict"),
    (lambda raw: raw["data"][0]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=True),
     r"answer_start: expected an integer, got bool"),
    (lambda raw: raw["data"][0]["paragraphs"][0].pop("qas"), r"data\[0\]\.paragraphs\[0\]: missing 'qas'"),
])
def test_wrong_types_are_one_line_errors(arcd_root, change, message):
    root, raw = arcd_root
    change(raw)
    write(root, raw)
    with pytest.raises(InputError, match=message):
        pr.load_pairs(root, datasets=["arcd"], quiet=True)


def test_null_context_in_the_xquad_file_used_for_decontamination(tmp_path, shared_data):
    root = tmp_path / "data"
    (root / "lareqa" / "xquad-r").mkdir(parents=True)
    raw = json.loads((shared_data / "lareqa/xquad-r/en.json").read_text(encoding="utf-8"))
    raw["data"][3]["paragraphs"][2]["context"] = None
    (root / "lareqa/xquad-r/en.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(InputError, match=r"en\.json: not SQuAD format: data\[3\]\.paragraphs\[2\]\.context: "
                                         r"expected a string, got null"):
        pr.load_pairs(root, datasets=["squad"], quiet=True)


def test_wrong_type_through_the_train_cli(arcd_root, tmp_path):
    root, raw = arcd_root
    raw["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = "7"
    write(root, raw)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[data]\ndatasets = ["arcd"]\n[train]\nsteps = 2\nbatch_size = 4\n')
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.train", str(recipe), "--output", str(tmp_path / "out"),
                           "--data-dir", str(root), "--quiet"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "answer_start: expected an integer, got str '7'" in proc.stderr
    assert not (tmp_path / "out").exists()
