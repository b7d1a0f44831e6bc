"""The study file's raw values, checked before a ``Study`` is built from them: known sections and keys, the
type of every value and list item, seeds in range, every number finite and no list holding a value twice.
One rule for every value: a typo or a repeated seed must not silently change a study."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..core.errors import InputError
from ..core.toml_files import toml_line

KEYS = {  # section -> {key: type}; every key of a study file is checked against these
    "study": {"name": str, "recipe": str, "training_data": list, "seeds": list, "budgets": list,
              "warmup_steps": int, "datasets": list, "languages": list, "curve_languages": dict, "hits": int,
              "fusion": str, "miracl_seeds": int, "precision": str, "split_datasets": list},
    "sweep": {"alphas": list, "seeds": list},
    "native": {"datasets": list, "seeds": list, "variants": list},
    "selection": {"steps": int, "lr": list, "temperature": list, "seed": int},
    "diversity": {"sets": list, "datasets": list},
    "adversarial": {"dataset": str, "languages": list, "kinds": list, "seed": int},
    "merge": {"weight": (int, float), "seeds": list, "variants": list},
    "quick": {"budgets": list, "seeds": list, "datasets": list, "languages": list, "curve_languages": dict,
              "hits": int, "diversity": list, "sweep_alphas": list, "selection_steps": int, "selection_lr": list,
              "adversarial_languages": list, "adversarial_kinds": list, "warmup_steps": int,
              "native_variants": list, "merge_variants": list},
}
SECTIONS = {"variants", *KEYS}


def check_keys(path: Path, raw: dict) -> None:
    """Unknown sections or keys and wrong types are errors, as in recipes (a typo must not silently change a
    study)."""
    if set(raw) - SECTIONS:
        raise InputError(f"{path}: unknown section(s) {', '.join(sorted(set(raw) - SECTIONS))}")
    for section, keys in KEYS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{section}] must be a table")
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise InputError(f"{path}: unknown key(s) in [{section}]: {', '.join(unknown)} "
                             f"(known: {', '.join(keys)})")
        for key, value in table.items():
            if not isinstance(value, keys[key]) or isinstance(value, bool):
                kind = getattr(keys[key], "__name__", "a number")
                raise InputError(f"{path}: {section}.{key} must be {kind}, got {value!r}")
    for name, alpha in raw.get("variants", {}).items():
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.0 <= alpha <= 1.0:
            raise InputError(f"{path}: variants.{name} must be a number (alpha) in [0, 1], got {alpha!r}")


SEED_LIMIT = 2 ** 32
INT_LIMIT = 2 ** 31  # budgets, hits, steps: a larger one is a typo, not a plan
SEED_KEYS = (("study", "seeds"), ("sweep", "seeds"), ("native", "seeds"), ("selection", "seed"),
             ("adversarial", "seed"), ("quick", "seeds"), ("merge", "seeds"))


def check_seeds(path: Path, raw: dict, text: str) -> None:
    """Every seed a whole number in [0, 2**32): a larger one fails deep inside numpy or torch."""
    for section, key in SEED_KEYS:
        value = raw.get(section, {}).get(key)
        for seed in value if isinstance(value, list) else [] if value is None else [value]:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
                line = toml_line(text, section, key)
                raise InputError(f"{path}{f':{line}' if line else ''}: {section}.{key}: seeds are whole numbers in "
                                 f"[0, 2**32), got {seed!r}")


NUMBER = (int, float)
ITEMS = {  # (section, key) -> the type of a list's items (curve_languages: of each language list)
    ("study", "training_data"): str, ("study", "seeds"): int, ("study", "budgets"): int, ("study", "datasets"): str,
    ("study", "languages"): str, ("study", "split_datasets"): str, ("study", "curve_languages"): str, ("sweep", "alphas"): NUMBER,
    ("sweep", "seeds"): int, ("native", "datasets"): str, ("native", "seeds"): int, ("native", "variants"): str,
    ("selection", "lr"): NUMBER, ("selection", "temperature"): NUMBER, ("diversity", "sets"): list,
    ("diversity", "datasets"): str, ("adversarial", "languages"): str, ("adversarial", "kinds"): str,
    ("quick", "budgets"): int, ("quick", "seeds"): int, ("quick", "datasets"): str, ("quick", "languages"): str,
    ("quick", "curve_languages"): str, ("quick", "diversity"): list, ("quick", "sweep_alphas"): NUMBER,
    ("quick", "selection_lr"): NUMBER, ("quick", "adversarial_languages"): str, ("quick", "adversarial_kinds"): str,
    ("quick", "native_variants"): str, ("merge", "seeds"): int, ("merge", "variants"): str,
    ("quick", "merge_variants"): str,
}


def check_values(path: Path, raw: dict, text: str) -> None:
    """One rule for every value of the study file: numbers finite (TOML allows inf and nan, which pass every
    range check), list items of the expected type, and no list holding a value twice (a seed or budget given
    twice would be counted twice: its runs would weigh double in every mean and test)."""
    for section, table in raw.items():
        for key, value in table.items():
            line = toml_line(text, section, key)
            at = f" on line {line}" if line else ""
            where = (f"{path}{f':{line}' if line else ''}: {section}.{key}",  # a wrong kind: worded as Study.load's
                     f"{path}: [{section}]: a value of the wrong kind ({section}.{key}{at}")
            _check_value(where, value, ITEMS.get((section, key)))


def _check_value(where: tuple[str, str], value, items) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where[0]}: must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for v in value.values():
            _check_value(where, v, items)
    if not isinstance(value, list):
        return
    seen = set()
    for item in value:
        if items is not None and (not isinstance(item, items) or isinstance(item, bool)):
            kind = {int: "whole number", str: "string", list: "list"}.get(items, "number")
            raise InputError(f"{where[1]}: every item must be a {kind}, got {item!r})")
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            raise InputError(f"{where[0]}: {item!r} is given twice (each value once: a repeated one would count its "
                             "runs twice)")
        seen.add(key)
        _check_value(where, item, str if items is list else None)
