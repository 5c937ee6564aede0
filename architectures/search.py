"""Search spaces for hyperparameter tuning, declared next to each architecture's grid.

An architecture's ``search_space`` maps a parameter name to one of the three kinds
below. They are plain frozen values (no Optuna import here): `factory tune` turns them
into Optuna distributions, and the contract checks verify that every name is an
``__init__`` parameter and that the grid's values and the default lie inside. Example::

    search_space: ClassVar = {
        "learning_rate": FloatRange(1e-4, 1e-2, log=True),
        "num_leaves": IntRange(7, 63, log=True),
        "boosting": Choice(("gbdt", "dart")),
    }
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]``, sampled on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"FloatRange needs finite low < high, got {self.low}, {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log-scaled FloatRange needs low > 0")

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (every ``step``-th value), log-scaled when ``log``."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"IntRange needs low < high, got {self.low}, {self.high}")
        if self.step < 1 or (self.log and (self.step != 1 or self.low < 1)):
            raise ValueError("IntRange needs step >= 1; a log scale needs step 1 and low >= 1")

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (JSON scalars)."""

    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("Choice needs at least one option")
        object.__setattr__(self, "options", tuple(self.options))

    def contains(self, value: Any) -> bool:
        return value in self.options


Space = FloatRange | IntRange | Choice
