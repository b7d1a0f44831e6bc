"""Interrupts are clean (issue 19): Ctrl-C at any moment, JVM start-up included, exits 130 within
seconds without a traceback, and a killed parent leaves no worker process behind."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyserini_hybrid.core.errors import InputError, cli
from pyserini_hybrid.core.files import PROJECT_ROOT

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def default_sigint():
    """Children start with Ctrl-C at its default, as from a terminal: a test suite started in the background
    by a non-interactive shell (``make test &``) ignores SIGINT, and the children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_wrapper_codes(capsys):
    @cli
    def interrupted(argv=None):
        raise KeyboardInterrupt

    @cli
    def read_only(argv=None):
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/out/results.json")

    @cli
    def outer(argv=None):
        try:
            inner()
        except KeyboardInterrupt:
            return "inner re-raised"

    @cli
    def inner(argv=None):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        interrupted()
    assert e.value.code == 130 and capsys.readouterr().err == "interrupted\n"
    with pytest.raises(SystemExit) as e:
        read_only()
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error: /mnt/out/results.json: Read-only file system")
    assert outer() == "inner re-raised"  # a nested (in-process Pyserini) main leaves Ctrl-C to the outermost

    @cli
    def bug(argv=None):
        raise OSError(errno.EBADF, "a bug, not the user's environment")

    with pytest.raises(OSError):
        bug()
    with pytest.raises(SystemExit):
        cli(lambda argv=None: (_ for _ in ()).throw(InputError("x")))()


PARENT = """
import os, signal, sys, threading, time
from pyserini_hybrid.pyserini_glue import mains

def die():
    while mains._worker is None:
        time.sleep(0.01)
    print(mains._worker.pid, flush=True)
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=die, daemon=True).start()
mains._worker_run("pyserini.encode", ["--help"], sys.argv[1])
"""


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkilled_parent_leaves_no_busy_worker(tmp_path):
    """The encode worker is mid-command (here: blocked opening its log, a FIFO no one reads) when its
    parent is SIGKILLed; it must not run on for nobody (a killed `dense` left it encoding for a minute)."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(fifo)], stdout=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT, env=ENV, preexec_fn=default_sigint)
    worker = int(parent.stdout.readline())
    assert parent.wait(timeout=60) == -signal.SIGKILL
    deadline = time.monotonic() + 3
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = not alive(worker)
    if not gone:
        os.kill(worker, signal.SIGKILL)
    assert gone, "the worker outlived its parent"


def _interrupt(cmd, when, timeout=20):
    """Start ``cmd``, wait for ``when(proc)``, send SIGINT; (return code, seconds to exit, stderr)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=ENV,
                            preexec_fn=default_sigint)
    while proc.poll() is None and not when(proc):
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return None, timeout, err
    return proc.returncode, time.monotonic() - sent, err


def jvm_loading(proc) -> bool:
    try:
        return "libjvm" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_while_the_jvm_starts(tmp_path, converted):
    """SIGINT the moment libjvm is mapped into `bm25` (JVM start-up), and a little later: exit 130 each
    time within seconds. Before, the JVM took over SIGINT while starting and lost it: the run went on."""
    out, _ = converted
    results = []
    for i, delay in enumerate((0.0, 0.05, 0.15)):
        work = tmp_path / f"w{i}"
        cmd = [sys.executable, "-m", "pyserini_hybrid.bm25", "--dataset", "miracl-mini", "--languages", "sw",
               "--topics-dir", str(out), "--output", str(work / "runs"), "--index-dir", str(work / "idx"),
               "--hits", "10", "--threads", "1"]
        results.append(_interrupt(cmd, lambda p, d=delay: jvm_loading(p) and (time.sleep(d) or True)))
        shutil.rmtree(work, ignore_errors=True)
    for code, seconds, err in results:
        assert code in (130, -signal.SIGINT), (code, err[-800:])  # 130, or killed by SIGINT (shell: 130)
        assert seconds < 8 and "Traceback" not in err and err.rstrip().endswith("interrupted")


STUCK = """
from pyserini_hybrid.core.errors import cli
from pyserini_hybrid.pyserini_glue.java import configure

@cli
def main(argv=None):
    configure()
    import jnius
    thread = jnius.autoclass("java.lang.Thread")
    print("in java", flush=True)
    thread.sleep(60000)  # like a long Lucene call: Python cannot interrupt it
    return 0

main()
"""


@pytest.mark.slow
def test_ctrl_c_during_a_long_java_call_exits_within_seconds():
    from pyserini_hybrid.core.errors import INTERRUPT_GRACE_S

    code, seconds, err = _interrupt([sys.executable, "-c", STUCK],
                                    lambda p: p.stdout.readline().strip() == "in java" and (time.sleep(0.5) or True),
                                    timeout=30)
    # the main thread is inside Java for a minute: the watchdog ends the process after its grace period
    assert code == 130 and INTERRUPT_GRACE_S - 0.5 < seconds < INTERRUPT_GRACE_S + 4, (code, seconds, err[-800:])
    assert "Traceback" not in err and "interrupted" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_while_modules_load_prints_no_traceback():
    """SIGINT once numpy is loading (our modules are importing theirs; before, an import traceback)."""
    code, _, err = _interrupt([sys.executable, "-m", "pyserini_hybrid.evaluate", "--help"],
                              lambda p: "_multiarray_umath" in _maps(p), timeout=30)
    if code == 0:
        pytest.skip("the command finished before the signal")
    assert "Traceback" not in err and err.strip() == "interrupted", err[-800:]


def _maps(proc) -> str:
    try:
        return Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return "_multiarray_umath"


def test_jvm_leaves_sigint_to_python_only_inside_our_commands():
    """Inside our CLI wrapper the JVM gets -Xrs (Python keeps SIGINT, the watchdog bounds the wait);
    a plain `python -m pyserini.*` keeps the JVM's own Ctrl-C handling."""
    code = ("import jnius_config\nfrom pyserini_hybrid.core.errors import cli\nfrom pyserini_hybrid.pyserini_glue import java\n"
            "java.configure(); print('-Xrs' in jnius_config.get_options())\n"
            "@cli\ndef main(argv=None):\n    java.configure(); print('-Xrs' in jnius_config.get_options())\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, env=ENV,
                          preexec_fn=default_sigint)
    assert proc.stdout.split() == ["False", "True"], proc.stderr


@pytest.mark.slow
def test_subprocess_mode_runs_a_pyserini_main_in_a_child(tmp_path, monkeypatch):
    """PYSERINI_HYBRID_SUBPROCESS=1: each main in a child process (that dies with its parent); the
    child's command named a module that no longer existed after the reorganisation."""
    from pyserini_hybrid.pyserini_glue import mains

    monkeypatch.setenv("PYSERINI_HYBRID_SUBPROCESS", "1")
    out = mains.run("pyserini.search.lucene", ["--help"], tmp_path / "pyserini.log")
    assert "usage:" in out and "--topics" in out
    assert mains.command("pyserini.search.lucene", [])[2] == "pyserini_hybrid.pyserini_glue.mains"
