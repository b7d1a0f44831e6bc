"""The data files a study reads, and only those: its declared training sets (``train/sets.py``), every
evaluation set decontamination reads (``train/decontaminate.py``: the recipe's ``data.decontaminate``, else
every set in reach) and the evaluation sets it converts (``data/topic_sets.py``). The design fingerprint
hashes these, so a file added beside them in a data folder changes no unit's fingerprint."""

from __future__ import annotations

import os
from pathlib import Path

from ..data import topic_sets as tp
from ..data import user_sets
from ..data.miracl import known_languages, language_spec
from ..train import recipe as rc
from ..train import sets as ts
from .config import Study

DECONTAMINATION_KEYS = ("file", "corpus", "topics")  # what decontamination reads of each language's entry
CONVERSION_KEYS = (*DECONTAMINATION_KEYS, "qrels")   # conversion reads the judgements too


def training_files(study: Study, root: Path, recipe) -> list[Path]:
    """The files of the training sets a unit draws from: the study's (else the recipe's, else the default
    ones) and the [native] ablation's, with each set's id list and the user declaration files in reach."""
    declared = ts.declared(root)
    names = list(study.training_data or recipe.data.datasets) or None
    chosen = ts.choose(declared, names)
    if study.native.datasets:
        chosen += ts.choose(declared, list(study.native.datasets), "[native] datasets")
    out = [ref.path for s in chosen for refs in s.files.values() for ref in refs]
    out += [s.exclude_ids for s in chosen if s.exclude_ids is not None]
    return out + ts.files(root)


def topic_set_files(spec: dict, base: Path, keys: tuple[str, ...]) -> list[Path]:
    """A topic set's source files named by ``keys`` in its language entries (NTREX without listed files: every
    ``.txt`` of its folder, as decontamination reads it); a named folder stands for the files in it."""
    if spec.get("format") == "miracl":
        entries = [language_spec(spec, x) for x in known_languages(spec)]
    else:
        entries = [v for v in spec.get("languages", {}).values() if isinstance(v, dict)]
    out = [base / e[k] for e in entries for k in keys if isinstance(e.get(k), str)]
    if spec.get("format") == "ntrex" and not out:
        out = sorted((base / spec.get("dir", "")).glob("*.txt"))
    return [f for p in out for f in (sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])]


def evaluation_files(study: Study, root: Path, recipe) -> list[Path]:
    """The evaluation sets' files decontamination reads, and those of the sets the study converts."""
    specs = tp.manifest(root)
    decontaminated = list(recipe.data.decontaminate) or list(specs)
    evaluated = study.evaluated_datasets
    out = []
    for name, spec in specs.items():
        base = Path(spec["root"]) if spec.get("root") else root
        if name in decontaminated:
            out += topic_set_files(spec, base, DECONTAMINATION_KEYS)
        if name in evaluated:
            out += topic_set_files(spec, base, CONVERSION_KEYS)
    return out + user_sets.files(root)


def study_files(study: Study, root: Path) -> list[Path]:
    """Every data file the study reads that is here (a missing one is refused where it is read)."""
    recipe = rc.load(study.recipe)
    found = training_files(study, root, recipe) + evaluation_files(study, root, recipe)
    return sorted({Path(os.path.abspath(p)) for p in found if p.is_file()})  # links kept: named as read
