"""The one rule for mixing units: units whose design fingerprints differ are never mixed (``run`` refuses
to add them, ``import`` to copy them, ``report`` to assemble them)."""

from __future__ import annotations

import json

from ..core.errors import InputError

FINGERPRINT_PARTS = ("study", "start_model_sha256", "data", "versions", "code")


def differing_part(a: dict, b: dict, parts=FINGERPRINT_PARTS) -> str | None:
    """The first fingerprint part (of ``parts``) where ``a`` and ``b`` differ, else None: the one rule that
    ``report``, ``run`` and ``import`` apply before they mix or add units."""
    return next((k for k in parts if a.get(k) != b.get(k)), None)


def check_fingerprints(done: list[tuple]) -> dict | None:
    """The one fingerprint of all finished units, else InputError naming the first unit that differs."""
    if not done:
        return None
    first_unit, first = done[0][0], done[0][1]["fingerprint"]
    for unit, result in done[1:]:
        fp = result["fingerprint"]
        part = differing_part(fp, first)
        if part:
            raise InputError(f"unit {unit.name}: fingerprint part '{part}' differs from unit {first_unit.name} "
                             f"({json.dumps(fp.get(part), sort_keys=True)} vs "
                             f"{json.dumps(first.get(part), sort_keys=True)}): units of one study must come from "
                             "one design; run it again from the commit of the others")
    return first
