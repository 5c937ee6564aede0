"""The objective of a trial: the walk-forward score of its config on the tuning period.

The tuning period ends at the *boundary* (``[refine] tune_end``, else the bar at
``tune_fraction`` of history): the market data is cut there *before* any feature is
computed, so no trial can read a bar at or after it (tests/refine/test_objective.py
perturbs those bars and finds every trial's value unchanged). The rating engine judges
the record the factory builds live; set ``[evaluation] start`` at or after the boundary
to rate bred configs only on bars their tuning never saw.

A trial evaluates its config with the production walk-forward engine
(`factory.evaluation.engine.evaluate_config`: same schedule, purge, costs, book) in
``prune_blocks`` consecutive segments, resuming from the engine's state after each; after
each segment it reports the annualised Sharpe ratio of its net returns so far, and the
pruner (Optuna's `MedianPruner`) stops it when that is below the median of earlier trials
at the same segment (never after the last one). The value of a finished trial is that Sharpe ratio over the whole
tuning period.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import optuna
import pandas as pd

from architectures.registry import ArchitectureSpec
from architectures.search import Space
from factory.artifacts import ArtifactStore
from factory.data.market import MarketData
from factory.evaluation.engine import (
    EvalInputs,
    EvalParams,
    EvalState,
    evaluate_config,
    first_prediction_index,
)
from factory.plan import ModelConfig
from factory.refine.space import suggest
from features.frame import FeatureFrame

PERIODS_PER_YEAR = 252


class TrialFailed(RuntimeError):
    """The trial's evaluation failed (recorded as a FAIL trial; the study goes on)."""


def tuning_boundary(
    timestamps: pd.DatetimeIndex, *, tune_end: date | None, fraction: float
) -> datetime:
    """The first instant a study may not read: ``tune_end`` (midnight UTC) when set, else
    the bar at ``fraction`` of the history."""
    if tune_end is not None:
        return datetime(tune_end.year, tune_end.month, tune_end.day)
    if len(timestamps) < 2:
        raise ValueError("tuning needs at least two bars of history")
    index = min(max(int(len(timestamps) * fraction), 1), len(timestamps) - 1)
    return pd.Timestamp(timestamps[index]).to_pydatetime().replace(tzinfo=None)


def before(data: MarketData, boundary: datetime) -> MarketData:
    """The bars strictly before ``boundary`` (what a study may read)."""
    ts = pd.DatetimeIndex(data.bars.index.get_level_values("timestamp"))
    cut = pd.Timestamp(boundary)
    if ts.tz is not None and cut.tzinfo is None:
        cut = cut.tz_localize(ts.tz)
    kept = data.bars[ts < cut]
    if kept.empty:
        raise ValueError(f"no bars before the tuning boundary {boundary:%Y-%m-%d %H:%M}")
    return MarketData(kept)


def sharpe(net: np.ndarray) -> float:
    """Annualised Sharpe ratio of per-bar net returns (0 with fewer than two or no
    variance): the walk-forward score."""
    x = net[np.isfinite(net)]
    if x.size < 2:
        return 0.0
    sd = float(x.std(ddof=1))
    if sd <= 0 or not np.isfinite(sd):
        return 0.0
    return float(x.mean() / sd * np.sqrt(PERIODS_PER_YEAR))


def segment_ends(n_bars: int, first: int, segments: int) -> list[int]:
    """Exclusive ends of ``segments`` near-equal runs of bars ``first .. n_bars - 1``."""
    if first >= n_bars:
        raise ValueError(
            f"the tuning period has {n_bars} bars, the first prediction would be bar {first}: "
            "move the boundary later (`[refine] tune_end` / `tune_fraction`) or lower min_train"
        )
    ends = np.linspace(first, n_bars, segments + 1)[1:].round().astype(int)
    return sorted({int(e) for e in ends if e > first})


def head(inputs: EvalInputs, end: int) -> EvalInputs:
    """The first ``end`` bars of ``inputs``."""
    ff = inputs.features
    frame = FeatureFrame(ff.values[:end], ff.timestamps[:end], ff.assets, ff.names)
    return EvalInputs(frame, inputs.close[:end], None if inputs.open is None else inputs.open[:end])


@dataclass(frozen=True)
class StudyTarget:
    """What a study tunes: an architecture on one feature set and lookback."""

    spec: ArchitectureSpec
    feature_set: str
    feature_set_version: int
    lookback: int
    feature_selection: str = "none"

    def config(self, params: dict[str, Any]) -> ModelConfig:
        return ModelConfig(
            architecture=self.spec.name,
            arch_version=self.spec.version,
            family=self.spec.family,
            lookback=self.lookback,
            feature_set=self.feature_set,
            feature_set_version=self.feature_set_version,
            params=tuple(sorted(params.items())),
            feature_selection=self.feature_selection,
        )


@dataclass(frozen=True)
class WalkForwardObjective:
    """``objective(trial) -> score`` (see the module docstring). ``inputs`` are built from
    the data *before* the boundary only."""

    target: StudyTarget
    space: dict[str, Space]
    inputs: EvalInputs
    params: EvalParams
    segments: int = 4

    def __call__(self, trial: optuna.Trial) -> float:
        config = self.target.config(suggest(trial, self.space))
        trial.set_user_attr("config_id", config.config_id)
        T = len(self.inputs.features.timestamps)
        first = first_prediction_index(self.inputs.features.timestamps, self.params)
        nets: list[np.ndarray] = []
        state: EvalState | None = None
        score = 0.0
        with tempfile.TemporaryDirectory(prefix="factory-tune-") as tmp:
            store = ArtifactStore(tmp)
            ends = segment_ends(T, first, self.segments)
            for step, end in enumerate(ends):
                result = evaluate_config(
                    config, self.target.spec, head(self.inputs, end), self.params,
                    store=store, state=state,
                )  # fmt: skip
                if result.status != "done":
                    raise TrialFailed((result.error or "evaluation failed").splitlines()[0])
                state = result.state
                nets.append(result.net)
                score = sharpe(np.concatenate(nets))
                trial.report(score, step)
                # The last segment is never pruned: the work is done, the value counts.
                if step < len(ends) - 1 and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after segment {step + 1}: {score:.3f}")
        return score
