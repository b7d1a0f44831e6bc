"""The study file's optional tables ([sweep], [native], [selection], [adversarial], [merge]) as frozen values.

Each keeps which keys its file gave (``given``): its JSON form holds those alone, as the table read from the
file did, so a study's design fingerprint (``provenance.study_hash``) is the same as before they were typed,
and an absent table is falsy. Their kinds are checked by ``file_checks`` before they are built, their rules
by ``Study.validate``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Section:
    given: tuple = field(default=(), repr=False)  # the keys the study file set, in its order

    def __bool__(self) -> bool:  # an absent table is falsy, as an empty one was
        return bool(self.given)

    @classmethod
    def from_table(cls, table: dict):
        return cls(given=tuple(table), **table)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.given}

    def with_values(self, **changes):
        """A copy with ``changes`` set (and counted as given)."""
        return replace(self, given=tuple(dict.fromkeys([*self.given, *changes])), **changes)


@dataclass(frozen=True)
class Sweep(Section):
    """More alphas at the largest budget."""
    alphas: list = field(default_factory=list)
    seeds: list | None = None         # None: the study's first seed


@dataclass(frozen=True)
class Native(Section):
    """The +native ablation: the native monolingual sets added to the training groups."""
    datasets: list = field(default_factory=list)
    seeds: list | None = None         # None: the study's first seed
    variants: list | None = None      # None: every batching


@dataclass(frozen=True)
class Selection(Section):
    """Recipe settings chosen on held-out training groups, every batching with every setting."""
    steps: int | None = None
    lr: list | None = None            # None: the recipe's
    temperature: list | None = None   # None: the recipe's
    seed: int | None = None


@dataclass(frozen=True)
class Adversarial(Section):
    """Perturbed topics of some languages of one dataset."""
    dataset: str | None = None
    languages: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    seed: int = 0


@dataclass(frozen=True)
class Merge(Section):
    """+merge: a batching's trained model averaged in weight space with the start model (``train merge``)."""
    weight: float = 0.5               # the fine-tuned model's share: weight * fine_tuned + (1 - weight) * start
    seeds: list | None = None         # None: the study's first seed
    variants: list | None = None      # None: every batching


def lr_grid(selection: Selection, lr: float, temperature: float) -> list[tuple]:
    """The (lr, temperature) pairs a selection unit trains: each list as given, else the recipe's one value."""
    lrs = selection.lr if selection.lr is not None else [lr]
    taus = selection.temperature if selection.temperature is not None else [temperature]
    return [(a, t) for a in lrs for t in taus]
