"""Training safety (reliability probe 2026-12-07, D5, D7, D8, B6b): a crafted checkpoint runs nothing, a
recipe value that is not finite or out of range is refused, NaN weights are neither checkpointed nor
exported, a deeply nested recipe is one line, and a checkpoint that cannot be written is one line."""

import resource
import signal

import pytest
import torch
from test_reliability_resume import steps_logged, tiny

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.train import checkpoints
from pyserini_hybrid.train import recipe as rc
from pyserini_hybrid.train.loop import CARD, Trainer, train

MARKER = {}


class RunsCode:
    """A pickle that runs code when loaded: it creates the file MARKER["path"]."""

    def __reduce__(self):
        return (open, (MARKER["path"], "w"))


def _with_checkpoints(out, model_dir, steps=(2, 4), **train_args):
    """A 6-step recipe, trained to max(steps) with a checkpoint at each of ``steps`` (no export)."""
    recipe = tiny(model_dir, steps=6, freeze_word_embeddings=True, **train_args)
    trainer = Trainer(recipe, out, quiet=True)
    out.mkdir()
    while trainer.step < max(steps):
        trainer._log(trainer.train_step())
        if trainer.step in steps:
            checkpoints.save(trainer)
    return recipe, trainer


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------- D5: nothing in a checkpoint runs
def test_a_crafted_checkpoint_runs_nothing_and_is_set_aside(tmp_path, tiny_multilingual, capsys):
    """``state.pt`` re-saved with an object whose ``__reduce__`` runs code used to run it on resuming."""
    recipe, _ = _with_checkpoints(tmp_path / "out", tiny_multilingual)
    newest = tmp_path / "out" / "checkpoints" / "step-000004" / "state.pt"
    MARKER["path"] = str(tmp_path / "code-ran")
    state = torch.load(newest, weights_only=True)
    torch.save({**state, "extra": RunsCode()}, newest)
    again = Trainer(recipe, tmp_path / "out", quiet=True)
    assert checkpoints.resume(again) and again.step == 2  # the intact older checkpoint
    assert not (tmp_path / "code-ran").exists()
    err = capsys.readouterr().err
    assert "step-000004/state.pt: holds io.open, not a tensor or plain value; not loaded" in err
    assert "set aside as corrupt-step-000004" in err
    with pytest.raises(InputError, match="not loaded"):  # and set aside, it is still refused unread
        checkpoints.load_state(tmp_path / "out" / "checkpoints" / "corrupt-step-000004")
    assert not (tmp_path / "code-ran").exists()


def test_a_checkpoint_of_the_previous_writer_resumes_exactly(tmp_path, tiny_multilingual):
    """Checkpoints written before the safe loader (``torch.save`` to a path, the same plain contents) load
    with ``weights_only=True`` and resume bit-identically."""
    recipe, _ = _with_checkpoints(tmp_path / "out", tiny_multilingual, steps=(2,))
    state_file = tmp_path / "out" / "checkpoints" / "step-000002" / "state.pt"
    torch.save(torch.load(state_file, weights_only=True), str(state_file))  # the old writer's call
    resumed = train(recipe, tmp_path / "out", quiet=True)
    straight = train(recipe, tmp_path / "straight", quiet=True)
    assert steps_logged(resumed) == [1, 2, 3, 4, 5, 6]
    a, b = (torch.load(checkpoints.checkpoints(d)[-1] / "state.pt", weights_only=True)["model"]
            for d in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("field, value, message", [
    ("torch_rng", [b"not a tensor"], "torch_rng of the wrong type"),
    ("step", "2", "step of the wrong type"),
])
def test_a_checkpoint_of_the_wrong_types_is_refused_not_a_traceback(tmp_path, field, value, message):
    (tmp_path / "step-000002").mkdir()
    state = {k: None for k in checkpoints.STATE_KEYS} | {
        "step": 2, "model": {}, "optimizer": {"state": {}, "param_groups": []}, "scheduler": {},
        "torch_rng": [torch.get_rng_state()], "sampler": {"alpha": 0.5, "drawn": 0, "rng": {}, "streams": {}},
        "seconds": 1.0, "recipe": "x", field: value}
    torch.save(state, tmp_path / "step-000002" / "state.pt")
    with pytest.raises(InputError, match=f"malformed checkpoint \\({message}\\)"):
        checkpoints.load_state(tmp_path / "step-000002")


# ---------------------------------------------------------------- D7 / D8: every value finite and in range
def _recipe_file(tmp_path, *extra):
    """A recipe of three sections with ``extra`` (section, line) pairs; a [train] line is on line 4."""
    lines = ["[model]", "[data]", "[train]"]
    for section, line in extra:
        lines.insert(lines.index(f"[{section}]") + 1, line)
    path = tmp_path / "r.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("section, line, message", [
    ("train", "lr = inf", r"r\.toml:4: train\.lr must be a finite number, got inf"),
    ("train", "lr = 1" + "0" * 400, r"r\.toml:4: train\.lr must be a finite number, got inf"),  # float() overflow
    ("train", "temperature = inf", "train.temperature must be a finite number, got inf"),
    ("train", "weight_decay = inf", "train.weight_decay must be a finite number"),
    ("train", "max_grad_norm = inf", "train.max_grad_norm must be a finite number"),
    ("train", "warmup_ratio = nan", "train.warmup_ratio must be a finite number, got nan"),
    ("train", "alpha = -inf", "train.alpha must be a finite number"),
    ("data", "validation_percent = nan", "data.validation_percent must be a finite number"),
    ("train", "lr = 5.0", r"train\.lr must lie in \(0, 1\], got 5\.0"),
    ("train", "temperature = 1e9", r"train\.temperature must lie in \(0, 100\]"),
    ("train", "weight_decay = 3.0", "train.weight_decay must be >= 0 and at most 1"),
    ("train", "steps = 100000000000000000000000", r"r\.toml:4: train\.steps must be below 2\*\*31"),
    ("model", "max_passage_length = 4294967296", r"r\.toml:2: model\.max_passage_length must be below 2\*\*31"),
    ("data", 'languages = ["en", "es", "en"]', r"r\.toml:3: data\.languages names en more than once"),
    ("data", 'datasets = ["squad", "squad"]', "data.datasets names squad more than once"),
    ("data", 'languages = ["en", 7]', "data.languages must be a list of strs"),
    ("train", "export_steps = [1, 1]", "train.export_steps names 1 more than once"),
])
def test_every_recipe_value_is_finite_in_range_and_listed_once(tmp_path, section, line, message):
    with pytest.raises(InputError, match=message):
        rc.load(_recipe_file(tmp_path, (section, line)))


@pytest.mark.parametrize("setting, value, message", [
    ("lr=inf", float("inf"), "train.lr must be a finite number, got inf"),
    ("temperature=nan", float("nan"), "train.temperature must be a finite number, got nan"),
    ("steps=100000000000000000000000", 10 ** 23, r"train\.steps must be below 2\*\*31"),
    ("export_steps=[1, 1]", [1, 1], "train.export_steps names 1 more than once"),
])
def test_set_and_study_changes_follow_the_same_rule(tmp_path, setting, value, message):
    path = _recipe_file(tmp_path, *[("train", x) for x in ("lr = 1e-3", "temperature = 0.05", "steps = 2",
                                                            "export_steps = []")])
    with pytest.raises(InputError, match=r"r\.toml \(--set\): " + message):
        rc.load(path, ["train." + setting])
    with pytest.raises(InputError, match=message):  # a study's changes to its base recipe
        rc.with_changes(rc.load(path), train={setting.split("=")[0]: value})


def test_lr_inf_on_the_command_line_is_one_line_and_writes_nothing(tmp_path, cli_error):
    """The probe's D7: ``lr = inf`` trained a NaN model, exit 0."""
    from test_train import ENV

    path = _recipe_file(tmp_path, ("train", "lr = inf"))
    error = cli_error(["pyserini_hybrid.train", str(path), "--set", "train.steps=2", "--output",
                       str(tmp_path / "out")], ENV)
    assert error == f"error: {path}:4: train.lr must be a finite number, got inf"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("depth", [100, 10_000])
def test_a_deeply_nested_recipe_is_one_line_naming_the_file(tmp_path, depth):
    """A 10,000-deep inline table gave a RecursionError traceback; 100 levels parse, and are refused the same."""
    path = tmp_path / "r.toml"
    path.write_text("[train]\nalpha = " + "{a = " * depth + "1" + "}" * depth + "\n")
    with pytest.raises(InputError, match=f"^{path}: not a valid TOML recipe: tables or arrays nested deeper "
                                         "than 64 levels$"):
        rc.load(path)
    path.write_text("[train]\nalpha = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        rc.load(path)
    with pytest.raises(InputError, match="^--set train.alpha: value nested too deeply$"):
        rc.load(_recipe_file(tmp_path), ["train.alpha=" + "[" * 10_000 + "]" * 10_000])


# ---------------------------------------------------------------- D7: NaN weights are not kept
def test_nan_weights_are_neither_checkpointed_nor_exported(tmp_path, tiny_multilingual):
    recipe, trainer = _with_checkpoints(tmp_path / "out", tiny_multilingual, steps=(2,))
    with torch.no_grad():
        next(p for p in trainer.model.model.parameters() if p.requires_grad).fill_(float("nan"))
    before = _files(tmp_path / "out")
    with pytest.raises(InputError, match=r"the weights after step 2 are not finite \(NaN or inf in .*\); model "
                                         f"{tmp_path / 'out'} not written"):
        trainer.export()
    with pytest.raises(InputError, match="not finite .*; checkpoint of step 2 not written"):
        checkpoints.save(trainer)
    assert _files(tmp_path / "out") == before  # no model, no card, no temporaries
    assert [p.name for p in checkpoints.checkpoints(tmp_path / "out")] == ["step-000002"]


def test_a_run_whose_loss_turns_nan_stops_before_its_checkpoint(tmp_path, tiny_multilingual):
    """A run that goes NaN (here: weights set to NaN, as ``lr = inf`` did after one step) stops at once."""
    recipe = tiny(tiny_multilingual, steps=4, freeze_word_embeddings=True)
    trainer = Trainer(recipe, tmp_path / "out", quiet=True)
    with torch.no_grad():
        next(p for p in trainer.model.model.parameters() if p.requires_grad).fill_(float("nan"))
    with pytest.raises(InputError, match="the loss of step 1 is nan; training stopped, nothing exported"):
        trainer.run()
    assert not checkpoints.checkpoints(tmp_path / "out") and not (tmp_path / "out" / CARD).exists()
    assert not (tmp_path / "out" / "model.safetensors").exists()


# ---------------------------------------------------------------- B6b: a checkpoint onto a full disk
def _save_with_file_limit(trainer, limit):
    """checkpoints.save(trainer) with writes past ``limit`` bytes failing (EFBIG), as on a full disk."""
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        return checkpoints.save(trainer)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


def test_a_checkpoint_onto_a_full_disk_is_one_line_and_leaves_nothing_to_resume(tmp_path, tiny_multilingual):
    """torch's own writer failing used to be a RuntimeError traceback (``unexpected pos N vs M``)."""
    recipe, trainer = _with_checkpoints(tmp_path / "out", tiny_multilingual, steps=(2,))
    good = tmp_path / "out" / "checkpoints" / "step-000002" / "state.pt"
    before = good.read_bytes()
    trainer._log(trainer.train_step())
    trainer._log(trainer.train_step())
    with pytest.raises(InputError, match=r"^checkpoint at step 4 could not be written \(File too large\); the last "
                                         r"good one is intact: .*step-000002$"):
        _save_with_file_limit(trainer, len(before) // 2)
    assert _files(tmp_path / "out" / "checkpoints") == ["latest.json", "step-000002"]  # no temporaries either
    assert good.read_bytes() == before
    again = Trainer(recipe, tmp_path / "out", quiet=True)
    assert checkpoints.resume(again) and again.step == 2


def test_torch_writer_errors_are_one_line(tmp_path, tiny_multilingual, monkeypatch):
    """What torch.save raises when its C++ writer hits a full disk: a RuntimeError naming no errno."""
    recipe, trainer = _with_checkpoints(tmp_path / "out", tiny_multilingual, steps=(2,))
    trainer._log(trainer.train_step())
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(InputError, match=r"step 3 could not be written \(\[enforce fail at inline_container\.cc:672\] "
                                         r"\. unexpected pos 704 vs 598\); the last good one is intact"):
        checkpoints.save(trainer)
    assert _files(tmp_path / "out" / "checkpoints") == ["latest.json", "step-000002"]
