"""One writer per output (issue 19): a training output, a study work dir or a benchmark work dir is
locked for the duration; a second writer exits 2 naming the holder's pid; a dead holder blocks no one."""

import os
import signal
import subprocess
import sys
import time

import pytest

from pyserini_hybrid.core.errors import InputError
from pyserini_hybrid.core.files import PROJECT_ROOT
from pyserini_hybrid.core.lock import lock_path, output_lock

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
HOLD = ("import sys, time\nfrom pyserini_hybrid.core.lock import output_lock\n"
        "with output_lock(sys.argv[1], 'test'):\n    print('held', flush=True)\n    time.sleep(120)\n")


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of ``tmp_path / 'out'``; yields its pid."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT, env=ENV)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    with pytest.raises(InputError, match=rf"out: in use by pid {holder.pid} \(python -c .*\); one training run at a time"):
        with output_lock(tmp_path / "out", "training run"):
            pass
    assert not (tmp_path / "out").exists()  # the lock lives beside the output, not in it


def test_a_killed_holder_blocks_no_one_and_the_lock_file_goes(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock_path(tmp_path / "out").is_file()  # left behind by the SIGKILL ...
    with output_lock(tmp_path / "out") as path:    # ... but the kernel released the lock
        assert path.read_text().split("\n")[0] == str(os.getpid())
        with output_lock(tmp_path / "out"):        # re-entrant within one process
            pass
        assert path.is_file()
    assert not lock_path(tmp_path / "out").exists()


def test_two_train_commands_on_one_output(tmp_path, holder):
    """The CLI refuses before reading any data: exit 2, one line with the pid, nothing written."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.train", str(PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and f"in use by pid {holder.pid}" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
    assert time.monotonic() - start < 60


def test_two_studies_on_one_work_dir(tmp_path, holder):
    proc = subprocess.run([sys.executable, "-m", "pyserini_hybrid.study", str(PROJECT_ROOT / "studies/me5-small-cpu.toml"),
                           "--quick", "--work-dir", str(tmp_path / "out"), "--report-dir", str(tmp_path / "report"), "run"],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
    assert proc.returncode == 2 and f"in use by pid {holder.pid}" in proc.stderr and "one study at a time" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "report").exists()


def test_a_failed_pyserini_command_quotes_its_error_not_a_progress_bar():
    from pyserini_hybrid.pyserini_glue.mains import first_error

    log = ("Indexing:  40%|████      | 2/5 [00:01<00:02]\r"
           "org.apache.lucene.store.LockObtainFailedException: Lock held by another program: write.lock\n"
           "Indexing:  40%|████      | 2/5 [00:01<00:02]\n")
    assert first_error(log).startswith("org.apache.lucene.store.LockObtainFailedException")
    assert first_error("warming up\n 50%|#####     | 1/2 [00:01<00:01]\n") == "warming up"


def test_the_trainer_itself_takes_the_lock(tmp_path, holder):
    """loop.train (what the CLI and the study call) refuses before building anything."""
    from pyserini_hybrid.train import recipe as rc
    from pyserini_hybrid.train.loop import train

    with pytest.raises(InputError, match=rf"in use by pid {holder.pid}"):
        train(rc.load(PROJECT_ROOT / "encoders/me5-small-hybrid-cpu.toml"), tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


def test_two_benchmarks_on_one_work_dir(tmp_path):
    """The second benchmark on a work dir exits 2 naming the holder, before converting anything."""
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(work / "results")], stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT_ROOT, env=ENV)
    try:
        assert proc.stdout.readline().strip() == "held"
        run = subprocess.run([sys.executable, "-m", "pyserini_hybrid.benchmark", "--datasets", "xquad-r", "--languages",
                              "en", "--work-dir", str(work)], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
        assert run.returncode == 2 and f"in use by pid {proc.pid}" in run.stderr, run.stderr
        assert run.stderr.strip().count("\n") == 0 and not (work / "topics").exists()
        bad = subprocess.run([sys.executable, "-m", "pyserini_hybrid.benchmark", "--threads", "0", "--work-dir",
                              str(tmp_path / "other")], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV)
        assert bad.returncode == 2 and bad.stderr.strip() == "error: --threads 0: must be at least 1", bad.stderr
    finally:
        proc.kill()
        proc.wait()
