"""Bring finished units from another checkout (a study worktree at the units' commit, another machine's
clone) into this one's units folder, ready to commit: ``python -m pyserini_hybrid.study FILE import DIR``.

Units must run from a checkout whose fingerprinted code equals the finished units' (docs/study.md), while
the report and the commit happen on main; this is the step between. A unit is taken only when it is
finished (its ``unit.json``, written last), belongs to this study, is not here yet, and has the same design
fingerprint as the units already here (``report`` would refuse to mix them). The training card's
``recipe_file`` is made relative to its checkout: a committed file carries no machine's path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..core.errors import InputError
from ..core.files import load_json, write_json
from .assemble import differing_part
from .config import Study
from .units import UNIT_FILE

CARD = "training-card.json"


def checkout_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` holding a ``pyproject.toml`` (a checkout of this project)."""
    for p in [path, *path.parents]:
        if (p / "pyproject.toml").is_file():
            return p
    return None


def portable_card(card: dict, root: Path | None) -> dict:
    """The card with ``recipe_file`` relative to ``root`` (its checkout), or its bare file name elsewhere."""
    source = card.get("recipe_file")
    if not source or not os.path.isabs(source):
        return card
    path = Path(source)
    try:
        relative = path.relative_to(root) if root else Path(path.name)
    except ValueError:
        relative = Path(path.name)
    return {**card, "recipe_file": relative.as_posix()}


def import_units(study: Study, source: Path, units_root: Path) -> list[str]:
    """Copy ``source``'s finished units of ``study`` that ``units_root`` lacks; returns their names. Each is
    checked before any is copied, so a refusal leaves this folder as it was."""
    source = source.resolve()
    if source.name != "units" and (source / "units").is_dir():
        source = source / "units"  # a report folder was given
    if not source.is_dir():
        raise InputError(f"{source}: no such folder (give another checkout's reports/<study>/units)")
    here = {p.parent.name: load_json(p) for p in sorted(units_root.glob(f"*/{UNIT_FILE}"))}
    reference = next(iter(here.values()), None)
    todo = []
    for path in sorted(source.glob(f"*/{UNIT_FILE}")):
        name, result = path.parent.name, load_json(path)
        if result.get("study") != study.name or bool(result.get("quick")) != study.quick:
            print(f"skipped {name}: a unit of study {result.get('study')!r}{' (quick)' if result.get('quick') else ''}")
            continue
        if name in here:
            print(f"skipped {name}: already here")
            continue
        if (units_root / name).exists():
            print(f"skipped {name}: a partial unit is here (a run of it in progress, or a killed one to remove)")
            continue
        fp = result.get("fingerprint") or {}
        if reference is not None:
            part = differing_part(fp, reference.get("fingerprint") or {})
            if part:
                commit = (result.get("commit") or "?").removesuffix("+dirty")[:12]
                raise InputError(f"unit {name} (commit {commit}) has another design fingerprint ('{part}' differs "
                                 f"from the units in {units_root}): nothing imported")
        reference = reference or result
        todo.append(path.parent)
    root = checkout_root(source)
    for src in todo:
        tmp = units_root / f".{src.name}.import-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(UNIT_FILE, ".*"))
            if (tmp / CARD).is_file():
                write_json(tmp / CARD, portable_card(json.loads((tmp / CARD).read_text(encoding="utf-8")), root))
            shutil.copyfile(src / UNIT_FILE, tmp / UNIT_FILE)  # last, as a unit is written
            tmp.rename(units_root / src.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"imported {src.name}")
    return [s.name for s in todo]
