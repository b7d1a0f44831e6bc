"""One exception type for problems the user can fix, and the CLI wrapper that turns it into one line."""

from __future__ import annotations

import functools
import sys


class InputError(Exception):
    """Bad user input (a path, a file, a code). The message names the file and the problem on one line."""


def cli(main):
    """Run a CLI ``main`` so that an InputError prints ``error: ...`` and exits 2, without a traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except InputError as e:
            _end_progress_bars()
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper


def _end_progress_bars() -> None:
    """Close open tqdm bars so that the error starts a line of its own (an open bar has no newline yet)."""
    tqdm = sys.modules.get("tqdm") and sys.modules["tqdm"].tqdm
    for bar in list(getattr(tqdm, "_instances", ()) if tqdm else ()):
        bar.close()
