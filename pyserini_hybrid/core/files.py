"""File conventions: where the data lives, atomic writes, and JSON that fails with the file's name."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import secrets
import shutil
import socket
from pathlib import Path

from .errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "PYSERINI_HYBRID_DATA"
CACHE_ENV = "PYSERINI_HYBRID_CACHE"
HOME_ENV = "PYSERINI_HYBRID_HOME"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The shared data directory: an explicit path, else $PYSERINI_HYBRID_DATA, else ../shared/data."""
    if override is not None:
        path = Path(override)
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV])
    else:
        path = PROJECT_ROOT.parent / "shared" / "data"
    if not path.is_dir():
        raise InputError(f"{path}: data directory not found (pass --data-dir or set {DATA_DIR_ENV})")
    return path


def work_dir(override: str | os.PathLike | None = None) -> Path:
    """Where converted topics, indexes, runs and models go: an explicit path (``--work-dir``), else
    $PYSERINI_HYBRID_HOME, else the current directory; never the installed package's folder."""
    if override is not None:
        return Path(override)
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    return Path.cwd()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where converted models and measured choices live: an explicit path, else $PYSERINI_HYBRID_CACHE, else
    ~/.cache/pyserini_hybrid (a directory convention, like ``data_dir``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "pyserini_hybrid"


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return path


def not_utf8(path: Path, data: bytes, e: UnicodeDecodeError, first_line: int = 1) -> InputError:
    """The one wording of a byte that is not UTF-8: ``<file>:<line>: not UTF-8 text (byte 0xNN at column C; ...)``."""
    line = data.count(b"\n", 0, e.start) + first_line
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return InputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {column}; "
                      "save the file as UTF-8)")


def load_json(path: Path):
    """json.load that reports a missing, malformed or truncated file by name and position."""
    require_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise not_utf8(path, data, e) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        body = text.rstrip()
        truncated = e.pos >= len(body) - 1 or not body.endswith(("}", "]"))
        kind = "truncated JSON" if truncated else "malformed JSON"
        raise InputError(f"{path}: {kind} ({e.msg}; line {e.lineno}, column {e.colno})") from None


def read_jsonl(path: str | os.PathLike):
    """(line number, object) of every non-blank line of a JSONL file, read one line at a time; a line
    that is not UTF-8 or not JSON fails by file and line number (the wording of ``load_json``)."""
    path = Path(require_file(Path(path)))
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise not_utf8(path, raw, e, n) from None
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: malformed or truncated JSON on line {n} ({e.msg}; column {e.colno})") from None


def check_safetensors(path: str | os.PathLike) -> None:
    """Raise InputError when a ``.safetensors`` file is truncated or damaged: its 8-byte header length,
    its JSON header and the tensors' byte ranges must account for the file's size exactly (milliseconds,
    where hashing a 470 MB file takes seconds). transformers would otherwise fail much later."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > min(size - 8, 100 << 20):
            raise InputError(f"{path}: truncated or damaged safetensors file ({size} bytes; unreadable header)")
        try:
            header = json.loads(f.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            raise InputError(f"{path}: truncated or damaged safetensors file ({size} bytes; unreadable header)") from None
    if 8 + n + end != size:
        raise InputError(f"{path}: truncated or damaged safetensors file ({size} bytes, its header describes "
                         f"{8 + n + end})")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def writer_tag() -> str:
    """This writer's part of a temporary name: host and pid, so two writers never share a temporary and a
    later writer on the same host can tell a dead writer's leftovers (``clean_stale_temps``)."""
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40] or "host"
    return f"{host}~{os.getpid()}"


def _temp_name(name: str, kind: str = "tmp") -> str:
    return f".{name}.{writer_tag()}~{secrets.token_hex(4)}.{kind}"


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove what killed writers of ``path`` left beside it (``.<name>.<host>~<pid>~<random>.tmp`` or
    ``.old``): only this host's, only of pids that are gone. A killed writer thus leaves nothing that the
    next writer does not clean. Returns what was removed."""
    path = Path(path)
    host = writer_tag().split("~")[0]
    removed = []
    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.*~*~*.*"):
            tag, _, kind = leftover.name[len(path.name) + 2:].rpartition(".")
            parts = tag.split("~")
            if kind not in ("tmp", "old") or len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
                continue
            if _alive(int(parts[1])):
                continue
            removed.append(_remove(leftover))
    return removed


def _remove(leftover: Path) -> Path:
    """Delete a temporary file or directory (never following a link into another tree)."""
    if leftover.is_dir() and not leftover.is_symlink():
        shutil.rmtree(leftover, ignore_errors=True)
    else:
        leftover.unlink(missing_ok=True)
    return leftover


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Write to a temporary file beside ``path`` (a name unique to this writer) and rename it into place
    only if the block succeeds; a dead writer's leftovers beside ``path`` are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = path.with_name(_temp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # made 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise_named(e, path)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike):
    """Build a directory under a temporary name unique to this writer; it replaces ``path`` only when the
    block succeeds. What killed writers left beside ``path`` is removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = path.with_name(_temp_name(path.name))
    tmp.mkdir(0o777 & ~_umask())  # a shared cache must stay readable
    try:
        yield tmp
        if path.exists():
            old = path.with_name(_temp_name(path.name, "old"))
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except OSError:
                os.replace(old, path)  # put the last good output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise_named(e, path)
        raise


def raise_named(e: BaseException, path: str | os.PathLike) -> None:
    """Raise an OSError that names no file (a full disk: ``write()`` fails on a descriptor) again naming
    ``path``, so that the one-line error says where; return for anything else."""
    if isinstance(e, OSError) and e.filename is None and e.errno is not None:
        raise OSError(e.errno, e.strerror, str(path)) from None


def usual_file_modes(directory: str | os.PathLike) -> None:
    """The usual file mode (0666 minus the umask) on every file of ``directory``: mkstemp and safetensors
    write 0600, which would make a shared cache or an exported model unreadable to everyone else. Only
    files this user owns are changed."""
    mode = 0o666 & ~_umask()
    for f in Path(directory).iterdir():
        st = f.lstat()
        if f.is_file() and not f.is_symlink() and st.st_uid == os.geteuid() and (st.st_mode & 0o777) != mode:
            with contextlib.suppress(OSError):
                os.chmod(f, mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def round_floats(obj, digits: int):
    """``obj`` with every float rounded to ``digits`` significant digits: float reductions end in other last bits
    on other CPUs, rounded numbers do not (but on a rounding boundary, which a relative 1e-9 absorbs)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    return [round_floats(v, digits) for v in obj] if isinstance(obj, (list, tuple)) else obj


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def clean_temps_in(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporaries (``.*.tmp``, ``.*.old``) inside an output directory whose lock this process
    holds: with the lock held, no live writer can own one, so they are what a killed writer left."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for leftover in directory.glob(".*"):
        if leftover.name.endswith((".tmp", ".old")):
            removed.append(_remove(leftover))
    return removed


def temp_dir_in(directory: str | os.PathLike, name: str) -> Path:
    """A fresh temporary directory inside ``directory`` under a name unique to this writer."""
    path = Path(directory) / _temp_name(name)
    path.mkdir()
    return path
