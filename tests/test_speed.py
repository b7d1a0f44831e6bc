"""``python -m pyserini_hybrid.speed`` times what users run: its training figure is the trainer CLI's own log
(fresh processes, the recipe as given), its encoding lines go through our Pyserini encoder class. Tiny model;
no timing is asserted, only where the figures come from."""

import json
import statistics

import numpy as np
import pytest

from pyserini_hybrid.models.precision import cpu_has_bf16
from pyserini_hybrid import speed
from pyserini_hybrid.bench.speed import NO_BF16, train_command


def tiny_recipe(model_dir, path, **train):
    t = {"alpha": 0.5, "batch_size": 8, "steps": 50, "lr": 1e-3, "save_every": 50, "eval_every": 50,
         "temperature": 0.05, "threads": 1, "precision": "fp32", **train}
    path.write_text("\n".join([
        "[model]", f'name = "{model_dir}"', "max_query_length = 32", "max_passage_length = 64",
        "[data]", 'languages = ["en", "es"]', "validation_percent = 2.0",
        "[train]", *[f"{k} = {json.dumps(v)}" for k, v in t.items()], ""]))
    return path


def test_the_training_figure_is_the_trainer_clis_own_log(tmp_path, tiny_multilingual, monkeypatch):
    recipe = tiny_recipe(tiny_multilingual, tmp_path / "tiny.toml")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")  # a ceiling: changes nothing for fp32
    assert speed.main(["--recipe", str(recipe), "--passages", "0", "--settings", "fp32/4", "--train-steps", "3",
                       "--train-repeats", "1", "--json", str(tmp_path / "speed.json"), "--keep", str(tmp_path / "runs")]) == 0
    report = json.loads((tmp_path / "speed.json").read_text())
    assert report["onednn"] == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}  # a figure names what oneDNN was allowed
    figure = report["training"][0]
    run = tmp_path / "runs" / "train-fp32-4-0"
    log = [json.loads(x) for x in (run / "train-log.jsonl").read_text().splitlines()]
    seconds = [r["seconds"] for r in log if "loss" in r]
    assert len(seconds) == 3  # the recipe's 50 steps overridden on the command line, as the CLI takes --set
    assert figure["first_step"]["median"] == seconds[0]
    assert figure["step"]["median"] == statistics.median(seconds[1:]) and figure["step"]["n"] == 2
    card = json.loads((run / "training-card.json").read_text())
    assert card["precision"] == figure["precision"] == "fp32" and card["sub_batch"] == 4
    assert card["recipe"]["train"]["steps"] == 3 and card["precision_choice"]["how"] == "as requested"
    assert train_command(recipe, 3, "fp32", 4, run)[1:3] == ["-m", "pyserini_hybrid.train"]


@pytest.mark.parametrize("argv, message", [
    (["--settings", "bf32/8"], "expected PRECISION/SUB_BATCH"),
    (["--repeats", "0"], "--repeats 0: must be positive"),
    (["--recipe", "no-such.toml"], "no-such.toml: file not found"),
])
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        speed.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.strip().count("\n") == 0


@pytest.mark.slow
@pytest.mark.skipif(not cpu_has_bf16(), reason="no bf16 instruction on this CPU: the bf16 lines are not timed "
                    "(test_no_bf16_instruction_no_bf16_timing)")
def test_encoding_lines_through_our_pyserini_encoder(tmp_path, tiny_multilingual, converted, capsys, monkeypatch):
    topics, _ = converted
    monkeypatch.setenv("PYSERINI_HYBRID_CACHE", str(tmp_path / "cache"))
    assert speed.main(["--model", str(tiny_multilingual), "--topics-dir", str(topics), "--passages", "40",
                       "--train-steps", "0", "--repeats", "2", "--encode", "fp32", "bf16", "auto",
                       "--json", str(tmp_path / "speed.json")]) == 0
    report = json.loads((tmp_path / "speed.json").read_text())
    names = [x["encoder"] for x in report["encoding"]]
    assert names == ["Pyserini AutoDocumentEncoder (fp32)", "ours, fp32", "ours, bf16", "ours, auto"]
    by = {x["encoder"]: x for x in report["encoding"]}
    assert by["ours, fp32"]["min_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert by["Pyserini AutoDocumentEncoder (fp32)"]["min_cosine"] > 0.9999  # the same model, stock code
    assert by["ours, bf16"]["precision_choice"]["precision"] == "bf16"
    assert by["ours, auto"]["precision_choice"]["requested"] == "auto"
    assert all(x["passages_per_s"]["n"] == 2 and np.isfinite(x["passages_per_s"]["median"]) for x in report["encoding"])
    assert "ours, auto" in capsys.readouterr().out


@pytest.mark.slow
def test_no_bf16_instruction_no_bf16_timing(tmp_path, tiny_multilingual, converted, capsys, monkeypatch):
    """Where oneDNN has no bf16 instruction (an AVX2-only CPU; here played by capping oneDNN at AVX2) it emulates
    bf16 at ~1 GFLOP/s: the script times no bf16 matrix product, encoder or training setting, says so, and auto
    runs fp32 without measuring."""
    topics, _ = converted
    monkeypatch.setenv("PYSERINI_HYBRID_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not cpu_has_bf16()
    assert speed.main(["--model", str(tiny_multilingual), "--topics-dir", str(topics), "--passages", "20",
                       "--train-steps", "0", "--repeats", "1", "--no-pyserini",
                       "--json", str(tmp_path / "speed.json")]) == 0  # default --encode fp32 bf16 auto
    report = json.loads((tmp_path / "speed.json").read_text())
    assert list(report["matmul_gflops"]) == ["fp32"] and report["bf16"] == NO_BF16
    assert [x["encoder"] for x in report["encoding"]] == ["ours, fp32", "ours, auto"]
    auto = report["encoding"][1]["precision_choice"]
    assert auto["precision"] == "fp32" and auto["how"] == "no bf16 instructions"
    assert "bf16: not timed: no bf16 instruction" in capsys.readouterr().out
