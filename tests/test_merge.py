"""``train merge``: a model fine-tuned for 2 steps (the tiny multilingual model on the real training pairs)
averaged in weight space with its start model; the result is a model directory the encoder path serves."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from test_train import ENV, _parsed, tiny_recipe

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import sha256
from pyserini_hybrid.train import merge
from pyserini_hybrid.train import recipe as rc
from pyserini_hybrid.train.__main__ import main
from pyserini_hybrid.train.loop import CARD, train

TEXTS = ["¿Quién ganó el partido?", "Who won the match?", "誰が試合に勝った？"]


@pytest.fixture(scope="module")
def fine_tuned(tiny_multilingual, tmp_path_factory):
    """(fine-tuned model directory, its start model directory): 2 training steps (lr 1e-3, so they move it)."""
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual, steps=2, save_every=2, eval_every=2)), "tiny.toml")
    return train(recipe, tmp_path_factory.mktemp("ft") / "model", quiet=True), tiny_multilingual


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes as integers: equal bits, not just equal values (-0.0 vs 0.0)."""
    return t.contiguous().view(torch.uint8)


def test_half_is_the_mean_and_the_output_is_a_model_directory(fine_tuned, tmp_path, capsys):
    ft, start = fine_tuned
    out = tmp_path / "models" / "merged"
    # the CLI, with the start model read from the fine-tuned model's training card
    assert main(["merge", "--model", str(ft), "--output", str(out)]) == 0
    assert f"model: {out}" in capsys.readouterr().out
    a, b, m = (load_file(str(d / "model.safetensors")) for d in (ft, start, out))
    assert sorted(m) == sorted(a) and {k: (v.shape, v.dtype) for k, v in m.items()} == \
        {k: (v.shape, v.dtype) for k, v in a.items()}
    moved = [k for k in a if not torch.equal(a[k], b[k])]
    assert moved  # training moved the weights, so the merge is neither input
    for k in moved:
        assert torch.equal(m[k], (a[k] + b[k]) / 2), k
    card = json.loads((out / merge.MERGE_CARD).read_text())
    assert card["weight"] == 0.5 and card["start"]["path"] == str(start)
    assert card["fine_tuned"]["sha256"] == sha256(ft / "model.safetensors")
    assert card["start"]["sha256"] == sha256(start / "model.safetensors")
    assert card["output"]["sha256"] == sha256(out / "model.safetensors")
    # a complete model directory: config, tokenizer, settings, card, sentence-transformers files; no run state
    for name in ("config.json", "tokenizer.json", "pyserini_hybrid.json", CARD, "modules.json", "1_Pooling"):
        assert (out / name).exists(), name
    assert not (out / "checkpoints").exists() and not (out / "train-log.jsonl").exists()
    assert [p.name for p in out.parent.iterdir()] == ["merged"]  # no temporary or lock left beside it


def test_merged_model_encodes_differently_from_both_inputs(fine_tuned, tmp_path):
    from pyserini_hybrid.models.text_encoder import TextEncoder

    ft, start = fine_tuned
    merge.merge_models(ft, start, tmp_path / "merged")
    emb = {name: TextEncoder(d, precision="fp32").embed(TEXTS, "query: ", 32)
           for name, d in (("ft", ft), ("start", start), ("merged", tmp_path / "merged"))}
    assert emb["merged"].shape == (3, 32) and np.isfinite(emb["merged"]).all()
    assert not np.allclose(emb["merged"], emb["ft"], atol=1e-4)
    assert not np.allclose(emb["merged"], emb["start"], atol=1e-4)


@pytest.mark.parametrize("weight,source", [(1.0, 0), (0.0, 1)])
def test_endpoints_reproduce_the_inputs_exactly(fine_tuned, tmp_path, weight, source):
    out = tmp_path / "merged"
    merge.merge_models(*fine_tuned, out, weight)
    want = load_file(str(fine_tuned[source] / "model.safetensors"))
    got = load_file(str(out / "model.safetensors"))
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        assert torch.equal(bits(got[k]), bits(v)), k


def test_deterministic_and_rerunnable(fine_tuned, tmp_path):
    one = merge.merge_models(*fine_tuned, tmp_path / "one", 0.3)
    two = merge.merge_models(*fine_tuned, tmp_path / "two", 0.3)
    assert (tmp_path / "one/model.safetensors").read_bytes() == (tmp_path / "two/model.safetensors").read_bytes()
    assert one["output"]["sha256"] == two["output"]["sha256"]
    # the same output again replaces the earlier merge; an input never is
    assert merge.merge_models(*fine_tuned, tmp_path / "one", 0.3)["output"] == one["output"]
    with pytest.raises(InputError, match="would replace the input"):
        merge.merge_models(*fine_tuned, fine_tuned[0], 0.3)


def _start_with(start, tmp_path, change):
    """A copy of the start model's weights with one tensor changed by ``change(name, tensor)``."""
    tensors = load_file(str(start / "model.safetensors"))
    name = sorted(k for k in tensors if k.endswith("LayerNorm.weight"))[0]
    tensors = change(name, tensors)
    other = tmp_path / "other"
    other.mkdir()
    save_file(tensors, str(other / "model.safetensors"), metadata={"format": "pt"})
    return other, name


@pytest.mark.parametrize("change,said", [
    (lambda k, t: {**t, k: t[k][:-1].clone()}, "is F32 [31] where"),
    (lambda k, t: {**t, k: t[k].half()}, "is F16 [32] where"),
    (lambda k, t: {x: v for x, v in t.items() if x != k}, "is no such tensor where"),
])
def test_mismatched_start_fails_in_one_line_with_nothing_written(fine_tuned, tmp_path, change, said):
    other, name = _start_with(fine_tuned[1], tmp_path, change)
    out = tmp_path / "models" / "merged"
    with pytest.raises(InputError) as e:
        merge.merge_models(fine_tuned[0], other, out)
    assert f"tensor {name} {said}" in str(e.value) and "\n" not in str(e.value)
    assert not out.parent.exists()


def test_bad_weight_fails_in_one_line_with_nothing_written(fine_tuned, tmp_path, cli_error):
    out = tmp_path / "models" / "merged"
    for weight in (-0.1, float("nan")):
        with pytest.raises(InputError, match=r"must lie in \[0, 1\]"):
            merge.merge_models(*fine_tuned, out, weight)
    error = cli_error(["pyserini_hybrid.train", "merge", "--model", str(fine_tuned[0]), "--weight", "1.5",
                       "--output", str(out)], ENV)
    assert error == "error: --weight 1.5: the fine-tuned model's weight must lie in [0, 1]"
    assert not out.parent.exists()


def test_a_failed_merge_leaves_nothing(fine_tuned, tmp_path, monkeypatch):
    """Killed or failing while writing: no output, no temporary, no lock beside it."""
    def fail(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(merge, "_copy_model_files", fail)
    with pytest.raises(KeyboardInterrupt):
        merge.merge_models(*fine_tuned, tmp_path / "models" / "merged")
    assert list((tmp_path / "models").iterdir()) == []
