"""Training faults that used to pass silently or as a traceback (issue 29, WEAK): a cut last log line with
its checkpoint present, a truncated exported model, a deleted newest checkpoint, an export onto a full disk."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest
from test_reliability_resume import steps_logged, tiny

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT, check_safetensors
from pyserini_hybrid.train import checkpoints
from pyserini_hybrid.train.loop import CARD, LOG, Trainer, train

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def card(out):
    return json.loads((out / CARD).read_text())


@pytest.fixture(scope="module")
def finished(tiny_multilingual, tmp_path_factory):
    """A finished 4-step run (checkpoints at steps 2 and 4) and its recipe."""
    recipe = tiny(tiny_multilingual)
    out = train(recipe, tmp_path_factory.mktemp("finished") / "out", quiet=True)
    return recipe, out


def test_a_cut_last_log_line_is_restored_from_its_checkpoint(finished, tmp_path, capsys):
    """The log's step-4 line cut in half (a kill, or a log never flushed) while checkpoint 4 is whole, the
    export not yet done: the step used to go unlogged and the card counted 3 batches for 4 steps."""
    recipe, done = finished
    out = shutil.copytree(done, tmp_path / "out")
    lines = (out / LOG).read_text().splitlines()
    last_step = max(i for i, x in enumerate(lines) if '"loss"' in x)
    (out / LOG).write_text("\n".join(lines[:last_step]) + "\n" + lines[last_step][:40])
    for name in (CARD, "model.safetensors"):  # killed while exporting
        (out / name).unlink()
    train(recipe, out, quiet=True)
    err = capsys.readouterr().err
    assert "dropped 1 unreadable line(s)" in err  # the cut one
    assert "2 line(s) up to step 4 were missing; restored from step-000004" in err  # it and the validation after it
    assert steps_logged(out) == [1, 2, 3, 4]
    assert card(out)["batches"] == card(done)["batches"]  # 4 batches, the realised alpha of 4 steps
    assert sum(card(out)["batches"][k] for k in ("mono", "cross")) == 4


@pytest.mark.parametrize("keep_checkpoint", [True, False], ids=["rebuilt", "refused"])
def test_a_truncated_exported_model_is_rebuilt_or_refused(finished, tmp_path, capsys, keep_checkpoint):
    """Rerunning train on a cut model.safetensors used to say "already trained", exit 0."""
    recipe, done = finished
    out = shutil.copytree(done, tmp_path / "out")
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    if not keep_checkpoint:
        shutil.rmtree(out / "checkpoints")
        with pytest.raises(InputError, match="exported model damaged .* no checkpoint of its final step 4"):
            train(recipe, out, quiet=True)
        return
    train(recipe, out, quiet=True)
    assert "exported model damaged" in capsys.readouterr().err
    check_safetensors(weights)
    assert weights.read_bytes() == (done / "model.safetensors").read_bytes()  # the same step-4 weights
    assert card(out)["steps"] == 4 and steps_logged(out) == [1, 2, 3, 4]


def test_a_deleted_newest_checkpoint_falls_back_with_a_message(finished, tmp_path, capsys):
    recipe, done = finished
    out = shutil.copytree(done, tmp_path / "out")
    (out / CARD).unlink()
    shutil.rmtree(out / "checkpoints" / "step-000004")
    again = Trainer(recipe, out, quiet=True)
    assert checkpoints.resume(again) and again.step == 2
    err = capsys.readouterr().err
    assert "the newest checkpoint written, step-000004, is gone; resuming from step-000002" in err
    assert steps_logged(out) == [1, 2]


def _small_file_limit():  # a full disk for this process: writes past 8 MB fail (EFBIG)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))


def test_an_export_onto_a_full_disk_is_one_line_and_the_rerun_exports(tiny_multilingual, tmp_path):
    """Word embeddings frozen: checkpoints are small, the exported model (32 MB) is not."""
    recipe_file = tmp_path / "tiny.toml"
    t = {"alpha": 0.5, "batch_size": 8, "steps": 4, "lr": 1e-3, "save_every": 2, "eval_every": 50,
         "temperature": 0.05, "threads": 1, "precision": "fp32", "freeze_word_embeddings": True}
    recipe_file.write_text("\n".join(["[model]", f'name = "{tiny_multilingual}"', "max_query_length = 32",
                                      "max_passage_length = 64", "[data]", 'languages = ["en", "es", "ja"]',
                                      "validation_percent = 2.0", "validation_groups = 0", "[train]",
                                      *[f"{k} = {json.dumps(v)}" for k, v in t.items()], ""]))
    argv = [sys.executable, "-m", "pyserini_hybrid.train", str(recipe_file), "--output", str(tmp_path / "out"), "--quiet"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, preexec_fn=_small_file_limit,
                          timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in proc.stderr and len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0])
    assert errors[0].startswith(f"error: {tmp_path / 'out'}: the model of step 4 could not be exported (")
    assert not (tmp_path / "out" / CARD).exists() and not any(p.name.startswith(".") for p in (tmp_path / "out").iterdir())
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_safetensors(tmp_path / "out" / "model.safetensors")
    assert card(tmp_path / "out")["steps"] == 4
