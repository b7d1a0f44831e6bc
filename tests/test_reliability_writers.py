"""One writer per output, temporaries unique per writer, and what a killed writer leaves (issue 29, BAD 3/4):
every command that writes an output directory (bm25, dense, fusion, evaluate, topics) locks it; a killed
writer's temporaries are removed by the next writer; outputs record and check their depth."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT, atomic_directory, atomic_write
from pyserini_hybrid.core.trec import read_qrels, read_topics, write_run
from pyserini_hybrid.data import topic_sets as tp
from pyserini_hybrid.data.convert import convert
from pyserini_hybrid.evaluate import measures as ev
from pyserini_hybrid.evaluate.render import write_outputs
from pyserini_hybrid.retrieval import fusion

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
HOLD = ("import sys, time\nfrom pyserini_hybrid.core.lock import output_lock\n"
        "with output_lock(sys.argv[1], 'test'):\n    print('held', flush=True)\n    time.sleep(120)\n")


def hold(path):
    """Another process holding the lock of ``path`` (a writer in the middle of its work)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT, env=ENV)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(scope="module")
def sw_topics(tmp_path_factory, shared_data):
    """miracl-mini, Swahili only, converted from the real data."""
    out = tmp_path_factory.mktemp("topics")
    convert("miracl-mini", shared_data, out, quiet=True, languages=["sw"])
    return out


def sw_run(topics, run_dir, hits, meta_hits="same"):
    """A real-shaped run of the sw topics: the judged passages first, then others, ``hits`` per query."""
    qrels = read_qrels(tp.qrels_path("miracl-mini", "sw", "sw", topics))
    docs = sorted({d for ds in qrels.values() for d in ds})
    rows = []
    for q in read_topics(tp.topics_path("miracl-mini", "sw", topics)):
        ranked = list(qrels.get(q, {})) + [d for d in docs if d not in qrels.get(q, {})]
        rows += [(q, d, r + 1, float(hits - r)) for r, d in enumerate(ranked[:hits])]
    run_dir.mkdir(parents=True)
    write_run(pd.DataFrame(rows, columns=["query_id", "doc_id", "rank", "score"]), run_dir / "sw.trec", "t")
    meta = {"system": "x", "dataset": "miracl-mini", "languages": ["sw"]}
    if meta_hits is not None:
        meta["hits"] = hits if meta_hits == "same" else meta_hits
    (run_dir / "run-meta.json").write_text(json.dumps(meta))
    return run_dir


def fake_runs(path, hits=100):
    path.mkdir(parents=True)
    (path / "run-meta.json").write_text(json.dumps({"system": "x", "dataset": "miracl-mini", "languages": ["sw"],
                                                    "hits": hits}))
    (path / "sw.trec").write_text("")
    return path


COMMANDS = {  # every command that writes an output directory, pointed at one that another writer holds
    "bm25": lambda tmp, out: ["pyserini_hybrid.bm25", "--dataset", "miracl-mini", "--languages", "sw",
                              "--hits", "20", "--output", str(out), "--topics-dir", str(tmp / "t")],
    "dense": lambda tmp, out: ["pyserini_hybrid.dense", "--dataset", "miracl-mini", "--languages", "sw",
                               "--output", str(out), "--topics-dir", str(tmp / "t")],
    "fusion": lambda tmp, out: ["pyserini_hybrid.fusion", "--dataset", "miracl-mini", "--dense",
                                str(fake_runs(tmp / "d")), "--sparse", str(fake_runs(tmp / "s")), "--output", str(out)],
    "evaluate": lambda tmp, out: ["pyserini_hybrid.evaluate", "--dataset", "miracl-mini", "--runs",
                                  str(fake_runs(tmp / "d")), "--output", str(out)],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_second_writer_of_an_output_directory_is_refused(command, tmp_path):
    """Two bm25 runs on one --output used to interleave their runs (run-meta.json saying 100 deep over a
    20/100-deep mix): now the second one stops at once, one line naming the first, nothing touched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "sw.trec").write_text("kept\n")
    holder = hold(out)
    try:
        proc = subprocess.run([sys.executable, "-m", *command(tmp_path, out)], capture_output=True, text=True,
                              cwd=PROJECT_ROOT, env=ENV, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and f"in use by pid {holder.pid}" in proc.stderr, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sw.trec"] and (out / "sw.trec").read_text() == "kept\n"
    assert not (tmp_path / "t").exists()  # refused before any conversion


def test_topic_conversion_waits_for_the_converter_before_it(tmp_path, shared_data):
    """Converted topics are a cache any command may fill: a second converter waits (said), then converts."""
    target = tp.converted_dir("miracl-mini", tmp_path / "topics")
    holder = hold(target)
    proc = subprocess.Popen([sys.executable, "-m", "pyserini_hybrid.topics", "convert", "miracl-mini", "--languages",
                             "sw", "--topics-dir", str(tmp_path / "topics"), "--data-dir", str(shared_data)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=PROJECT_ROOT, env=ENV)
    try:
        assert f"waiting for pid {holder.pid}" in proc.stderr.readline()
        assert not (target / "meta.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert json.loads((target / "meta.json").read_text())["languages"] == ["sw"]


KILLED = {  # a writer killed inside each kind of temporary output
    "directory": ("import os, sys\nfrom pyserini_hybrid.core.files import atomic_directory\n"
                  "with atomic_directory(sys.argv[1]) as tmp:\n    (tmp / 'part').write_text('x' * 10000)\n"
                  "    os.kill(os.getpid(), 9)\n"),
    "file": ("import os, sys\nfrom pyserini_hybrid.core.files import atomic_write\n"
             "with atomic_write(sys.argv[1]) as f:\n    f.write('x' * 10000)\n    f.flush()\n    os.kill(os.getpid(), 9)\n"),
}


@pytest.mark.parametrize("kind", KILLED)
def test_temporaries_are_unique_per_writer_and_a_killed_writers_are_cleaned(kind, tmp_path):
    target = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", KILLED[kind], str(target)], cwd=PROJECT_ROOT, env=ENV)
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert len(left) == 1 and left[0].name.endswith(".tmp")  # the dead writer's temporary is there
    assert not target.exists()
    if kind == "directory":
        with atomic_directory(target) as tmp:
            assert str(os.getpid()) in tmp.name  # this writer's own name
            (tmp / "x").write_text("done")
    else:
        with atomic_write(target) as f:
            f.write("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the leftover went, the output is whole


def test_a_killed_topic_conversion_leaves_nothing_after_a_rerun(tmp_path, shared_data):
    """Killing ``topics convert`` used to leave its temporary directory (20 MB) for good."""
    topics = tmp_path / "topics"
    argv = [sys.executable, "-m", "pyserini_hybrid.topics", "convert", "xquad-r", "--topics-dir", str(topics),
            "--data-dir", str(shared_data)]
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (topics.is_dir() and any(p.name.endswith(".tmp") for p in topics.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, "the conversion ended before it could be killed"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    assert any(p.name.endswith(".tmp") for p in topics.iterdir())
    assert subprocess.run(argv, cwd=PROJECT_ROOT, env=ENV, capture_output=True).returncode == 0
    assert sorted(p.name for p in topics.iterdir()) == ["xquad-r"]


def test_a_kill_inside_a_run_directory_is_cleaned_by_the_next_writer(tmp_path, sw_topics):
    runs = sw_run(sw_topics, tmp_path / "runs", 5)
    out = tmp_path / "eval"
    out.mkdir()
    (out / ".results.json.host~1~ab.tmp").write_text("{")  # a killed writer's, whatever its name
    (out / ".results.old").mkdir()
    write_outputs(ev.evaluate_run_dir("miracl-mini", runs, topics_dir=sw_topics), out, "x")
    assert sorted(p.name for p in out.iterdir()) == ["per-query.tsv", "results.json", "results.md"]


def test_fusion_records_its_inputs_depth_and_refuses_a_run_deeper_than_it_says(tmp_path, sw_topics):
    """BAD 4: fusion recorded depth 1000 whatever its inputs were; an input without a recorded depth is now
    measured, inputs of different depths are refused, and the output records depth and inputs."""
    dense = sw_run(sw_topics, tmp_path / "dense", 10)
    sparse = sw_run(sw_topics, tmp_path / "bm25", 20, meta_hits=None)  # run-meta.json without "hits"
    with pytest.raises(InputError, match="10 deep and .* 20 deep: fuse runs of one depth"):
        fusion.run_fusion("miracl-mini", dense, sparse, tmp_path / "out")
    sparse = sw_run(sw_topics, tmp_path / "bm25-10", 10, meta_hits=None)
    info = fusion.run_fusion("miracl-mini", dense, sparse, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "run-meta.json").read_text())
    assert meta["hits"] == info["hits"] == 10
    assert meta["input_meta"]["sparse"]["hits"] == meta["input_meta"]["dense"]["hits"] == 10
    assert meta["input_meta"]["dense"]["system"] == "x" and meta["inputs"]["dense"] == str(dense)
    result = ev.evaluate_run_dir("miracl-mini", tmp_path / "out", topics_dir=sw_topics)
    assert result["depth"] == 10


def test_evaluate_refuses_runs_deeper_than_their_meta_and_a_depth_they_do_not_hold(tmp_path, sw_topics):
    """Two writers' mixed output (a query with 100 hits in a run said to be 20 deep) no longer passes."""
    runs = sw_run(sw_topics, tmp_path / "mixed", 30, meta_hits=20)
    with pytest.raises(InputError, match=r"sw.trec: a query has 30 hits but run-meta.json says the runs are 20 deep"):
        ev.evaluate_run_dir("miracl-mini", runs, topics_dir=sw_topics)
    runs = sw_run(sw_topics, tmp_path / "ok", 20)
    with pytest.raises(InputError, match="--depth 1000: the runs in .* are only 20 deep"):
        ev.evaluate_run_dir("miracl-mini", runs, topics_dir=sw_topics, depth=1000)
    assert ev.evaluate_run_dir("miracl-mini", runs, topics_dir=sw_topics)["depth"] == 20


def _small_file_limit(limit):
    def apply():  # a disk that fills up: writes past ``limit`` bytes fail (EFBIG) instead of killing the process
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_evaluate_on_a_full_disk_leaves_the_old_results_whole(tmp_path, sw_topics):
    """results.json used to be replaced before per-query.tsv failed: new numbers beside old per-query rows."""
    runs = sw_run(sw_topics, tmp_path / "runs", 10)
    argv = [sys.executable, "-m", "pyserini_hybrid.evaluate", "--dataset", "miracl-mini", "--runs", str(runs),
            "--topics-dir", str(sw_topics)]
    assert subprocess.run([*argv, "--system", "old"], capture_output=True, cwd=PROJECT_ROOT, env=ENV).returncode == 0
    eval_dir = runs / "eval"
    old = {p.name: p.read_bytes() for p in eval_dir.iterdir()}
    assert len(old["per-query.tsv"]) > len(old["results.json"]) + 2000
    proc = subprocess.run([*argv, "--system", "new"], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV,
                          preexec_fn=_small_file_limit(len(old["results.json"]) + 1000))
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in proc.stderr and len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0])
    assert errors[0].startswith(f"error: {eval_dir}: File too large (free some space")
    assert {p.name: p.read_bytes() for p in eval_dir.iterdir()} == old  # the old set, whole; no temporaries


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "same-size"])
def test_a_damaged_lucene_index_is_rebuilt(damage, tmp_path, sw_topics, capsys):
    """A damaged index used to be reused as it was, even with --force. Now a file whose size differs from the
    build's record is noticed and the index rebuilt; --force rebuilds it whatever the damage."""
    from pyserini_hybrid.retrieval import bm25

    def run(**kw):
        return bm25.run_bm25("miracl-mini", tmp_path / "runs", ["sw"], hits=20, threads=1, topics_dir=sw_topics,
                             index_root=tmp_path / "idx", **kw)

    run()
    good = (tmp_path / "runs" / "sw.trec").read_text()
    index = next((tmp_path / "idx").glob("miracl-mini/*/sw"))
    biggest = max((p for p in index.iterdir() if p.is_file()), key=lambda p: p.stat().st_size)
    data = biggest.read_bytes()
    biggest.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(len(data)))
    capsys.readouterr()
    run(force=damage == "same-size")  # zeroed in place keeps the size: only --force can know
    if damage == "truncated":
        assert f"{biggest.name}: {len(data) // 2} bytes, built with {len(data)}); building it again" \
            in capsys.readouterr().err
    assert biggest.read_bytes() != bytes(len(data)) and bm25.index_damage(index) == ""
    assert (tmp_path / "runs" / "sw.trec").read_text() == good
