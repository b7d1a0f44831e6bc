"""One writer per output: an advisory lock (``fcntl.flock``) held for the duration of a command.

    with output_lock(work_dir, "benchmark"):
        ...

The lock file sits beside the output (``.<name>.lock`` in its parent), so taking the lock creates
nothing inside the output and a failed command leaves no directory behind; it holds the holder's pid
and command line. A second writer fails at once with one line naming the holder (``InputError``: exit
2 through the CLI wrapper). The kernel drops the lock when its holder dies, SIGKILL included, so a
stale lock file never blocks anyone. Re-entrant within a process (a study that trains into its own
work directory takes each lock once). Where ``fcntl`` is missing (Windows) the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from .errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None

_held: dict[Path, int] = {}  # lock file -> depth, for re-entry in one process


def lock_path(output: str | os.PathLike) -> Path:
    output = Path(output).absolute()
    return output.parent / f".{output.name}.lock"


def holder(output: str | os.PathLike) -> str:
    """What the lock file says about its holder ("pid 123: python -m ..."), or "" when unknown."""
    try:
        text = lock_path(output).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    pid, _, rest = text.partition("\n")
    return f"pid {pid}" + (f" ({rest.splitlines()[0]})" if rest.strip() else "") if pid.strip().isdigit() else ""


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, what: str = "command", wait: bool = False):
    """Hold the lock of ``output`` for the block, or raise InputError naming the process that holds it.
    ``wait``: for caches that any command may fill (converted topics, indexes): wait for the holder, saying
    so once, instead of failing; the caller then checks whether the holder left what it needs."""
    path = lock_path(output)
    if fcntl is None or path in _held:
        _held[path] = _held.get(path, 0) + 1
        try:
            yield path
        finally:
            _held[path] -= 1
            if not _held[path]:
                del _held[path]
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, output, what, wait)
    except PermissionError as e:
        raise InputError(f"{output}: cannot write here ({e.strerror}); choose another output") from None
    _held[path] = 1
    try:
        yield path
    finally:
        del _held[path]
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(path), os.fstat(fd)):
                os.unlink(path)  # while still holding it: a waiter then finds the inode gone and retries
        os.close(fd)


def _command() -> str:
    """This process's command line as typed (``python -m pyserini_hybrid.train ...``) where /proc has it."""
    try:
        raw = Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        words = [Path(os.fsdecode(raw[0])).name] + [os.fsdecode(w) for w in raw[1:]]
    except OSError:
        words = sys.argv
    return " ".join(words).replace("\n", " ")


def _acquire(path: Path, output, what: str, wait: bool = False) -> int:
    said = False
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = holder(output) or "another process"
            if not wait:
                os.close(fd)
                raise InputError(f"{output}: in use by {who}; one {what} at a time may write it "
                                 "(wait for it to finish, or stop it)") from None
            if not said:
                print(f"waiting for {who} to finish writing {output}", file=sys.stderr, flush=True)
                said = True
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            same = False
        if same:  # not a file its previous holder unlinked between our open and our flock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{_command()[:300]}\n{time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                     .encode("utf-8", "replace"))
            return fd
        os.close(fd)
    raise InputError(f"{path}: could not take the lock (it keeps being replaced)")
