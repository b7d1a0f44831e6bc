"""Run one of Pyserini's own command-line mains, flags unchanged, with Java configured first
and, for the encoder mains, ``--encoder-class hybrid`` registered.

    python -m pyserini_hybrid.pyserini_glue.mains pyserini.search.lucene --index ... --topics ... --output ...

equals ``python -m pyserini.search.lucene ...`` in an environment whose start-up hook is installed
(``python -m pyserini_hybrid.java --install-hook``); this route needs no hook. Our own commands call
Pyserini through ``run()`` below: in this process by default (the same module code that ``python -m``
runs, minus a Python start, a Pyserini import and a JVM start per call, which were most of a small
run's time), or each in a child process with ``PYSERINI_HYBRID_SUBPROCESS=1``.
``pyserini.encode`` never runs in a process whose JVM has done Lucene work: a long encode after BM25
in one process crashed once inside oneDNN (SIGSEGV in libtorch_cpu's GELU primitive, JVM error log).
(Importing Pyserini starts a JVM in every process, stock ``python -m pyserini.encode`` included, so
the difference is the JVM's state, not its presence.) Encodes go to one long-lived worker process
(``--worker``) that runs nothing else, so the Python start and the Pyserini import (seconds: docs/speed.md) are paid
once per job rather than once per language.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import traceback
from pathlib import Path

from ..core.errors import InputError, cli, on_interrupt
from ..models.precision import ENV as PRECISION_ENV
from ..models.precision import PRECISIONS, check
from .catalogue import check_import
from .java import configure
from .registry import check_encode_args, check_search_args, guard_fusion_normalization, registered

# Pyserini mains that take --encoder-class: only these need our class registered (it imports torch)
ENCODER_MAINS = ("pyserini.encode", "pyserini.search.faiss", "pyserini.search.hybrid")
# long torch work beside the JVM: see the module docstring
CHILD_PROCESS_MAINS = ("pyserini.encode",)


def command(module: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pyserini_hybrid.pyserini_glue.mains", module, *map(str, args)]


def display(module: str, args: list[str]) -> str:
    """The plain Pyserini command a user would type for the same work."""
    return shlex.join(["python", "-m", module, *map(str, args)])


def run(module: str, args: list[str], log: Path) -> str:
    """Run a Pyserini main, its output (Python's and Java's) appended to ``log`` and returned.

    On failure the error names the command and the first exception line of its output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {display(module, args)}\n")
        f.flush()
        start = f.tell()
        if os.environ.get("PYSERINI_HYBRID_SUBPROCESS") == "1":
            code = subprocess.run(command(module, args), stdout=f, stderr=subprocess.STDOUT,
                                  env=child_env()).returncode
        elif module in CHILD_PROCESS_MAINS:
            code = _worker_run(module, args, log)
        else:
            code = _run_here(module, args, f)
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        output = f.read()
    if code != 0:
        raise InputError(f"{display(module, args)} failed (exit {code}): {first_error(output)} [log: {log}]")
    return output


def _run_here(module: str, args: list[str], log_file) -> int:
    """``python -m module args`` in this process, file descriptors 1 and 2 (where the JVM writes too)
    pointed at the log for the duration; returns the exit code. The process's thread count is left as it
    was: ``pyserini.search.faiss --threads N`` sets OpenMP's, which torch reads, and which keys ``auto``
    precision's cached decision and sets the speed of whatever this process runs next."""
    import torch

    threads = torch.get_num_threads()
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds, saved_argv = (os.dup(1), os.dup(2)), sys.argv
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    code = 0
    try:
        # Python-level writers too: under a test runner sys.stdout/stderr need not be fds 1 and 2
        with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
            code = main([module, *map(str, args)])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            log_file.write(f"{e.code}\n")
    except KeyboardInterrupt:
        raise
    except Exception:  # noqa: BLE001 - reported through the log, like a child process's traceback
        log_file.write(traceback.format_exc())
        code = 1
    finally:
        log_file.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
        sys.argv = saved_argv
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return code


_worker: subprocess.Popen | None = None


PARENT_ENV = "PYSERINI_HYBRID_PARENT_PID"


def child_env() -> dict:
    """The environment of a child that runs a Pyserini main: it ends itself when this process dies."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}


def die_with_parent() -> None:
    """In a child started with ``child_env()``: end when the parent ends, even a SIGKILLed one, so no
    worker is left encoding for nobody. Linux: the kernel's PR_SET_PDEATHSIG; anywhere: a thread that
    watches the parent pid (Python threads run while the main thread is in torch or Java code)."""
    parent = os.environ.pop(PARENT_ENV, "")
    if not parent.isdigit():
        return
    parent = int(parent)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # it died before we could ask
        os._exit(1)

    def watch():
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    import threading

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_run(module: str, args: list[str], log: Path) -> int:
    """Run a main in the worker process (started on first use); a worker that died is replaced."""
    global _worker
    if _worker is None or _worker.poll() is not None:
        _worker = subprocess.Popen([sys.executable, "-m", "pyserini_hybrid.pyserini_glue.mains", "--worker"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env())
        atexit.register(_stop_worker)
        on_interrupt(_kill_worker)
    try:
        _worker.stdin.write(json.dumps({"module": module, "args": list(map(str, args)), "log": str(log)}) + "\n")
        _worker.stdin.flush()
        reply = _worker.stdout.readline()
    except BrokenPipeError:
        reply = ""
    except KeyboardInterrupt:  # Ctrl-C: the worker's command is abandoned, not awaited
        _kill_worker()
        raise
    if not reply:  # the worker died mid-command (a crash, a kill): its exit status is the command's
        code = _worker.wait()
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"worker process died (exit {code})\n")
        return code or 1
    return int(reply)


def _kill_worker() -> None:
    global _worker
    worker, _worker = _worker, None
    if worker is not None and worker.poll() is None:
        worker.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=5)


def _stop_worker() -> None:
    global _worker
    if _worker is not None and _worker.poll() is None:
        _worker.stdin.close()
        try:
            _worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _worker.kill()
    _worker = None


def _serve() -> int:
    """The worker: one JSON request per stdin line, one exit code per stdout line; output to each log."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # nothing a main prints between requests may corrupt the replies
    for line in sys.stdin:
        request = json.loads(line)
        with open(request["log"], "a", encoding="utf-8") as f:
            code = _run_here(request["module"], request["args"], f)
        replies.write(f"{code}\n")
        replies.flush()
    return 0


def run_to_file(module: str, args_for, output: Path, log: Path) -> Path:
    """Run a Pyserini main that writes ``output``, through a temporary name: a failed or killed run
    leaves neither a half-written file nor its temporary behind. ``args_for(path)`` builds the flags."""
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        printed = run(module, args_for(tmp), log)
        if not tmp.is_file():  # some Pyserini mains report a bad index and still exit 0
            raise InputError(f"{display(module, args_for(output))} wrote no output: {first_error(printed)} [log: {log}]")
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's "  3%|▎   | 1/30 [...]": never the error to quote


def first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    for line in lines:
        if "Exception" in line or "Error" in line or line.startswith("error:"):
            return line
    return lines[-1] if lines else "(no output)"


@cli
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    die_with_parent()
    if argv == ["--worker"]:
        return _serve()
    if not argv or not argv[0].startswith("pyserini."):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] in ENCODER_MAINS:  # flags checked before Java, Pyserini or torch load (and before any output)
        check_encode_args(argv[1:])
        if argv[0] == "pyserini.search.faiss":
            check_search_args(argv[1:])
    configure()
    check_import()  # Pyserini 2.4 offline without its catalogue: one line here, not a traceback in the main
    argv, precision = take_precision_flag(argv)
    with contextlib.ExitStack() as scope:
        if argv[0] in ENCODER_MAINS:
            scope.enter_context(registered())
            if precision:
                scope.enter_context(environment(PRECISION_ENV, precision))
            if argv[0] == "pyserini.search.hybrid":
                guard_fusion_normalization()
        module, sys.argv = argv[0], [argv[0], *argv[1:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def take_precision_flag(argv: list[str]) -> tuple[list[str], str | None]:
    """Our ``--precision fp32|bf16|auto`` on Pyserini's encode/search mains: taken out of the command line
    (Pyserini would reject it); the main then runs with $PYSERINI_HYBRID_PRECISION set, which our
    encoder classes read (Pyserini builds them with a model name and a device only)."""
    if "--precision" not in argv:
        return argv, None
    i = argv.index("--precision")
    if i + 1 >= len(argv):
        raise InputError(f"--precision: expected one of {', '.join(PRECISIONS)}")
    return argv[:i] + argv[i + 2:], check(argv[i + 1])


@contextlib.contextmanager
def environment(name: str, value: str):
    """``os.environ[name] = value`` for the block only (a worker process runs many mains)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def alias(module: str):
    """A ``main(argv=None)`` that runs Pyserini's ``module`` with our command line."""

    def run_alias(argv=None) -> int:
        return main([module, *(sys.argv[1:] if argv is None else argv)])

    return run_alias


if __name__ == "__main__":
    sys.exit(main())
