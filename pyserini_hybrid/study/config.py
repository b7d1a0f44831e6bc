"""The study file (``studies/<name>.toml``): what to train, with which seeds and budget, what to run.

Validated like a recipe: unknown sections or keys, wrong types and unknown dataset names are one-line
errors naming the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..core.files import PROJECT_ROOT
from ..data import topic_sets as tp

LAREQA = ("xquad-r", "mlqa-r")
UNTUNED, BM25 = "mE5-small", "BM25"


KEYS = {  # section -> {key: type}; every key of a study file is checked against these
    "study": {"name": str, "recipe": str, "seeds": list, "steps": int, "datasets": list, "languages": list,
              "hits": int, "fusion": str, "extra_seeds_on": list},
    "diversity": {"sets": list, "datasets": list},
    "adversarial": {"dataset": str, "languages": list, "kinds": list, "seed": int},
    "quick": {"steps": int, "seeds": list, "datasets": list, "languages": list, "hits": int, "diversity": list,
              "adversarial_languages": list, "adversarial_kinds": list},
}


def check_keys(path: Path, raw: dict) -> None:
    """Unknown keys and wrong types are errors, as in recipes (a typo must not silently change a study)."""
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
                raise InputError(f"{path}: {section}.{key} must be {keys[key].__name__}, got {value!r}")
    for name, alpha in raw.get("variants", {}).items():
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise InputError(f"{path}: variants.{name} must be a number (alpha), got {alpha!r}")


@dataclass
class Study:
    name: str
    recipe: Path
    seeds: list
    steps: int
    datasets: list
    languages: list
    hits: int
    fusion: str
    variants: dict
    diversity: list
    adversarial: dict
    extra_seeds_on: list | None = None     # datasets where seeds after the first are run (None: all)
    diversity_datasets: list | None = None  # datasets the diversity models are run on (None: all)
    quick: bool = False
    source: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, quick: bool = False) -> "Study":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: study file not found")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"{path}: not a TOML study file ({e})") from None
        known = {"study", "variants", "diversity", "adversarial", "quick"}
        if set(raw) - known:
            raise InputError(f"{path}: unknown section(s) {', '.join(sorted(set(raw) - known))}")
        check_keys(path, raw)
        s = raw.get("study", {})
        try:
            study = cls(name=s["name"], recipe=PROJECT_ROOT / s["recipe"] if not Path(s["recipe"]).is_absolute()
                        else Path(s["recipe"]), seeds=list(s["seeds"]), steps=int(s["steps"]),
                        datasets=list(s["datasets"]), languages=list(s.get("languages", [])),
                        hits=int(s.get("hits", 1000)), fusion=s.get("fusion", "rrf"),
                        variants={k: float(v) for k, v in raw.get("variants", {}).items()},
                        diversity=[list(x) for x in raw.get("diversity", {}).get("sets", [])],
                        adversarial=dict(raw.get("adversarial", {})), source=str(path),
                        extra_seeds_on=list(s["extra_seeds_on"]) if "extra_seeds_on" in s else None,
                        diversity_datasets=list(raw["diversity"]["datasets"])
                        if "datasets" in raw.get("diversity", {}) else None)
        except KeyError as e:
            raise InputError(f"{path}: [study] needs {e}") from None
        for key, names in (("[study] datasets", study.datasets), ("[study] extra_seeds_on", study.extra_seeds_on),
                           ("[diversity] datasets", study.diversity_datasets)):
            unknown = sorted(set(names or []) - set(tp.manifest()))
            if unknown:
                raise InputError(f"{path}: {key}: unknown dataset(s) {', '.join(unknown)} "
                                 f"(choose from {', '.join(tp.manifest())})")
        if "hybrid" not in study.variants or not study.seeds:
            raise InputError(f"{path}: [variants] must include \"hybrid\" and [study] at least one seed")
        for name, alpha in study.variants.items():
            if not 0.0 <= alpha <= 1.0:
                raise InputError(f"{path}: variant {name!r}: alpha must lie in [0, 1], got {alpha}")
        from ..train.pairs import SOURCES

        parallel = [set(s["files"]) for s in SOURCES.values() if s["parallel"]]
        for langs in study.diversity + [list(x) for x in raw.get("quick", {}).get("diversity", [])]:
            if study.variants["hybrid"] < 1.0 and not any(len(p & set(langs)) >= 2 for p in parallel):
                raise InputError(f"{path}: diversity set {langs}: X-Y batches need two languages of a parallel "
                                 f"dataset ({'; '.join(', '.join(sorted(p)) for p in parallel)})")
        if quick:
            q = raw.get("quick", {})
            study.quick = True
            study.steps = int(q.get("steps", 3))
            study.seeds = list(q.get("seeds", study.seeds[:2]))
            study.datasets = list(q.get("datasets", study.datasets))
            study.languages = list(q.get("languages", study.languages))
            study.hits = int(q.get("hits", study.hits))
            study.diversity = [list(x) for x in q.get("diversity", study.diversity[:1])]
            if study.adversarial:
                a = study.adversarial
                a["languages"] = list(q.get("adversarial_languages", a.get("languages", [])))
                a["kinds"] = list(q.get("adversarial_kinds", a.get("kinds", [])))
        return study
