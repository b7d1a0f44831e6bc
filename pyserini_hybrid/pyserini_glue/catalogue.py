"""Pyserini 2.4's network catalogues, kept on disk so that Pyserini works offline after one online use.

Pyserini 2.4 no longer ships its prebuilt-index catalogue: ``pyserini.prebuilt_index_info`` reads it from
``raw.githubusercontent.com/castorini/prebuilt-indexes/<commit>/...`` JSON files, and a module-level
alias table forces some of them to load when the module is imported. ``pyserini.util`` and
``pyserini.index.lucene`` import it, so every ``python -m pyserini.*`` command needs the network at start-up
(a URLError traceback offline). Its topic and qrels name tables come the same way from
``castorini/eval/<commit>/`` on every ``get_topics()`` call. A known upstream problem (docs/versions.md).

The workaround depends on one fact only: Pyserini fetches these files with ``urllib.request.urlopen``
from URLs that name a commit, so their content never changes. ``install()`` adds a urllib handler that
serves such URLs from ``<Pyserini's cache>/pinned/<owner>/<repo>/<commit>/<path>`` and fills that copy on
the first successful download. Any other URL passes through untouched. Offline without a copy, the URL
fails with one line that says what to do (go online once, or copy the folder from a machine that has it).
Pyserini 1.6 ships its catalogues; there the handler is not installed (``versions.fetches_catalogues``).
"""

from __future__ import annotations

import email.message
import io
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import InputError
from .versions import fetches_catalogues, pyserini_version

PINNED = re.compile(r"https://raw\.githubusercontent\.com/(castorini/[\w.-]+)/([0-9a-f]{40})/(.+)")


def cache_home() -> Path:
    """Pyserini's cache folder: ``$PYSERINI_CACHE``, else ``~/.cache/pyserini`` (as ``pyserini.util``)."""
    return Path(os.environ.get("PYSERINI_CACHE") or Path.home() / ".cache" / "pyserini")


def pinned_dir() -> Path:
    return cache_home() / "pinned"


def cached_path(url: str) -> Path | None:
    """Where the copy of a commit-pinned castorini URL lives (None for any other URL)."""
    m = PINNED.fullmatch(url.split("?", 1)[0])
    if not m or ".." in m.group(3).split("/"):
        return None
    return pinned_dir() / m.group(1) / m.group(2) / m.group(3)


def offline_message(url: str, reason: object) -> str:
    return (f"{url}: not reachable ({reason}) and no copy in {pinned_dir()}. Pyserini 2.4 downloads its "
            "catalogues from GitHub, even at import: run one Pyserini command with a network "
            "(python -m pyserini_hybrid.java --fetch-catalogue), or copy that folder from a machine that has it")


def _response(url: str, body: bytes):
    headers = email.message.Message()
    headers["Content-Length"] = str(len(body))
    headers["Content-Type"] = "application/octet-stream"
    response = urllib.request.addinfourl(io.BytesIO(body), headers, url, 200)
    response.msg = "OK"  # read by urllib's HTTPErrorProcessor
    return response


class PinnedCacheHandler(urllib.request.BaseHandler):
    handler_order = 100  # before the HTTPS handler

    def https_open(self, req):
        path = cached_path(req.full_url)
        if path is None:
            return None  # not ours: the next handler fetches it
        if path.is_file():
            return _response(req.full_url, path.read_bytes())
        try:
            with urllib.request.build_opener().open(req.full_url, timeout=req.timeout) as r:
                body = r.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise urllib.error.URLError(offline_message(req.full_url, reason)) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        return _response(req.full_url, body)


def install() -> None:
    """Route urllib's module-level ``urlopen`` (which Pyserini uses) through the pinned cache. Idempotent;
    no network, no Pyserini import. ``java.configure()`` calls it where Pyserini is 2.x."""
    current = getattr(urllib.request, "_opener", None)
    if current is not None and any(isinstance(h, PinnedCacheHandler) for h in current.handlers):
        return
    urllib.request.install_opener(urllib.request.build_opener(PinnedCacheHandler()))


def check_import() -> str:
    """Import Pyserini's catalogue module (what every Pyserini command does first); one line on failure.

    Returns the Pyserini version. Raises InputError when the import needs a network that is not there and
    no copy was kept."""
    if fetches_catalogues():
        install()
    try:
        import pyserini.prebuilt_index_info  # noqa: F401 - Pyserini 2.4 reads its catalogue here
    except urllib.error.URLError as e:
        raise InputError(f"Pyserini {pyserini_version()} cannot start: {e.reason}") from None
    return pyserini_version()


def fetch() -> str:
    """Keep copies of what Pyserini's import and its Lucene (BM25) index catalogue read (needs a network
    once); says what it did."""
    if not fetches_catalogues():
        return f"Pyserini {pyserini_version()} ships its catalogues: nothing to fetch"
    check_import()
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    try:
        len(TF_INDEX_INFO)  # loads every BM25 catalogue file (MIRACL's prebuilt index names among them)
    except urllib.error.URLError as e:
        raise InputError(f"Pyserini's index catalogue: {e.reason}") from None
    return f"{sum(1 for p in pinned_dir().rglob('*') if p.is_file())} catalogue files kept in {pinned_dir()}"
