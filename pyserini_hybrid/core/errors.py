"""One exception type for problems the user can fix, and the CLI wrapper that turns it into one line.

``cli(main)``: an ``InputError`` (or a permission / full-disk ``OSError``) prints ``error: ...`` and
exits 2, without a traceback; Ctrl-C prints ``interrupted`` and exits 130. The outermost wrapper of a
process also arms an interrupt watchdog: if the main thread has not ended a few seconds after SIGINT
(it can be inside a long Java call, which Python cannot interrupt), a helper thread runs the
registered ``on_interrupt`` hooks (e.g. killing a worker process) and ends the process with 130.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading

INTERRUPT_GRACE_S = 4.0
# the user's environment, not a bug: permissions, read-only or full disks, a file where a directory belongs
ENVIRONMENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
                      errno.EEXIST, errno.ENAMETOOLONG, errno.EFBIG}


class InputError(Exception):
    """Bad user input (a path, a file, a code). The message names the file and the problem on one line."""


_depth = 0
_hooks: list = []
_watchdog: dict = {}


def on_interrupt(hook) -> None:
    """Call ``hook()`` when the process is interrupted (Ctrl-C), before it exits; idempotent per hook."""
    if hook not in _hooks:
        _hooks.append(hook)


def watchdog_armed() -> bool:
    """True inside a CLI wrapper that handles SIGINT itself (then the JVM may leave SIGINT to Python)."""
    return bool(_watchdog)


def cli(main):
    """Run a CLI ``main`` so that an InputError prints ``error: ...`` and exits 2, without a traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        global _depth
        outer, interrupted = _depth == 0, False
        _depth += 1
        try:
            if outer:
                _arm_watchdog()
            return main(argv)
        except InputError as e:
            _fail(f"error: {e}", 2)
        except OSError as e:
            if e.errno not in ENVIRONMENT_ERRNOS:
                raise
            _fail(f"error: {environment_message(e)}", 2)
        except KeyboardInterrupt:
            if not outer:  # an in-process Pyserini main: the outermost command handles it
                raise
            interrupted = True
            _run_hooks()
            _fail("interrupted", 130)
        finally:
            _depth -= 1
            if outer and not interrupted:  # after Ctrl-C the watchdog stays: exiting may hang too
                _disarm_watchdog()

    return wrapper


def environment_message(e: OSError) -> str:
    """One line for an OSError the user can fix: the path, the system's words, what to do."""
    where = e.filename if e.filename is not None else "output"
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        hint = "a file is in the way of a directory; choose another path"
    elif e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "free some space or choose another output"
    elif e.errno == errno.ENAMETOOLONG:
        hint = "choose a shorter path"
    else:
        hint = "choose an output you may write, or fix its permissions"
    return f"{where}: {e.strerror or e} ({hint})"


def _fail(message: str, code: int):
    _end_progress_bars()
    print(message, file=sys.stderr)
    raise SystemExit(code) from None


def _run_hooks() -> None:
    for hook in list(_hooks):
        with contextlib.suppress(Exception):
            hook()


def _arm_watchdog() -> None:
    """Route SIGINT's wake-up byte to a helper thread (Python's handler still raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or _watchdog:
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # someone else handles Ctrl-C (a test runner, an embedding application)
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        old = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except (ValueError, OSError):
        old = None
    if old != -1:  # taken by someone else (asyncio): leave it
        if old is not None:
            signal.set_wakeup_fd(old)
        os.close(r)
        os.close(w)
        return
    stderr = os.dup(2)  # fd 2 may point at a Pyserini log when the interrupt comes
    cancel = threading.Event()
    thread = threading.Thread(target=_watch, args=(r, stderr, cancel), name="interrupt-watchdog", daemon=True)
    _watchdog.update(read=r, write=w, stderr=stderr, thread=thread, cancel=cancel)
    thread.start()


def _watch(r: int, stderr: int, cancel: threading.Event) -> None:
    while True:
        try:
            data = os.read(r, 64)
        except OSError:
            return
        if not data:  # disarmed
            return
        if signal.SIGINT in data:
            if cancel.wait(INTERRUPT_GRACE_S):
                return
            _run_hooks()
            with contextlib.suppress(OSError):
                os.write(stderr, b"\ninterrupted\n")
            os._exit(130)


def _disarm_watchdog() -> None:
    if not _watchdog:
        return
    _watchdog["cancel"].set()
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    os.close(_watchdog["write"])  # the thread reads EOF and ends
    _watchdog["thread"].join(timeout=1)
    for fd in (_watchdog["read"], _watchdog["stderr"]):
        with contextlib.suppress(OSError):
            os.close(fd)
    _watchdog.clear()


def _quiet_interrupt(exc_type, exc, tb, _previous=sys.excepthook):
    """Ctrl-C before a CLI main has started (while modules load): one word, not an import traceback.
    Python still ends the process by SIGINT (status 130 in a shell)."""
    if issubclass(exc_type, KeyboardInterrupt) and _main_is_ours():
        print("interrupted", file=sys.stderr)
        return
    _previous(exc_type, exc, tb)


def _main_is_ours() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return bool(spec and (spec.name or "").startswith("pyserini_hybrid"))


if sys.excepthook is sys.__excepthook__:  # acts only in our own CLI processes, else passes on
    sys.excepthook = _quiet_interrupt


def _end_progress_bars() -> None:
    """Close open tqdm bars so that the error starts a line of its own (an open bar has no newline yet)."""
    tqdm = sys.modules.get("tqdm") and sys.modules["tqdm"].tqdm
    for bar in list(getattr(tqdm, "_instances", ()) if tqdm else ()):
        bar.close()
