"""Resume never corrupts records (issue 19): a run killed before its first checkpoint starts again
cleanly, a truncated newest checkpoint falls back to the newest intact one, a cut-off log line is dropped."""

import json
import tomllib

import pytest

from pyserini_hybrid.train import checkpoints
from pyserini_hybrid.train import recipe as rc
from pyserini_hybrid.train.loop import CARD, LOG, Trainer, train


def tiny(model_dir, **train_args):
    t = {"alpha": 0.5, "batch_size": 8, "steps": 4, "lr": 1e-3, "save_every": 2, "eval_every": 50,
         "temperature": 0.05, "threads": 1, "precision": "fp32", **train_args}
    text = "\n".join(["[model]", f'name = "{model_dir}"', "max_query_length = 32", "max_passage_length = 64",
                      "[data]", 'languages = ["en", "es", "ja"]', "validation_percent = 2.0", "validation_groups = 0",
                      "[train]", *[f"{k} = {json.dumps(v)}" for k, v in t.items()], ""])
    return rc.from_dict(tomllib.loads(text), "tiny.toml")


def steps_logged(out):
    return [json.loads(x)["step"] for x in (out / LOG).read_text().splitlines() if '"loss"' in x]


def without_seconds(out):
    return [{k: v for k, v in json.loads(x).items() if k != "seconds"} for x in (out / LOG).read_text().splitlines()]


def test_run_killed_before_its_first_checkpoint_restarts_cleanly(tmp_path, tiny_multilingual, capsys):
    recipe = tiny(tiny_multilingual, save_every=50)  # the only checkpoint is the last step's
    straight = train(recipe, tmp_path / "straight", quiet=True)
    out = tmp_path / "killed"
    first = Trainer(recipe, out, quiet=True)  # what run() does for two steps, then the process dies
    out.mkdir()
    for _ in range(2):
        first._log(first.train_step())
    assert steps_logged(out) == [1, 2] and not checkpoints.checkpoints(out)
    train(recipe, out, quiet=True)
    assert steps_logged(out) == [1, 2, 3, 4]  # not 1, 2, 1, 2, 3, 4
    assert without_seconds(out) == without_seconds(straight)
    a, b = (json.loads((d / CARD).read_text()) for d in (straight, out))
    assert a["batches"] == b["batches"] and b["batches"]["mono"] + b["batches"]["cross"] == 4  # realised alpha too
    assert a["first_train_loss"] == b["first_train_loss"]
    assert a["final_train_loss_mean_last_10"] == b["final_train_loss_mean_last_10"]
    assert (out / (LOG + ".stale")).is_file() and "stopped before its first checkpoint" in capsys.readouterr().err


def _trainer_with_checkpoints(tmp_path, model_dir, steps=(2, 4)):
    recipe = tiny(model_dir, steps=6)
    trainer = Trainer(recipe, tmp_path / "out", quiet=True)
    (tmp_path / "out").mkdir()
    while trainer.step < max(steps):
        trainer._log(trainer.train_step())
        if trainer.step in steps:
            checkpoints.save(trainer)
    return recipe, tmp_path / "out"


def test_truncated_newest_checkpoint_falls_back_to_the_older_one(tmp_path, tiny_multilingual, capsys):
    recipe, out = _trainer_with_checkpoints(tmp_path, tiny_multilingual)
    newest = out / "checkpoints" / "step-000004" / "state.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a disk fault, a bad copy
    again = Trainer(recipe, out, quiet=True)
    assert checkpoints.resume(again) and again.step == 2
    err = capsys.readouterr().err
    assert "step-000004/state.pt: unreadable checkpoint" in err and "set aside as corrupt-step-000004" in err
    assert [p.name for p in checkpoints.checkpoints(out)] == ["step-000002"]
    assert steps_logged(out) == [1, 2]  # the log follows the checkpoint actually used


def test_no_intact_checkpoint_starts_again_from_step_0(tmp_path, tiny_multilingual, capsys):
    recipe, out = _trainer_with_checkpoints(tmp_path, tiny_multilingual, steps=(2,))
    (out / "checkpoints" / "step-000002" / "state.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    again = Trainer(recipe, out, quiet=True)
    assert not checkpoints.resume(again) and again.step == 0
    assert not (out / LOG).exists() and (out / (LOG + ".stale")).is_file()
    assert "unreadable checkpoint" in capsys.readouterr().err


def test_cut_off_log_line_is_dropped_with_a_warning(tmp_path, tiny_multilingual, capsys):
    recipe, out = _trainer_with_checkpoints(tmp_path, tiny_multilingual, steps=(2,))
    with open(out / LOG, "a", encoding="utf-8") as f:
        f.write('{"step": 3, "loss": 2.1, "ki')  # killed mid-write
    again = Trainer(recipe, out, quiet=True)
    assert checkpoints.resume(again) and again.step == 2
    assert steps_logged(out) == [1, 2]
    assert all(json.loads(x) for x in (out / LOG).read_text().splitlines())
    assert "dropped 1 unreadable line(s) (line 3" in capsys.readouterr().err
    again.run()  # and the run finishes with every step logged once
    assert steps_logged(out) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("content", [b"", b"\x80\x02}q\x00."])
def test_load_state_names_the_file(tmp_path, content):
    (tmp_path / "step-000001").mkdir()
    (tmp_path / "step-000001" / "state.pt").write_bytes(content)
    with pytest.raises(checkpoints.InputError, match=r"step-000001/state\.pt: (unreadable|incomplete) checkpoint"):
        checkpoints.load_state(tmp_path / "step-000001")


def test_a_resumed_run_counts_the_time_of_its_earlier_attempt(tmp_path, tiny_multilingual):
    """A study unit's cost counts every attempt: the card carries the step seconds a run resumed with, and the
    study's ``train_timed`` reports them (or all of the card's seconds when the model was already finished)."""
    from pyserini_hybrid.study.run.training import train_timed

    recipe, out = _trainer_with_checkpoints(tmp_path, tiny_multilingual, steps=(2,))
    before = checkpoints.load_state(checkpoints.checkpoints(out)[-1])["seconds"]
    assert before > 0
    card, wall, earlier = train_timed(recipe, out, None)
    assert card["steps"] == 6 and earlier == card["resumed_seconds"] == round(before, 1)
    assert card["seconds"] > earlier and wall > 0
    card_again, _, earlier_again = train_timed(recipe, out, None)  # finished: nothing trains, all of it is earlier
    assert card_again == card and earlier_again == card["seconds"]
    fresh = json.loads((train(tiny(tiny_multilingual), tmp_path / "fresh", quiet=True) / CARD).read_text())
    assert fresh["resumed_seconds"] == 0.0 and fresh["seconds"] > 0
