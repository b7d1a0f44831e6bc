"""Bring finished units from another checkout (a study worktree at the units' commit, another machine's
clone) into this one's units folder, ready to commit: ``python -m pyserini_hybrid.study FILE import DIR``.

Units must run from a checkout whose fingerprinted code equals the finished units' (docs/study.md), while
the report and the commit happen on main; this is the step between. A unit is taken only when it is
finished (its ``unit.json``, written last), belongs to this study, is not here yet, has the same design
fingerprint as the units already here (``report`` would refuse to mix them), is what the study file plans
under its name, and its files are the ones its ``unit.json`` records (``verify``). The training card's
``recipe_file`` is made relative to its checkout: a committed file carries no machine's path. A unit written
before checksums were recorded gets them here, from the files as imported (said).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ...core.errors import InputError
from ...core.files import load_json, write_json
from ...data import topic_sets as tp
from ..config import Study
from ..fingerprints import differing_part
from ..units import UNIT_FILE, Unit, plan_units
from ..verify import HASHES, check_design, check_files, file_hashes, result_files

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


def imported_bytes(path: Path, root: Path | None) -> bytes:
    """A result file as ``import`` writes it here: the training card with its recipe path made portable (the
    bytes ``write_json`` writes), any other file as it is."""
    data = path.read_bytes()
    if path.name == CARD:
        card = load_json(path)
        portable = portable_card(card, root)
        if portable is not card:
            data = (json.dumps(portable, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return data


def planned_units(study: Study, data: str | None) -> dict[str, Unit]:
    """The study's units by name, planned without converting the data (each set's languages as the data
    folder has them, else those it can have): ``import`` compares them without their languages."""
    metas = {}
    for d in study.evaluated_datasets:
        try:
            metas[d] = {"languages": tp.present_languages(d, data)}
        except InputError:
            metas[d] = {"languages": tp.known_languages(d, data)}
    return {u.name: u for u in plan_units(study, metas)}


def import_units(study: Study, source: Path, units_root: Path, data: str | None = None) -> list[str]:
    """Copy ``source``'s finished units of ``study`` that ``units_root`` lacks; returns their names. Each is
    checked before any is copied, so a refusal leaves this folder as it was."""
    source = source.resolve()
    if source.name != "units" and (source / "units").is_dir():
        source = source / "units"  # a report folder was given
    if not source.is_dir():
        raise InputError(f"{source}: no such folder (give another checkout's reports/<study>/units)")
    here = {p.parent.name: load_json(p) for p in sorted(units_root.glob(f"*/{UNIT_FILE}"))}
    reference = next(iter(here.values()), None)
    root = checkout_root(source)
    planned = planned_units(study, data)
    todo, unverified = [], set()
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
        if name not in planned:
            raise InputError(f"unit {name} is not a unit of {study.source} (plan --names lists them): nothing imported")
        check_design(study, [(planned[name], result)], list(planned.values()), None, languages=False,
                     then="nothing imported")
        if not check_files(name, path.parent, result, read=lambda p: imported_bytes(p, root)):
            unverified.add(name)
        reference = reference or result
        todo.append(path.parent)
    for src in todo:
        tmp = units_root / f".{src.name}.import-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            for f in result_files(src):
                (tmp / f.name).write_bytes(imported_bytes(f, root))
            if src.name in unverified:  # recorded now, from the files as imported
                write_json(tmp / UNIT_FILE, {**load_json(src / UNIT_FILE), HASHES: file_hashes(tmp)})
                print(f"warning: unit {src.name} recorded no file checksums (written before they were recorded): "
                      "recorded them from the files as imported", file=sys.stderr)
            else:
                shutil.copyfile(src / UNIT_FILE, tmp / UNIT_FILE)  # last, as a unit is written
            tmp.rename(units_root / src.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"imported {src.name}")
    return [s.name for s in todo]
