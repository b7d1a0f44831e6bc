"""Checks on finished units before ``import``, ``plan`` and ``report`` use them.

A unit's numbers are read back from its result files, so every check here is about those files and what
``unit.json`` says of them:

- its files are the ones written: ``unit.json`` (written last) records each result file's sha256, and a file
  that is missing, changed or added afterwards is a one-line error (one changed rank would otherwise
  silently change the report);
- its depth is the one its ranks were recorded at: the ranks within and beyond the depth are counted again
  and compared with the checks recorded when the run was read (rank distance counts a candidate beyond the
  depth at depth + 1, so an edited depth would silently change it);
- it is a unit of the study file given: the design fingerprint's study hash where the unit's code computes
  it as this checkout does, else what the unit records of its design (its plan, evaluations and recipe)
  against what the study file plans now (units made at an older commit, such as the committed study).

Units written before checksums were recorded are accepted with a warning (``import`` records them).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from ..core.errors import InputError
from ..core.files import load_json, sha256
from .config import BM25, UNTUNED, Study
from .provenance import code_hash, study_hash, study_values
from .recipes import unit_recipe
from .units import UNIT_FILE, Unit, selection_choice

HASHES = "sha256"  # unit.json's {result file name: sha256}, every file of the unit but unit.json itself


def result_files(folder: Path) -> list[Path]:
    """The unit's result files: every plain file but unit.json and hidden ones (locks, temporaries)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != UNIT_FILE and not p.name.startswith("."))


def file_hashes(folder: Path) -> dict[str, str]:
    """What unit.json records of its files, computed when the unit is written (``produce``) or imported."""
    return {p.name: sha256(p) for p in result_files(folder)}


def _plain_name(name, unit: str) -> str:
    """A file name inside the unit's folder (a unit.json naming ``../x`` must not reach outside it)."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise InputError(f"unit {unit}: its unit.json names the file {name!r}, not a file name of its folder")
    return name


def check_files(name: str, folder: Path, result: dict, read=None) -> bool:
    """Every file the unit names is there and, where unit.json records checksums, every result file is the one
    written. ``read``: the bytes a file is checked as (``import`` checks what it will write). Returns False for a
    unit written before checksums were recorded (its files are then checked for presence only)."""
    named = sorted({_plain_name(f, name) for e in result.get("evaluations") or []
                    for f in (e.get("files") or {}).values()})
    hashes = result.get(HASHES)
    if hashes is not None and not isinstance(hashes, dict):
        raise InputError(f"unit {name}: its unit.json's {HASHES} must map file names to checksums")
    wanted = sorted(set(named) | {_plain_name(f, name) for f in hashes or {}})
    missing = [f for f in wanted if not (folder / f).is_file()]
    if missing:
        raise InputError(f"unit {name}: {missing[0]} is missing ({len(missing)} of the files its unit.json names): "
                         "restore the unit's folder (git checkout, or import it again) or run the unit again")
    if hashes is None:
        return False
    extra = [p.name for p in result_files(folder) if p.name not in hashes]
    if extra:
        raise InputError(f"unit {name}: {extra[0]} is not among the files its unit.json records (added after the "
                         "unit was written): remove it, or run the unit again")
    for f, want in sorted(hashes.items()):
        got = hashlib.sha256(read(folder / f)).hexdigest() if read else sha256(folder / f)
        if got != want:
            raise InputError(f"unit {name}: {f} differs from the sha256 its unit.json records (changed after the "
                             "unit was written): restore it (git checkout, or import the unit again) or run the "
                             "unit again")
    return True


def check_unit_files(units_root: Path) -> list[str]:
    """``check_files`` for every finished unit in ``units_root``; returns the units without checksums."""
    unverified = []
    for path in sorted(units_root.glob(f"*/{UNIT_FILE}")):
        if not check_files(path.parent.name, path.parent, load_json(path)):
            unverified.append(path.parent.name)
    return unverified


def warn_unverified(names: list[str], study: Study) -> None:
    if names:
        print(f"warning: unit(s) {', '.join(names)} record no file checksums (written before they were recorded): "
              "their files are checked for presence only; to record checksums, import the units again into an "
              f"empty units folder (python -m pyserini_hybrid.study {study.source} import DIR)", file=sys.stderr)


def evaluation_name(e: dict) -> str:
    return f"{e.get('system')} @{e.get('budget')} {e.get('dataset')} {e.get('tag')}"


def check_depth(name: str, e: dict, ranks) -> None:
    """The evaluation's recorded depth against its recorded ranks: ranks beyond the depth only where the full
    ranking was computed (dense runs), and as many within and beyond it as counted when the run was read."""
    depth = e.get("depth")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise InputError(f"unit {name}: {evaluation_name(e)}: depth must be a positive whole number, got {depth!r}")
    known = ranks["rank"].dropna()
    within, beyond = int((known <= depth).sum()), int((known > depth).sum())
    if beyond and not e.get("full_ranks"):
        raise InputError(f"unit {name}: {evaluation_name(e)}: {beyond} ranks beyond its depth {depth} in a run "
                         "without a full ranking: the depth was changed after the unit was written")
    checks = e.get("checks") or {}
    if "within_depth" in checks and (within, beyond) != (checks["within_depth"], checks.get("beyond_depth", 0)):
        raise InputError(f"unit {name}: {evaluation_name(e)}: its ranks put {within} candidates within depth {depth} "
                         f"and {beyond} beyond, its unit.json's checks {checks['within_depth']} and "
                         f"{checks.get('beyond_depth', 0)}: its depth or checks were changed after the unit was "
                         "written")


def planned_evaluations(study: Study, unit: Unit, languages: bool = True) -> list[tuple]:
    """What ``run.produce`` records for ``unit``: (system, seed, budget, dataset, languages, tag), sorted."""
    if unit.kind == "selection":
        return []
    out = []
    system, seed = (UNTUNED, 0) if unit.kind == "baselines" else (unit.label, unit.seed)
    for e in unit.evaluations:
        langs = tuple(e["languages"]) if languages else ()
        if unit.kind == "baselines":
            out.append((BM25, 0, e["budget"], e["dataset"], langs, e["tag"]))
        out.append((system, seed, e["budget"], e["dataset"], langs, e["tag"]))
        if unit.fusion and e["tag"] == "clean" and e["budget"] == study.steps:
            out.append((f"BM25+{system}", seed, e["budget"], e["dataset"], langs, e["tag"]))
    return sorted(out, key=repr)


def recorded_evaluations(result: dict, languages: bool = True) -> list[tuple]:
    return sorted(((e.get("system"), e.get("seed"), e.get("budget"), e.get("dataset"),
                    tuple(e.get("languages") or ()) if languages else (), e.get("tag"))
                   for e in result.get("evaluations") or []), key=repr)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def design_difference(study: Study, unit: Unit, result: dict, here: dict, choice: dict | None,
                      languages: bool = True) -> str | None:
    """What of ``study``'s design the finished ``unit`` contradicts, else None. ``here``: this checkout's study
    and code hashes; ``choice``: the selection units' choice (None: not checked); ``languages``: compare the
    evaluated languages too (``import`` plans without converting the data, so it leaves them to ``report``)."""
    if result.get("study") != study.name or bool(result.get("quick")) != study.quick:
        return f"it belongs to study {result.get('study')!r}{' (quick)' if result.get('quick') else ''}"
    got, want = recorded_evaluations(result, languages), planned_evaluations(study, unit, languages)
    if got != want:
        odd = next((x for x in got if x not in want), None) or next(x for x in want if x not in got)
        return (f"it records evaluations other than the study file plans (e.g. {odd[0]} seed {odd[1]} @{odd[2]} "
                f"{odd[3]} {odd[5]} {'recorded, not planned' if odd in got else 'planned, not recorded'})")
    used = result.get("selection_choice") or {}
    if choice and choice.get("lr") is not None and used.get("lr") is not None and \
            (used["lr"], used["temperature"]) != (choice["lr"], choice["temperature"]):
        return (f"it trained with lr {used['lr']:g}, temperature {used['temperature']:g}; the selection units here "
                f"choose lr {choice['lr']:g}, temperature {choice['temperature']:g}")
    fp = result.get("fingerprint") or {}
    if fp.get("study") == here["study"]:
        return None
    if fp.get("code") == here["code"]:  # the same code computes the same hash from the same study file
        return f"its design fingerprint's study hash {fp.get('study')} differs from the study file's {here['study']}"
    # made by other code (an older commit): its study hash is not comparable, what it records of its design is
    if isinstance(result.get("design"), dict):
        now = study_values(study)
        for key, value in result["design"].items():
            if key in now and value != now[key]:
                return f"its study file's {key} was {value!r}, this one's is {now[key]!r}"
    recorded, planned = result.get("unit") or {}, unit.to_dict()
    for key in [k for k in recorded if k in planned and k != "evaluations"]:
        if recorded[key] != planned[key]:
            return f"its {key} is {recorded[key]!r}, the study file plans {planned[key]!r}"
    if unit.kind == "selection":
        labels = sorted(f"lr={lr:g} tau={tau:g}" for lr in study.selection.lr or []
                        for tau in study.selection.temperature or [])
        if labels and sorted(result.get("selection") or {}) != labels:
            return f"it tried {', '.join(sorted(result.get('selection') or {}))}, the study file {', '.join(labels)}"
    if isinstance(result.get("recipe"), dict):
        planned_recipe = _flat(unit_recipe(study, unit, None if unit.kind == "selection" else used or None,
                                           None).to_dict())
        # a key the recorded recipe lacks is a field added since, whose default keeps the old behaviour; the
        # start model (model.name may be a --model path) is compared by its sha256 in the fingerprint
        for key, value in _flat(result["recipe"]).items():
            if key != "model.name" and key in planned_recipe and value != planned_recipe[key]:
                return f"its recipe's {key} is {value!r}, the study file gives {planned_recipe[key]!r}"
    return None


def check_design(study: Study, done: list[tuple], units: list[Unit], units_root: Path | None,
                 languages: bool = True, then: str = "") -> None:
    """Refuse a finished unit that is not what ``study`` plans for its name (another alpha, budget, depth,
    recipe ...): reporting it under this study file would print numbers of another design under its name.
    ``units_root``: where the selection units are (None: the selection choice is not checked)."""
    if not done:
        return
    here = {"study": study_hash(study), "code": code_hash()}
    choice = selection_choice(study, units_root, units) if units_root is not None else None
    for unit, result in done:
        for e in result.get("evaluations") or []:
            if e.get("depth") != study.hits:  # rank distance counts a censored candidate at depth + 1
                raise InputError(f"unit {unit.name}: its {evaluation_name(e)} evaluation records depth "
                                 f"{e.get('depth')!r}, {study.source} has hits = {study.hits}: its unit.json was "
                                 "edited, or it is a unit of another study file" + (f"; {then}" if then else ""))
        problem = design_difference(study, unit, result, here, choice, languages)
        if problem:
            raise InputError(f"unit {unit.name} is not the unit {study.source} plans: {problem}; "
                             + (then or "report it with the study file it was made with, or give a new --report-dir "
                                "to start anew"))
