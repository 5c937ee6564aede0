"""From registered architectures to concrete model configurations.

A `ModelConfig` is frozen: architecture (name and version), lookback, feature set (name and
version), feature selection and hyperparameters. Its id is a content hash of exactly those
fields, so expanding the plan again after a new architecture is registered only *adds*
configs; nothing already rated changes identity.

`expand` applies the plan's rules in a fixed order and records every exclusion with its
reason, so `factory configs --explain` can print the funnel:

1. family restriction — an architecture declares the feature sets it can read
   (``tags.feature_sets``; e.g. series models read only the return series of ``ohlcv``);
   feature selection does not apply to series models.
2. infeasible data — a feature set needs columns the data lacks (sentiment, on-chain,
   order book), or a lookback is too long for the history available.
3. prior performance — configs the caller names (e.g. repeatedly failing) with a reason.
4. compute budget — per family (``family_budgets``): the family's budget is shared
   equally by its architectures (an architecture with fewer candidates leaves its share
   to the others); each architecture keeps its configs in a fixed order — grid point
   first, then lookback from the middle of the plan's lookbacks outwards (30, 14, 60, 7,
   90), then feature set — so a budget keeps the first grid points on the central
   lookbacks across every feature set. Then, over all families, the most expensive
   configs beyond ``budget`` are dropped.

The default plan (25 architectures x 5 lookbacks x 8 feature sets x grids = 2,320
candidates) is cut by family restrictions and the family budgets (classical 216, deep
160, econometric 46, rl 64) to exactly 486 configs on data that has every input.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from architectures.registry import ArchitectureSpec
from features.registry import FeatureSet

SELECTIONS = ("none", "correlation", "l1", "rfe")


def _canonical(value: Any) -> Any:
    """JSON-stable form of a parameter value (tuples and lists hash alike)."""
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class ModelConfig:
    """One concrete configuration. ``params`` holds only the values the plan set (sorted
    name/value pairs); the architecture's defaults fill the rest."""

    architecture: str
    arch_version: int
    family: str
    lookback: int
    feature_set: str
    feature_set_version: int
    params: tuple[tuple[str, Any], ...] = ()
    feature_selection: str = "none"

    @property
    def config_id(self) -> str:
        """12 hex characters of the sha256 of the canonical JSON of the identity fields."""
        return _hash(self.identity())

    def identity(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "arch_version": self.arch_version,
            "lookback": self.lookback,
            "feature_set": self.feature_set,
            "feature_set_version": self.feature_set_version,
            "feature_selection": self.feature_selection,
            "params": {k: _canonical(v) for k, v in self.params},
        }

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def label(self) -> str:
        """Readable name: ``lightgbm/ohlcv/L30 num_leaves=7``."""
        extra = " ".join(f"{k}={v}" for k, v in self.params)
        sel = "" if self.feature_selection == "none" else f"/sel={self.feature_selection}"
        return f"{self.architecture}/{self.feature_set}/L{self.lookback}{sel}" + (
            f" {extra}" if extra else ""
        )

    def params_json(self) -> str:
        return json.dumps(dict(self.params), sort_keys=True)


def _hash(payload: Mapping[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Exclusion:
    rule: str  # family restriction | infeasible data | prior performance | compute budget
    reason: str
    count: int


@dataclass(frozen=True)
class Expansion:
    """The result of expanding a plan: configs plus the funnel that explains the count."""

    configs: tuple[ModelConfig, ...]
    candidates: int
    exclusions: tuple[Exclusion, ...]
    dimensions: Mapping[str, int] = field(default_factory=dict)

    def by_architecture(self) -> dict[str, int]:
        return dict(Counter(c.architecture for c in self.configs))

    def by_feature_set(self) -> dict[str, int]:
        return dict(Counter(c.feature_set for c in self.configs))


@dataclass(frozen=True)
class DataProfile:
    """What the plan needs to know about the data: its columns and the history length."""

    columns: frozenset[str]
    n_bars: int
    n_assets: int


def param_combinations(
    spec: ArchitectureSpec, max_grid: int = 0, grid: Mapping[str, Sequence[Any]] | None = None
) -> list[tuple[tuple[str, Any], ...]]:
    """The Cartesian product of the architecture's grid as sorted name/value tuples (at
    most ``max_grid`` combinations when it is positive, taken in grid order). ``grid``
    replaces ``spec.param_grid`` (the plan's per-architecture grids)."""
    grid = spec.param_grid if grid is None else grid
    unknown = set(grid) - set(spec.default_params)
    if unknown:
        raise ValueError(
            f"plan grid for {spec.name} names unknown parameter(s) {sorted(unknown)}; "
            f"its parameters are {sorted(spec.default_params)}"
        )
    names = sorted(grid)
    if not names:
        return [()]
    combos = [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(list(grid[n]) for n in names))
    ]
    return combos[:max_grid] if max_grid > 0 else combos


def expand(
    specs: Sequence[ArchitectureSpec],
    feature_sets: Sequence[FeatureSet],
    lookbacks: Sequence[int],
    *,
    selections: Sequence[str] = ("none",),
    data: DataProfile | None = None,
    min_train: int = 0,
    budget: int | None = None,
    max_grid: int = 0,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    prior: Mapping[str, str] | None = None,
    family_budgets: Mapping[str, int] | None = None,
) -> Expansion:
    """Expand architectures x feature sets x lookbacks x params x selections into configs,
    applying the exclusion rules in order (see the module docstring)."""
    grids = grids or {}
    unknown = set(selections) - set(SELECTIONS)
    if unknown:
        raise ValueError(f"unknown feature selection {sorted(unknown)}; choose from {SELECTIONS}")
    excluded: Counter[tuple[str, str]] = Counter()
    kept: list[tuple[ModelConfig, float]] = []
    candidates = 0
    priority = _lookback_priority(lookbacks)
    for spec in specs:
        combos = param_combinations(spec, max_grid, grids.get(spec.name))
        ordered = []
        for g, params in enumerate(combos):
            for lookback in sorted(lookbacks, key=lambda lb: priority[lb]):
                for f, fs in enumerate(feature_sets):
                    for selection in selections:
                        ordered.append((g, lookback, f, fs, params, selection))
        for _, lookback, _, fs, params, selection in ordered:
            candidates += 1
            config = ModelConfig(
                architecture=spec.name,
                arch_version=spec.version,
                family=spec.family,
                lookback=int(lookback),
                feature_set=fs.name,
                feature_set_version=fs.version,
                params=params,
                feature_selection=selection,
            )
            rule, reason = _exclusion(spec, fs, config, data, min_train, prior)
            if rule:
                excluded[(rule, reason)] += 1
                continue
            kept.append((config, spec.tags.cost_hint * lookback))
    for family, cap in sorted((family_budgets or {}).items()):
        kept, dropped = _family_budget(kept, family, cap)
        if dropped:
            excluded[
                (
                    "compute budget",
                    f"{family} budget of {cap} configs: {dropped} dropped (each architecture "
                    "keeps an equal share: first grid points, central lookbacks first)",
                )
            ] += dropped
    if budget is not None and len(kept) > budget:
        # Drop the most expensive first; ties broken by id so the cut is deterministic.
        kept.sort(key=lambda item: (item[1], item[0].config_id))
        dropped = len(kept) - budget
        excluded[
            ("compute budget", f"budget of {budget} configs: the {dropped} most expensive dropped")
        ] += dropped
        kept = kept[:budget]
    configs = tuple(sorted((c for c, _ in kept), key=_sort_key))
    exclusions = tuple(Exclusion(rule, reason, n) for (rule, reason), n in excluded.items())
    dimensions = {
        "architectures": len(specs),
        "feature_sets": len(feature_sets),
        "lookbacks": len(lookbacks),
        "selections": len(selections),
    }
    return Expansion(configs, candidates, exclusions, dimensions)


def _lookback_priority(lookbacks: Sequence[int]) -> dict[int, int]:
    """Rank of each lookback from the middle of the sorted list outwards (30, 14, 60,
    7, 90 for the default plan); the budget keeps the first ones."""
    ordered = sorted(set(int(lb) for lb in lookbacks))
    mid = (len(ordered) - 1) // 2
    order = sorted(range(len(ordered)), key=lambda i: (abs(i - mid), i))
    return {ordered[i]: rank for rank, i in enumerate(order)}


def _family_budget(
    kept: list[tuple[ModelConfig, float]], family: str, cap: int
) -> tuple[list[tuple[ModelConfig, float]], int]:
    """Keep at most ``cap`` configs of ``family``: round robin over its architectures,
    each in its candidate order (so each gets an equal share, and a short one leaves its
    share to the others). Returns (kept, how many were dropped)."""
    members = [item for item in kept if item[0].family == family]
    if len(members) <= cap:
        return kept, 0
    queues: dict[str, list[tuple[ModelConfig, float]]] = {}
    for item in members:
        queues.setdefault(item[0].architecture, []).append(item)
    chosen: set[str] = set()
    names = sorted(queues)
    position = dict.fromkeys(names, 0)
    while len(chosen) < cap:
        for name in names:
            if len(chosen) >= cap:
                break
            if position[name] < len(queues[name]):
                chosen.add(queues[name][position[name]][0].config_id)
                position[name] += 1
    out = [item for item in kept if item[0].family != family or item[0].config_id in chosen]
    return out, len(members) - cap


def _sort_key(c: ModelConfig) -> tuple[Any, ...]:
    return (
        c.family,
        c.architecture,
        c.feature_set,
        c.lookback,
        c.feature_selection,
        json.dumps(c.params, default=str),
    )


def _exclusion(
    spec: ArchitectureSpec,
    fs: FeatureSet,
    config: ModelConfig,
    data: DataProfile | None,
    min_train: int,
    prior: Mapping[str, str] | None,
) -> tuple[str, str]:
    allowed = spec.tags.feature_sets
    if allowed is not None and fs.name not in allowed:
        return (
            "family restriction",
            f"{spec.name} reads only {', '.join(allowed)} ({spec.input} input)",
        )
    if spec.input in ("series", "panel") and config.feature_selection != "none":
        return "family restriction", f"feature selection does not apply to {spec.input} models"
    if spec.tags.lookbacks is not None and config.lookback not in spec.tags.lookbacks:
        return (
            "family restriction",
            f"{spec.name} is expanded only with lookbacks {', '.join(map(str, spec.tags.lookbacks))}"
            f" ({spec.tags.lookback_use or 'see its docstring'})",
        )
    if data is not None:
        missing = fs.missing(sorted(data.columns))
        if missing:
            return (
                "infeasible data",
                f"{fs.name} needs {', '.join(sorted(missing))}, which the data lacks",
            )
        if data.n_assets < fs.min_assets:
            return (
                "infeasible data",
                f"{fs.name} needs at least {fs.min_assets} assets, the data has {data.n_assets}",
            )
        if config.lookback + min_train >= data.n_bars:
            return "infeasible data", (
                f"lookback {config.lookback} + min_train {min_train} needs more than the "
                f"{data.n_bars} bars stored"
            )
    if prior and config.config_id in prior:
        return "prior performance", prior[config.config_id]
    return "", ""
