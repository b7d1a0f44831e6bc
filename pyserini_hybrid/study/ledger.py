"""Wall time per study stage, with a ledger in the cache that outlives the process."""

from __future__ import annotations

import time
from pathlib import Path

from ..core.files import load_json, write_json


class Timer:
    """Wall time per stage. With a ledger (a JSON file in the cache) every finished innermost block is also
    added to totals that outlive the process, so a study run in pieces (killed, resumed) can still say what
    all its pieces cost; a block cut short by a kill is not counted. Only innermost blocks go to the ledger,
    so its entries add up without counting a stage twice."""

    def __init__(self, ledger: Path | None = None):
        self.seconds: dict[str, float] = {}
        self.ledger = ledger
        self._open: list[list[bool]] = []  # per open block: [has an inner block]

    def totals(self) -> dict[str, float]:
        return load_json(self.ledger) if self.ledger is not None and self.ledger.is_file() else {}

    def __call__(self, name: str):
        timer = self

        class _Block:
            def __enter__(self):
                if timer._open:
                    timer._open[-1][0] = True
                timer._open.append([False])
                self.t = time.time()

            def __exit__(self, *exc):
                dt = time.time() - self.t
                has_inner = timer._open.pop()[0]
                timer.seconds[name] = round(timer.seconds.get(name, 0.0) + dt, 1)
                if timer.ledger is not None and not has_inner:
                    totals = timer.totals()
                    totals[name] = round(totals.get(name, 0.0) + dt, 1)
                    timer.ledger.parent.mkdir(parents=True, exist_ok=True)
                    write_json(timer.ledger, totals)
        return _Block()
