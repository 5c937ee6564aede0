"""An architecture's search space as Optuna distributions.

``tpe`` and ``random`` search the architecture's ``search_space``
(`architectures.search`); ``grid`` walks its ``param_grid`` (each grid parameter a
categorical over its grid values), so the three samplers can be compared on the same
study target and trial budget (bench/search.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from architectures.registry import ArchitectureSpec
from architectures.search import Choice, FloatRange, IntRange, Space

SAMPLERS = ("tpe", "random", "grid")


class NothingToTune(ValueError):
    """The architecture has no hyperparameter to search with this sampler."""


def study_space(spec: ArchitectureSpec, sampler: str) -> dict[str, Space]:
    """The parameters a study of ``spec`` searches with ``sampler`` (name -> space)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
    if sampler == "grid":
        space: dict[str, Space] = {
            name: Choice(tuple(values)) for name, values in sorted(spec.param_grid.items())
        }
    else:
        space = dict(sorted(spec.search_space.items()))
    if not space:
        what = "param_grid" if sampler == "grid" else "search_space"
        raise NothingToTune(
            f"{spec.name} declares no {what}: nothing for the {sampler} sampler to search"
        )
    return space


def distribution(space: Space) -> BaseDistribution:
    if isinstance(space, FloatRange):
        return FloatDistribution(space.low, space.high, log=space.log)
    if isinstance(space, IntRange):
        return IntDistribution(space.low, space.high, log=space.log, step=space.step)
    if isinstance(space, Choice):
        return CategoricalDistribution(list(space.options))
    raise TypeError(f"unknown search space kind {type(space).__name__}")


def distributions(space: Mapping[str, Space]) -> dict[str, BaseDistribution]:
    return {name: distribution(s) for name, s in space.items()}


def suggest(trial: optuna.Trial, space: Mapping[str, Space]) -> dict[str, Any]:
    """The trial's values for every parameter of ``space`` (in name order)."""
    out: dict[str, Any] = {}
    for name, s in sorted(space.items()):
        if isinstance(s, FloatRange):
            out[name] = trial.suggest_float(name, s.low, s.high, log=s.log)
        elif isinstance(s, IntRange):
            out[name] = trial.suggest_int(name, s.low, s.high, log=s.log, step=s.step)
        else:
            out[name] = trial.suggest_categorical(name, list(s.options))
    return out


def grid_values(space: Mapping[str, Space]) -> dict[str, list[Any]]:
    """``GridSampler``'s search space (only for Choice spaces: the grid's)."""
    out: dict[str, list[Any]] = {}
    for name, s in space.items():
        if not isinstance(s, Choice):
            raise TypeError(f"grid search needs categorical values for {name!r}")
        out[name] = list(s.options)
    return out


def make_sampler(name: str, space: Mapping[str, Space], seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid_values(space), seed=seed)
    raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
