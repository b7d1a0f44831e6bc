"""The study file (``studies/<name>.toml``): what to train, with which seeds and budget, what to run.

Validated like a recipe: unknown sections or keys, wrong types and unknown dataset names are one-line
errors naming the file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..core.errors import InputError
from ..core.files import PROJECT_ROOT
from ..core.toml_files import load_toml
from ..data import topic_sets as tp
from ..data.perturb import KINDS
from ..data.user_sets import NAME
from ..train.sets import sources_view
from .file_checks import INT_LIMIT, check_keys, check_seeds, check_values
from .sections import Adversarial, Merge, Native, Section, Selection, Sweep

LAREQA = ("xquad-r", "mlqa-r")
UNTUNED, BM25 = "mE5-small", "BM25"
ADDED_TABLES = ("merge", "split_datasets")  # optional tables added after units were committed (Study.to_dict)


@dataclass
class Study:
    """A study file, validated. Every batching trains on ``training_data`` (the same groups for all);
    each model is one run to the largest budget under a constant schedule after a fixed warm-up, and its
    checkpoints at the smaller budgets are those budgets' models (the schedule does not depend on the total)."""
    name: str
    recipe: Path
    training_data: list
    seeds: list
    budgets: list
    warmup_steps: int
    datasets: list
    languages: list
    curve_languages: dict
    hits: int
    fusion: str
    miracl_seeds: int
    precision: str
    variants: dict
    sweep: Sweep
    native: Native
    selection: Selection
    diversity: list
    diversity_datasets: list | None
    adversarial: Adversarial
    merge: Merge = Merge()
    split_datasets: list = field(default_factory=list)
    quick: bool = False
    source: str = ""

    @property
    def steps(self) -> int:
        return max(self.budgets)

    @property
    def native_variants(self) -> list[str]:
        """The batchings trained again with the native sets added ([native] variants, checked against
        [variants] on load; default: all)."""
        if not self.native.datasets:
            return []
        return list(self.native.variants if self.native.variants is not None else self.variants)

    @property
    def sweep_seeds(self) -> list:
        return self.sweep.seeds if self.sweep.seeds is not None else self.seeds[:1]

    @property
    def native_seeds(self) -> list:
        return self.native.seeds if self.native.seeds is not None else self.seeds[:1]

    @property
    def merge_variants(self) -> list[str]:
        """The batchings whose trained model is merged with the start model ([merge] variants; default: all)."""
        return list(self.merge.variants if self.merge.variants is not None else self.variants) if self.merge else []

    @property
    def merge_seeds(self) -> list:
        return self.merge.seeds if self.merge.seeds is not None else self.seeds[:1]

    @property
    def evaluated_datasets(self) -> set[str]:
        """The datasets the study converts: its own and the adversarial one."""
        return set(self.datasets) | ({self.adversarial.dataset} if self.adversarial else set())

    def to_dict(self) -> dict:
        """The study as JSON values, every table in the form its file gave it (``provenance``). A table added
        since the first study ([merge], split_datasets) is left out when absent, so the design hash of a study file without it
        is what it was."""
        out = {f.name: getattr(self, f.name).to_dict() if isinstance(getattr(self, f.name), Section)
               else getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in out.items() if k not in ADDED_TABLES or v}

    @classmethod
    def load(cls, path: str | Path, quick: bool = False, data: str | Path | None = None) -> "Study":
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: study file not found")
        raw, text = load_toml(path, "TOML study file")
        check_keys(path, raw)
        check_seeds(path, raw, text)
        check_values(path, raw, text)
        s = raw.get("study", {})
        try:
            study = cls(name=s["name"], recipe=PROJECT_ROOT / s["recipe"] if not Path(s["recipe"]).is_absolute()
                        else Path(s["recipe"]), training_data=list(s.get("training_data", [])),
                        seeds=list(s["seeds"]), budgets=sorted(int(b) for b in s["budgets"]),
                        warmup_steps=int(s.get("warmup_steps", 0)), datasets=list(s["datasets"]),
                        languages=list(s.get("languages", [])), curve_languages=dict(s.get("curve_languages", {})),
                        hits=int(s.get("hits", 1000)), fusion=s.get("fusion", "rrf"),
                        miracl_seeds=int(s.get("miracl_seeds", 1)), precision=s.get("precision", "fp32"),
                        variants={k: float(v) for k, v in raw.get("variants", {}).items()},
                        sweep=Sweep.from_table(raw.get("sweep", {})), native=Native.from_table(raw.get("native", {})),
                        selection=Selection.from_table(raw.get("selection", {})),
                        diversity=[list(x) for x in raw.get("diversity", {}).get("sets", [])],
                        diversity_datasets=list(raw["diversity"]["datasets"])
                        if "datasets" in raw.get("diversity", {}) else None,
                        adversarial=Adversarial.from_table(raw.get("adversarial", {})),
                        merge=Merge.from_table(raw.get("merge", {})),
                        split_datasets=list(s.get("split_datasets", [])), source=str(path))
        except KeyError as e:
            raise InputError(f"{path}: [study] needs {e}") from None
        except (ValueError, TypeError) as e:  # e.g. a budget that is not a number
            raise InputError(f"{path}: [study]: a value of the wrong kind ({e})") from None
        if quick:
            study.use_quick(raw.get("quick", {}))
        study.validate(path)
        study.check_languages(path, data)
        return study

    def use_quick(self, q: dict) -> None:
        """The smoke variant: [quick]'s values, else a small slice of the study's."""
        self.quick = True
        self.budgets = sorted(int(b) for b in q.get("budgets", [2, 4]))
        self.seeds = list(q.get("seeds", self.seeds[:2]))
        self.warmup_steps = int(q.get("warmup_steps", 1))
        self.datasets = list(q.get("datasets", self.datasets))
        self.languages = list(q.get("languages", self.languages))
        self.curve_languages = dict(q.get("curve_languages", self.curve_languages))
        self.hits = int(q.get("hits", self.hits))
        self.diversity = [list(x) for x in q.get("diversity", self.diversity[:1])]
        self.diversity_datasets = [d for d in self.diversity_datasets or self.datasets if d in self.datasets]
        self.sweep = Sweep().with_values(alphas=list(q.get("sweep_alphas", self.sweep.alphas[:1])),
                                         seeds=self.seeds[:1])
        self.native = self.native.with_values(seeds=self.seeds[:1]) if self.native else Native()
        if self.native and "native_variants" in q:
            self.native = self.native.with_values(variants=list(q["native_variants"]))
        if self.selection:
            sel = self.selection
            self.selection = Selection().with_values(
                steps=int(q.get("selection_steps", 2)), seed=sel.seed,
                lr=list(q.get("selection_lr", (sel.lr or [])[:2])), temperature=(sel.temperature or [])[:1])
        if self.merge:
            self.merge = self.merge.with_values(seeds=self.seeds[:1])
        if self.merge and "merge_variants" in q:
            self.merge = self.merge.with_values(variants=list(q["merge_variants"]))
        if self.adversarial:
            a = self.adversarial
            self.adversarial = a.with_values(languages=list(q.get("adversarial_languages", a.languages)),
                                             kinds=list(q.get("adversarial_kinds", a.kinds)))

    def check_languages(self, path: Path, data=None) -> None:
        """``languages`` and ``curve_languages`` against the languages the datasets have (issue 19: selecting
        nothing is an error naming what exists; selecting less says what was skipped)."""
        have = {}
        for d in self.datasets:
            try:
                have[d] = tp.present_languages(d, data)
            except InputError:  # no data directory here (yet): the codes the set can have
                have[d] = tp.known_languages(d, data)

        def listing(names) -> str:
            return "; ".join(f"{d}: {', '.join(have[d])}" for d in names)

        if self.languages:
            skipped = [x for x in self.languages if not any(x in h for h in have.values())]
            if len(skipped) == len(self.languages):
                raise InputError(f"{path}: [study] languages {', '.join(self.languages)}: in none of the datasets "
                                 f"({listing(have)})")
            empty = [d for d in self.datasets if not set(have[d]) & set(self.languages)]
            if skipped:
                _warn(f"{path}: skipped: languages {', '.join(skipped)}: in none of {', '.join(self.datasets)}")
            if empty:  # a dataset with none of the languages would be an empty table
                _warn(f"{path}: skipped: datasets {', '.join(empty)}: none of {', '.join(self.languages)} "
                      f"({listing(empty)})")
                self.datasets = [d for d in self.datasets if d not in empty]
                if self.diversity_datasets is not None:
                    self.diversity_datasets = [d for d in self.diversity_datasets if d not in empty]
        for d, curve in self.curve_languages.items():
            if d not in self.datasets:
                continue
            langs = [x for x in have[d] if not self.languages or x in self.languages]
            chosen = [x for x in curve if x in langs]
            if not chosen:
                raise InputError(f"{path}: [study] curve_languages.{d} {', '.join(curve) or '(none)'}: none of "
                                 f"the languages {d} has here ({', '.join(langs)})")
            if len(chosen) < len(curve):
                _warn(f"{path}: skipped: curve_languages.{d} {', '.join(x for x in curve if x not in chosen)}: "
                      f"not among the languages {d} has here ({', '.join(langs)})")

    def validate(self, path: Path) -> None:
        """Every rule on the values together (``file_checks`` checked their kinds): one-line errors naming
        the file."""
        sources = sources_view()
        self._check_names(path)
        self._check_datasets(path, sources)
        self._check_runs(path)
        self._check_settings(path)
        self._check_adversarial(path)
        self._check_diversity(path, sources)

    def _check_names(self, path: Path) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise InputError(f"{path}: [study] name {self.name!r}: lower-case letters, digits, dots and single "
                             "hyphens, as a topic-set name (it names the report and work folders)")
        slugs = {}  # a variant's name becomes part of unit and folder names
        for name in self.variants:
            if not slug(name):
                raise InputError(f"{path}: [variants] {name!r}: needs a letter or digit (it names units)")
            if slug(name) in slugs:
                raise InputError(f"{path}: [variants] {name!r} gives the same unit names as {slugs[slug(name)]!r}")
            slugs[slug(name)] = name

    def _check_datasets(self, path: Path, sources: dict) -> None:
        known = tp.manifest()
        for key, names in (("[study] datasets", self.datasets), ("[diversity] datasets", self.diversity_datasets),
                           ("[study] split_datasets", self.split_datasets),
                           ("[study] curve_languages", list(self.curve_languages))):
            unknown = sorted(set(names or []) - set(known))
            if unknown:
                raise InputError(f"{path}: {key}: unknown dataset(s) {', '.join(unknown)} (choose from {', '.join(known)})")
        for key, names in (("[study] training_data", self.training_data), ("[native] datasets",
                                                                            self.native.datasets)):
            unknown = sorted(set(names) - set(sources))
            if unknown:
                raise InputError(f"{path}: {key}: unknown training dataset(s) {', '.join(unknown)} "
                                 f"(choose from {', '.join(sources)})")
        if self.precision not in ("fp32", "bf16"):
            raise InputError(f"{path}: [study] precision must be fp32 or bf16 (pinned: auto would resolve "
                             f"differently on other machines), got {self.precision!r}")

    def _check_runs(self, path: Path) -> None:
        """Which runs there are: the selection's seed and steps, the +native variants, the counts and budgets."""
        if self.selection:
            used = set(self.seeds) | set(self.sweep.seeds or []) | set(self.native.seeds or [])
            if self.selection.seed is None or self.selection.seed in used:
                raise InputError(f"{path}: [selection] seed must be given and be a seed no other run uses "
                                 f"({', '.join(map(str, sorted(used)))}), got {self.selection.seed!r}")
            if int(self.selection.steps or 0) < 1:
                raise InputError(f"{path}: [selection] steps must be a positive step count")
        pure_xy = [n for n in self.native.variants or [] if self.variants.get(n) == 0.0]
        if pure_xy:
            raise InputError(f"{path}: [native] variants: {', '.join(pure_xy)} has alpha 0 and never draws a "
                             "monolingual set, so its +native run would be its main run; leave it out")
        if self.hits < 1 or self.miracl_seeds < 0 or self.warmup_steps < 0:
            raise InputError(f"{path}: [study] hits must be >= 1, miracl_seeds and warmup_steps >= 0")
        if self.warmup_steps >= self.steps:
            raise InputError(f"{path}: [study] warmup_steps {self.warmup_steps} must be below the largest budget "
                             f"{self.steps}")
        for table, chosen in (("native", self.native.variants), ("merge", self.merge.variants)):
            unknown = sorted(set(chosen or []) - set(self.variants))
            if unknown:
                raise InputError(f"{path}: [{table}] variants: {', '.join(unknown)} not in [variants] "
                                 f"({', '.join(self.variants)})")
        if self.merge and not 0.0 <= float(self.merge.weight) <= 1.0:
            raise InputError(f"{path}: [merge] weight must lie in [0, 1] (the fine-tuned model's share), got "
                             f"{self.merge.weight!r}")
        if "hybrid" not in self.variants or not self.seeds:
            raise InputError(f"{path}: [variants] must include \"hybrid\" and [study] at least one seed")
        if not self.budgets or self.budgets[0] < 1 or len(set(self.budgets)) != len(self.budgets) \
                or self.budgets[-1] >= INT_LIMIT:
            raise InputError(f"{path}: [study] budgets must be distinct positive step counts below 2**31, got "
                             f"{self.budgets}")
        if self.hits >= INT_LIMIT or int(self.selection.steps or 1) >= INT_LIMIT:
            raise InputError(f"{path}: [study] hits and [selection] steps must be below 2**31")

    def _check_settings(self, path: Path) -> None:
        """The sweep's alphas and the selection's settings."""
        alphas = self.sweep.alphas
        if any(not 0.0 <= a <= 1.0 for a in alphas):
            raise InputError(f"{path}: [sweep] alphas must lie in [0, 1], got {alphas}")
        if len({f"{a:g}" for a in alphas}) != len(alphas):
            raise InputError(f"{path}: [sweep] alphas {alphas}: two give the same unit name (alpha-<a:g>)")
        same = [a for a in alphas if a in self.variants.values()]
        if same:
            _warn(f"{path}: [sweep] alphas {', '.join(f'{a:g}' for a in same)}: already a [variants] alpha (that "
                  "model is trained twice, once as a batching and once as a sweep point)")
        for key in ("lr", "temperature"):
            if any(v <= 0 for v in getattr(self.selection, key) or []):
                raise InputError(f"{path}: [selection] {key} must be above 0, got {getattr(self.selection, key)}")

    def _check_adversarial(self, path: Path) -> None:
        unknown = sorted(set(self.adversarial.kinds) - set(KINDS))
        if unknown:
            raise InputError(f"{path}: [adversarial] kinds: unknown {', '.join(unknown)} (choose from "
                             f"{', '.join(KINDS)})")
        known = tp.manifest()
        if self.adversarial and self.adversarial.dataset not in known:
            raise InputError(f"{path}: [adversarial] dataset {self.adversarial.dataset!r}: unknown (choose "
                             f"from {', '.join(known)})")

    def _check_diversity(self, path: Path, sources: dict) -> None:
        with_data = {x for d, s in sources.items() if not self.training_data or d in self.training_data
                     for x in s["files"]}
        for langs in self.diversity:
            missing = [x for x in langs if x not in with_data]
            if missing:
                raise InputError(f"{path}: diversity set {langs}: no training data in {', '.join(missing)} "
                                 f"(languages with data: {', '.join(sorted(with_data))})")
        parallel = [set(s["files"]) for s in sources.values() if s["parallel"]]
        for langs in self.diversity:  # one language: every batch is X-X (units.diversity_alpha)
            if len(langs) > 1 and self.variants["hybrid"] < 1.0 and not any(len(p & set(langs)) >= 2 for p in parallel):
                raise InputError(f"{path}: diversity set {langs}: X-Y batches need two languages of a parallel "
                                 f"dataset ({'; '.join(', '.join(sorted(p)) for p in parallel)})")


def slug(name: str) -> str:
    """A system's name as a directory name (unit and run directories)."""
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
