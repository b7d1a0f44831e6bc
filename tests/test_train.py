"""Training on the tiny multilingual model with the real training pairs: recipes, steps, resume, DDP."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.train import checkpoints
from pyserini_hybrid.train import recipe as rc
from pyserini_hybrid.train.loop import CARD, LOG, Trainer, train

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def tiny_recipe(model_dir, path=None, **train):
    """A recipe file for the tiny model on three languages (two of them parallel)."""
    t = {"alpha": 0.5, "batch_size": 8, "steps": 6, "lr": 1e-3, "save_every": 2, "eval_every": 3,
         "temperature": 0.05, "threads": 1, "precision": "fp32", **train}
    text = "\n".join([
        "[model]", f'name = "{model_dir}"', "max_query_length = 32", "max_passage_length = 64",
        "[data]", 'languages = ["en", "es", "ja"]', "validation_percent = 2.0",
        "[train]", *[f"{k} = {json.dumps(v)}" for k, v in t.items()], ""])
    if path is not None:
        path.write_text(text)
    return text


def run_train(*args, **kw):
    return subprocess.run([sys.executable, "-m", "pyserini_hybrid.train", *map(str, args)], capture_output=True,
                          text=True, cwd=PROJECT_ROOT, env=ENV, **kw)


def weights(directory):
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


# ------------------------------------------------------------------ recipes
def test_shipped_recipes_load():
    for path in sorted((PROJECT_ROOT / "encoders").glob("*.toml")):
        r = rc.load(path)
        assert 0 <= r.train.alpha <= 1
    mono = rc.load(PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml", ["train.alpha=1"])
    assert mono.train.alpha == 1.0 and mono.fingerprint() != rc.load(
        PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml").fingerprint()


@pytest.mark.parametrize("body,message", [
    ("[train]\nalpah = 0.5\n", "unknown key.*alpah"),
    ("[train]\nalpha = 1.5\n", r"alpha must lie in \[0, 1\]"),
    ("[train]\nalpha = -0.1\n", r"alpha must lie in \[0, 1\]"),
    ("[training]\nsteps = 1\n", "unknown section.*training"),
    ("[train]\nsteps = \"ten\"\n", "steps must be int"),
    ("[data]\nhard_negatives = \"bm42\"\n", "hard_negatives must be one of"),
    ("[train\n", "r.toml:1: not a valid TOML recipe"),
])
def test_bad_recipes(tmp_path, body, message):
    path = tmp_path / "r.toml"
    path.write_text(body)
    with pytest.raises(InputError, match=message):
        rc.load(path)


def test_bad_recipe_cli_one_line_and_nothing_written(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[train]\nalpha = 2\n")
    proc = run_train(path, "--output", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "alpha must lie in" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = run_train(PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml", "--set", "train.alpha", "--output",
                     tmp_path / "out")
    assert proc.returncode == 2 and "expected section.key=value" in proc.stderr


def test_language_without_data(tmp_path, tiny_multilingual):
    path = tmp_path / "r.toml"
    tiny_recipe(tiny_multilingual, path)
    path.write_text(path.read_text().replace('languages = ["en", "es", "ja"]', 'languages = ["en", "sw"]'))
    proc = run_train(path, "--output", tmp_path / "out")
    assert proc.returncode == 2 and "no training data for language(s) sw" in proc.stderr


# ------------------------------------------------------------------ steps
def test_loss_falls_on_a_fixed_batch(tmp_path, tiny_multilingual):
    trainer = Trainer(rc.from_dict(_parsed(tiny_recipe(tiny_multilingual))), tmp_path / "out", quiet=True)
    batch = trainer.sampler.next_batch()
    losses = []
    for _ in range(8):
        trainer.optimizer.zero_grad()
        loss = trainer.batch_loss(batch)
        loss.backward()
        trainer.optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses


def _fixed_batch_losses(tmp_path, model_dir, steps=8, **train):
    trainer = Trainer(rc.from_dict(_parsed(tiny_recipe(model_dir, **train))), tmp_path / "out", quiet=True)
    torch.manual_seed(0)
    batch = trainer.sampler.next_batch()
    losses = []
    for _ in range(steps):
        trainer.optimizer.zero_grad()
        loss = trainer.batch_loss(batch)
        loss.backward()
        trainer.optimizer.step()
        losses.append(loss.item())
    return trainer, losses


def test_bf16_training_loss_falls_like_fp32(tmp_path, tiny_multilingual_no_dropout):
    fp32, a = _fixed_batch_losses(tmp_path / "a", tiny_multilingual_no_dropout, precision="fp32")
    bf16, b = _fixed_batch_losses(tmp_path / "b", tiny_multilingual_no_dropout, precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert b[0] == pytest.approx(a[0], rel=0.02)            # the same start, up to bf16 rounding
    assert b[-1] < 0.6 * b[0] and abs(b[-1] / b[0] - a[-1] / a[0]) < 0.1, (a, b)
    # master weights stay fp32 (autocast computes in bf16, the optimiser updates fp32)
    assert all(p.dtype == torch.float32 for p in bf16.model.module.parameters())


def test_length_sorted_sub_batches_give_the_same_loss_and_gradients(tmp_path, tiny_multilingual_no_dropout):
    """Encoding a step in length-sorted sub-batches, padded to multiples of 16 or to exact lengths
    (``train.pad_multiple``), changes what is padded, not what is computed."""
    results = []
    for sub, pad in ((0, 16), (3, 16), (3, 1)):
        recipe = tiny_recipe(tiny_multilingual_no_dropout, sub_batch=sub, pad_multiple=pad)
        trainer = Trainer(rc.from_dict(_parsed(recipe)), tmp_path / f"out{sub}-{pad}", quiet=True)
        assert trainer.model.module.pad_multiple == pad
        batch = trainer.sampler.next_batch()
        trainer.optimizer.zero_grad()
        loss = trainer.batch_loss(batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.module.named_parameters() if p.grad is not None}
        results.append((loss.item(), grads, batch))
    (l0, g0, b0), *others = results
    for l3, g3, b3 in others:
        assert b0 == b3 and l3 == pytest.approx(l0, rel=1e-5)
        assert g0.keys() == g3.keys() and len(g0) > 10
        for name in g0:
            assert torch.allclose(g0[name], g3[name], atol=1e-6, rtol=1e-4), name


def _parsed(text):
    import tomllib

    return tomllib.loads(text)


def test_full_disk_keeps_the_last_good_checkpoint(tmp_path, tiny_multilingual, monkeypatch):
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual)))
    trainer = Trainer(recipe, tmp_path / "out", quiet=True)
    (tmp_path / "out").mkdir()
    trainer.train_step()
    trainer.train_step()
    good = checkpoints.save(trainer)
    before = (good / "state.pt").read_bytes()
    trainer.train_step()
    trainer.train_step()
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        real_save(obj, f, *a, **k)  # half a file lands, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(InputError, match="step 4 could not be written \\(No space left on device\\).*step-000002"):
        checkpoints.save(trainer)
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["latest.json", "step-000002"]
    assert json.loads((tmp_path / "out" / "checkpoints" / "latest.json").read_text())["step"] == 2  # not the failed 4
    assert (good / "state.pt").read_bytes() == before
    # and a new trainer resumes from it
    again = Trainer(recipe, tmp_path / "out", quiet=True)
    assert checkpoints.resume(again) and again.step == 2


def test_kill_and_resume_give_identical_weights(tmp_path, tiny_multilingual):
    recipe = tmp_path / "r.toml"
    tiny_recipe(tiny_multilingual, recipe, steps=40, save_every=5, eval_every=10)
    straight = tmp_path / "straight"
    proc = run_train(recipe, "--output", straight, "--quiet")
    assert proc.returncode == 0, proc.stderr

    resumed = tmp_path / "resumed"
    for _ in range(5):  # kill after a checkpoint, before the end
        child = subprocess.Popen([sys.executable, "-m", "pyserini_hybrid.train", str(recipe), "--output", str(resumed),
                                  "--quiet"], cwd=PROJECT_ROOT, env=ENV, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        while child.poll() is None and not (resumed / "checkpoints" / "step-000010" / "state.pt").is_file():
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.returncode == -signal.SIGKILL and not (resumed / CARD).exists():
            break
    assert not (resumed / CARD).exists(), "the run was never interrupted"
    proc = run_train(recipe, "--output", resumed)
    assert proc.returncode == 0, proc.stderr
    assert "resumed from step" in proc.stdout + proc.stderr
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logs = [[json.loads(x) for x in (d / LOG).read_text().splitlines()] for d in (straight, resumed)]
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in log] for log in logs]
    assert strip[0] == strip[1]
    # finished: running again returns at once
    proc = run_train(recipe, "--output", resumed)
    assert proc.returncode == 0 and "already trained" in proc.stdout


def test_output_is_a_model_directory_with_card(tmp_path, tiny_multilingual):
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual, steps=4, alpha=0.5)), "tiny.toml")
    out = train(recipe, tmp_path / "model", quiet=True)
    card = json.loads((out / CARD).read_text())
    assert card["steps"] == 4 and card["batches"]["mono"] + card["batches"]["cross"] == 4
    assert card["data"]["pairs"]["squad/en"] > 8000 and card["data"]["dropped_xquad"]["squad/en"] == 1190
    assert card["train_pairs"] + card["validation_pairs"] == card["data"]["pairs_total"]
    # the last step is exported: no checkpoint is picked by a validation number
    assert card["exported_step"] == 4 and card["selection"] == "last step" and card["final_val_loss"] > 0
    cfg = json.loads((out / "pyserini_hybrid.json").read_text())
    assert (cfg["pooling"], cfg["query_prefix"], cfg["max_passage_length"]) == ("mean", "query: ", 64)
    from pyserini_hybrid.models.text_encoder import TextEncoder

    emb = TextEncoder(out).embed(["¿Quién ganó?", "誰が勝った？"], "query: ", 32)
    assert emb.shape == (2, 32)
    # a different recipe may not reuse the directory
    other = rc.with_changes(recipe, train={"alpha": 1.0})
    with pytest.raises(InputError, match="trained with another recipe"):
        train(other, out, quiet=True)


@pytest.mark.slow
@pytest.mark.parametrize("negatives", ["none", "paragraph"])
def test_ddp_two_processes_match_one_process(tmp_path, tiny_multilingual_no_dropout, negatives):
    """torchrun, 2 ranks on gloo under DistributedDataParallel, global batch 8 split 4+4 == one process with
    batch 8 (dropout off), with and without hard negatives (gathered across ranks like the positives)."""
    recipe = tmp_path / "r.toml"
    tiny_recipe(tiny_multilingual_no_dropout, recipe, steps=3, save_every=3, eval_every=3)
    recipe.write_text(recipe.read_text().replace("[data]\n", f'[data]\nhard_negatives = "{negatives}"\n'))
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_train(recipe, "--output", one, "--quiet").returncode == 0
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "pyserini_hybrid.train", str(recipe), "--output", str(two), "--quiet"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((two / CARD).read_text())
    assert card["world_size"] == 2
    logs = [[json.loads(x) for x in (d / LOG).read_text().splitlines()] for d in (one, two)]
    assert [r.get("langs") for r in logs[0]] == [r.get("langs") for r in logs[1]]
    for r1, r2 in zip(logs[0], logs[1]):
        if "loss" in r1:
            assert r1["loss"] == pytest.approx(r2["loss"], rel=1e-4)
    a, b = weights(one), weights(two)
    start = weights(tiny_multilingual_no_dropout)
    moved = [k for k in a if not torch.equal(a[k], start[k])]
    assert moved  # training changed the weights ...
    for k in a:   # ... identically with 1 and 2 ranks (negatives span both ranks)
        assert torch.allclose(a[k], b[k], atol=5e-5), k  # reduction order (DDP buckets) under Adam: ~3e-5


@pytest.mark.slow
def test_bm25_hard_negatives_are_same_language_lexical_neighbours(tmp_path, tiny_multilingual, shared_data):
    from pyserini_hybrid.train.negatives import mine_bm25_negatives
    from pyserini_hybrid.train.pairs import load_pairs

    pairs = load_pairs(shared_data, languages=["ar"], datasets=["arcd"], quiet=True)
    rows = list(range(len(pairs)))
    mined = mine_bm25_negatives(pairs, rows, cache=tmp_path / "neg", quiet=True)
    assert len(mined) > 0.95 * len(rows)
    import random

    sentences = [(p, s) for p in sorted(set(pairs.paragraph)) for s in range(len(pairs.paragraphs[p].sentences))]
    rand = random.Random(0)
    shared = baseline = 0
    for i, (p, s) in mined.items():
        negative = pairs.candidate(p, s)
        assert negative != pairs.positive(i) and pairs.lang[i] == "ar"
        shared += bool(set(pairs.query[i].split()) & set(negative.split()))
        baseline += bool(set(pairs.query[i].split()) & set(pairs.candidate(*rand.choice(sentences)).split()))
    assert shared > 0.6 * len(mined) and shared > 1.5 * baseline  # lexical neighbours, unlike random sentences
    # cached: a second call reads the file
    assert mine_bm25_negatives(pairs, rows, cache=tmp_path / "neg", quiet=True) == mined
    # and a training step uses one negative per positive
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual).replace(
        'languages = ["en", "es", "ja"]', 'languages = ["ar"]\ndatasets = ["arcd"]\nhard_negatives = "bm25"')
        .replace('"alpha": 0.5', '"alpha": 1.0').replace("alpha = 0.5", "alpha = 1.0")))
    trainer = Trainer(recipe, tmp_path / "out", quiet=True, negatives_cache=tmp_path / "neg")
    batch = trainer.sampler.next_batch()
    assert len(trainer._negatives(batch, 0)) >= len(batch.positives) - 1


@pytest.mark.slow
def test_trained_model_retrieves_through_pyserini_commands(tmp_path, tiny_multilingual, converted):
    """Train, then encode + search XQuAD-R (en, es) with python -m pyserini_hybrid.encode / search.faiss."""
    from pyserini_hybrid.evaluate.measures import evaluate_run_dir
    from pyserini_hybrid.retrieval import dense

    out, _ = converted
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual, steps=20, eval_every=10, save_every=10)))
    model = train(recipe, tmp_path / "model", quiet=True)
    # fp32: compared below with stock Pyserini's fp32 encoder, ranking for ranking
    info = dense.run_dense("xquad-r", tmp_path / "runs", str(model), ["en", "es"], hits=100,
                           index_root=tmp_path / "idx", topics_dir=out, precision="fp32")
    assert info["precision"] == "fp32" and all("--precision fp32" in c for c in info["commands"]
                                               if "pyserini.encode" in c)
    assert any("pyserini.search.faiss" in c and "--encoded-queries" in c for c in info["commands"])
    result = evaluate_run_dir("xquad-r", tmp_path / "runs", ["en", "es"], out)
    assert set(result["settings"]) == {"en-en", "en-es", "es-en", "es-es", "en-pool", "es-pool"}
    # stock Pyserini loads the same directory with its auto class (no pyserini_hybrid code involved)
    proc = subprocess.run([sys.executable, "-m", "pyserini.search.faiss", "--index",
                           str(next((tmp_path / "idx").glob("*/xquad-r-*/sentence/en"))),
                           "--topics", str(out / "xquad-r" / "topics.en.tsv"), "--encoder", str(model),
                           "--encoder-class", "auto", "--pooling", "mean", "--l2-norm", "--query-prefix", "query:",
                           "--output", str(tmp_path / "auto.trec"), "--hits", "10", "--device", "cpu"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from pyserini_hybrid.core.trec import read_run

    ours = read_run(tmp_path / "runs" / "en.trec")
    stock = read_run(tmp_path / "auto.trec")
    top = ours[(ours["rank"] <= 10) & ours["query_id"].str.startswith("en-")]
    assert (top.groupby("query_id")["doc_id"].apply(list) == stock.groupby("query_id")["doc_id"].apply(list)).mean() > 0.95


# ------------------------------------------------------------------ budgets and validation retrieval
def test_budget_export_under_a_constant_schedule_is_the_shorter_run(tmp_path, tiny_multilingual_no_dropout):
    """With a schedule that does not depend on the total, the 6-step run's step-3 export = a 3-step run."""
    long = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual_no_dropout, steps=6, schedule="constant",
                                            warmup_steps=2, export_steps=[3], save_every=6, eval_every=3)))
    short = rc.with_changes(long, train={"steps": 3, "export_steps": []})
    a = train(long, tmp_path / "long", quiet=True)
    b = train(short, tmp_path / "short", quiet=True)
    budget = a / "budgets" / "step-000003"
    assert json.loads((budget / CARD).read_text())["steps"] == 3
    wa, wb, w6 = weights(budget), weights(b), weights(a)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], w6[k]) for k in wa)  # and the run went on after it


def test_validation_retrieval_scores_a_perfect_and_a_random_encoder(training_pairs):
    from pyserini_hybrid.train.pairs import split_validation
    from pyserini_hybrid.train.validation import build_task, evaluate

    _, val = split_validation(training_pairs, 2.0)
    squad = [r for r in val if training_pairs.dataset[r] == "squad"]
    task = build_task(training_pairs, squad, max_groups=60)
    assert {"en-en", "en-es", "es-en", "en-pool"} <= set(task.settings)
    assert len({training_pairs.group[r] for r in task.queries}) == 60
    groups = sorted({training_pairs.group[r] for r in task.queries})
    index = {g: i for i, g in enumerate(groups)}
    text_groups: dict = {}
    for r in task.queries:
        for text in (training_pairs.query[r], training_pairs.positive(r)):
            text_groups.setdefault(text, set()).add(index[training_pairs.group[r]])

    def perfect(texts):  # one direction per question (a sentence answering two questions has both)
        out = torch.zeros(len(texts), len(groups))
        for i, t in enumerate(texts):
            out[i, sorted(text_groups[t])] = 1.0
        return out

    def noise(texts):
        return torch.randn(len(texts), 16, generator=torch.Generator().manual_seed(len(texts)))

    best = evaluate(task, training_pairs, perfect, perfect, normalize=True)
    assert best["val_mo"] == best["val_cr"] == 1.0 and best["val_mul"] == 1.0
    worst = evaluate(task, training_pairs, noise, noise, normalize=True)
    assert worst["val_mo"] < 0.5 and worst["val_cr"] < 0.5


def test_validation_and_checkpoints_do_not_change_what_is_trained(tmp_path, tiny_multilingual):
    """``make demo`` validates and checkpoints only at its last step: with dropout on, the weights after 6 steps
    are the same whether the run validated and saved every 2 steps or only at the end (no RNG is drawn)."""
    often = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual, steps=6, eval_every=2, save_every=2)))
    once = rc.with_changes(often, train={"eval_every": 6, "save_every": 6})
    a, b = train(often, tmp_path / "often", quiet=True), train(once, tmp_path / "once", quiet=True)
    log = [json.loads(x) for x in (a / "train-log.jsonl").read_text().splitlines()]
    assert sum("val_loss" in r for r in log) == 3 and len(list((a / "checkpoints").glob("step-*"))) >= 2
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_few_steps_improve_retrieval_over_the_start_model(tmp_path, tiny_multilingual_no_dropout):
    """Training does what it is for: 30 steps on real pairs raise MRR@10 on held-out training groups
    (mono, cross and pooled) above the untrained start."""
    recipe = rc.from_dict(_parsed(tiny_recipe(tiny_multilingual_no_dropout, steps=30, eval_every=30,
                                              save_every=30)))
    trainer = Trainer(recipe, tmp_path / "out", quiet=True)
    before = trainer.validate()
    for _ in range(30):
        trainer.train_step()
    after = trainer.validate()
    for key in ("val_mo", "val_cr", "val_mul"):  # a 2-layer, 32-wide model: small but clear gains
        assert after[key] > 1.1 * before[key], (key, before[key], after[key])
    assert after["val_mo"] > before["val_mo"] + 0.02
