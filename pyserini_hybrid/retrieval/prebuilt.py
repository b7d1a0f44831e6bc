"""BM25 from Pyserini's prebuilt MIRACL Lucene indexes instead of indexing locally.

``python -m pyserini.search.lucene --index miracl-v1.0-<lang>`` takes an index *name*: Pyserini's
``LuceneSearcher.from_prebuilt_index`` downloads it once into ``$PYSERINI_CACHE/indexes`` (default
``~/.cache/pyserini``), checks its statistics against ``pyserini.prebuilt_index_info`` and searches it. We
fetch it first (``download_prebuilt_index``, the same function), so that a machine without a network
gets one line saying so instead of a traceback from inside the search; then the search runs with the
name, as a user would type it.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from ..core.errors import InputError
from ..data.miracl import MIRACL_LANGUAGES, facts
from ..pyserini_glue.catalogue import check_import


def prebuilt_index(dataset: str, meta: dict, lang: str) -> str:
    """The prebuilt index name of a MIRACL language, downloaded into Pyserini's cache if needed."""
    if meta["format"] != "miracl" or lang not in MIRACL_LANGUAGES:
        raise InputError(f"{dataset}/{lang}: --prebuilt: Pyserini has prebuilt BM25 indexes for MIRACL's "
                         f"languages only ({', '.join(MIRACL_LANGUAGES)})")
    name = facts(lang)["prebuilt_index"]
    fetch(name)
    return name


def cache_dir() -> Path:
    from pyserini.util import get_cache_home

    return Path(get_cache_home()) / "indexes"


def fetch(name: str) -> Path:
    """Pyserini's cached copy of a prebuilt index, downloading it when missing (a one-line error offline)."""
    check_import()  # Pyserini 2.4 offline without its catalogue: one line, not a traceback (docs/versions.md)
    from pyserini.util import download_prebuilt_index

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return Path(download_prebuilt_index(name, verbose=False))
    except Exception as e:  # noqa: BLE001 - URLError offline, ValueError after every mirror failed
        said = [line for line in printed.getvalue().splitlines() if "rror" in line]
        reason = (said or str(e).strip().splitlines() or [type(e).__name__])[-1].strip()
        raise InputError(f"{name}: Pyserini's prebuilt index is not in {cache_dir()} and could not be downloaded "
                         f"({reason}); it needs a network once, or index locally (leave out --prebuilt)") from None
