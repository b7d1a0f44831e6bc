"""What every conversion checks the same way: a source file against the checksum its declaration gives,
and which of a set's languages to convert (asked for, present, converted before)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError
from ..core.files import require_file, sha256


def verify_source(path: Path, expected_sha: str | None, warnings: list[str],
                  origin: str = "pyserini_hybrid/data/manifest.json") -> str:
    digest = sha256(require_file(path))
    if expected_sha and digest != expected_sha:
        warnings.append(f"{path}: checksum differs from {origin} (other data; counts may differ)")
    return digest


def origin_name(spec: dict) -> str:
    return spec.get("origin") or "pyserini_hybrid/data/manifest.json"


def unchecked_warning(dataset: str, spec: dict, langs: list[str]) -> list[str]:
    """One warning for the languages that have no checksum to be checked against (not the shared copies)."""
    if not langs:
        return []
    return [f"{dataset}: {', '.join(langs)}: no checksum in {origin_name(spec)} (not the shared copies): "
            "counts are the files' own, their checksums are recorded in meta.json and the runs' run-meta.json"]


def pick_languages(dataset: str, known: list[str], present: list[str], requested, previous: list[str],
                   where: str, warnings: list[str]) -> list[str]:
    """The languages to convert: those asked for that are here (unknown codes are an error; absent ones
    are skipped, and said so), plus those converted before that are still here; none asked: all here."""
    if requested:
        unknown = [x for x in requested if x not in known]
        if unknown:
            raise InputError(f"{dataset}: unknown language code {', '.join(unknown)} (known: {', '.join(known)})")
        wanted = [x for x in requested if x in present]
        if not wanted:
            raise InputError(f"{dataset}: none of {', '.join(requested)} in {where} "
                             f"(present: {', '.join(present) or 'none'})")
        skipped = [x for x in requested if x not in present]
        if skipped:
            warnings.append(f"{dataset}: {', '.join(skipped)} not in {where}; skipped (present: {', '.join(present)})")
        return sorted(set(wanted) | (set(previous) & set(present)))
    if not present:
        raise InputError(f"{where}: no {dataset} language here (known: {', '.join(known)})")
    return list(present)
