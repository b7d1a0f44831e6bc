"""Reliability, second pass (issue 29): inputs that used to give wrong numbers with exit 0 now stop at once."""

import json
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
    from pyserini_hybrid.models.encoder import TextEncoder

    broken = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_multilingual, broken)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model"):
        (broken / name).unlink(missing_ok=True)
    (broken / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")  # what a stray file quietly gives
    with pytest.raises(InputError, match="tokenizer of 5 tokens for an embedding matrix of"):
        TextEncoder(broken)
    TextEncoder(tiny_multilingual)  # the intact directory loads
