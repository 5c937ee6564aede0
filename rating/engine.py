"""rate(): the whole metrics table, DSR, score, gates and rank for all configs at once.

Pure: no I/O and no clock. ``rate`` turns a T x N matrix of per-bar net returns into a
:class:`Ratings` snapshot; :func:`rating.promotion.decide_promotions` turns a snapshot
and the current live set into a promotion cycle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from rating import metrics as m
from rating._panel import FloatArray, IntArray, Panel
from rating.autocorrelation import variance_inflation_from_panel
from rating.benchmark import BenchmarkFit, benchmark_fit_from_panel
from rating.correlation import cross_correlation_from_panel, mean_correlation_from_panel
from rating.overfitting import (
    effective_number_of_trials,
    expected_max_sharpe,
    pbo_from_panel,
    probabilistic_sharpe_ratio,
    trials_sr_variance,
)
from rating.policy import RatingPolicy
from rating.population import TrialPopulation, validate_extra_trials
from rating.scoring import composite_score, evaluate_gates

__all__ = ["Ratings", "rate", "table_columns"]


def table_columns(policy: RatingPolicy) -> tuple[str, ...]:
    """Columns of ``Ratings.table`` in order (the trailing Sharpe columns follow
    ``policy.windows``)."""
    return (
        *policy.sharpe_columns,
        "sharpe_all",
        "sortino",
        "annual_return",
        "annual_volatility",
        "max_drawdown",
        "calmar",
        "win_rate",
        "profit_factor",
        "recovery_time",
        "time_under_water",
        "sharpe_raw",
        "beta",
        "alpha",
        "corr_benchmark",
        "avg_corr_active",
        "compute_cost",
        "turnover",
        "n_obs",
        "skew",
        "kurtosis",
        "variance_inflation",
        "psr",
        "dsr",
        "health",
        "stale",
        "failed",
        "score",
        "eligible",
        "gate",
        "rank",
    )


@dataclass(frozen=True)
class Ratings:
    """One rating snapshot.

    ``table``: indexed by ``config_id``; columns ``table_columns(policy)``: metrics (float;
    NaN = not computable), ``n_obs`` (int), ``health`` (str, "" if unknown), ``stale``
    (str: why the record is stale, "" when fresh), ``failed``
    (bool), ``score`` (float), ``eligible`` (bool), ``gate`` (str: "" when eligible, else
    the first failed gate's reason) and ``rank`` (int, 1 = best score among all configs).
    With a benchmark (``benchmark == "universe"``) every metric describes the excess
    returns r - β·b except ``sharpe_raw`` (raw returns), ``beta``, ``alpha`` and
    ``corr_benchmark``; without one those three are NaN and ``sharpe_raw`` equals
    ``sharpe_all``.

    Population: ``n_trials`` = N = ``population.total``, every trial counted (evaluated,
    failed, pending, under earlier settings, tuning; ``rating.population``).
    ``population.with_returns`` configs (those with at least ``min_track_record`` bars;
    all configs with ≥ 2 bars if fewer than 2 qualify) estimate ``mean_correlation``
    ρ̄, their average pairwise correlation, and ``sr_variance`` V, the variance of
    their per-period Sharpe ratios under ``policy.sr_variance_method``;
    ``n_trials_effective`` = ρ̄ + (1 - ρ̄)·N and ``sr_benchmark`` = E[max SR] (per
    period) that DSR compares against.
    ``pbo``: probability of backtest overfitting of picking the best in-sample Sharpe
    among the configs with returns (None when not computed or not computable);
    ``pbo_warning`` is True when it exceeds ``policy.pbo_warning``.
    ``correlations``: pairwise correlations (pairwise-complete bars) among the configs
    that selection may pick or keep: the eligible ones and ``active``. Pass the current
    incumbents as ``active`` so that their correlations are known to selection.
    ``benchmark``: "universe" when the table is net of a benchmark, else "none".
    ``notes``: caveats a reader of the snapshot must see (e.g. the policy asked for a
    benchmark but no series was given).
    """

    table: pd.DataFrame
    as_of: datetime | None
    n_trials: int
    n_trials_effective: float
    mean_correlation: float
    sr_variance: float
    sr_benchmark: float
    pbo: float | None
    correlations: pd.DataFrame
    population: TrialPopulation = field(default_factory=TrialPopulation)
    benchmark: str = "none"
    pbo_warning: bool = False
    notes: tuple[str, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        """The table as plain dicts (``config_id`` plus every column, Python scalars)."""
        return [
            {"config_id": str(cid), **{str(k): _plain(v) for k, v in row.items()}}
            for cid, row in zip(self.table.index, self.table.to_dict("records"), strict=True)
        ]

    def summary(self) -> dict[str, Any]:
        """Population-level fields as plain values (``trials_*``: the breakdown of N;
        ``population``: the same in one line for a leaderboard header)."""
        return {
            "as_of": self.as_of,
            "n_configs": len(self.table),
            "n_eligible": int(self.table["eligible"].sum()),
            "n_trials": self.n_trials,
            **{f"trials_{k}": v for k, v in self.population.breakdown().items()},
            "trials_with_returns": self.population.with_returns,
            "population": self.population.describe(),
            "n_trials_effective": self.n_trials_effective,
            "mean_correlation": self.mean_correlation,
            "sr_variance": self.sr_variance,
            "sr_benchmark": self.sr_benchmark,
            "pbo": self.pbo,
            "pbo_warning": self.pbo_warning,
            "benchmark": self.benchmark,
            "notes": "; ".join(self.notes),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _validated_frame(returns: pd.DataFrame, as_of: datetime | None) -> pd.DataFrame:
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(
            f"returns must be a pandas DataFrame (T bars x N configs), got {type(returns).__name__}"
        )
    frame = returns
    if not frame.columns.is_unique:
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ValueError(f"returns has duplicate config ids: {dupes[:5]}")
    if not frame.index.is_monotonic_increasing or not frame.index.is_unique:
        raise ValueError("returns index (bar timestamps) must be sorted and unique")
    if as_of is not None:
        try:
            frame = frame.loc[frame.index <= pd.Timestamp(as_of)]
        except TypeError as exc:
            raise ValueError(
                f"as_of {as_of!r} is not comparable with the returns index "
                f"({frame.index.dtype}): {exc}"
            ) from exc
    return frame


def _as_of_of(frame: pd.DataFrame, as_of: datetime | None) -> datetime | None:
    if as_of is not None:
        return as_of
    if len(frame) and isinstance(frame.index, pd.DatetimeIndex):
        stamp: pd.Timestamp = frame.index[-1]
        return stamp.to_pydatetime()
    return None


def _turnover_metric(
    turnover: pd.DataFrame | None, frame: pd.DataFrame, periods_per_year: int
) -> FloatArray:
    """Mean |position change| per bar × periods_per_year (capital traded per year)."""
    if turnover is None:
        return np.full(frame.shape[1], np.nan)
    aligned = turnover
    if not (turnover.index.equals(frame.index) and turnover.columns.equals(frame.columns)):
        aligned = turnover.reindex(index=frame.index, columns=frame.columns)
    values = aligned.to_numpy(dtype=np.float64, na_value=np.nan).T  # N x T
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    total = np.abs(np.where(finite, values, 0.0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, total / counts, np.nan)
    out: FloatArray = mean * periods_per_year
    return out


def _avg_corr_with(panel: Panel, members: IntArray, min_overlap: int) -> FloatArray:
    """Mean finite correlation of every config with the ``members`` (excluding itself)."""
    n = panel.n_configs
    if members.size == 0:
        return np.full(n, np.nan)
    sub = cross_correlation_from_panel(panel, np.arange(n), members, min_overlap)
    sub[members, np.arange(members.size)] = np.nan
    finite = np.isfinite(sub)
    counts = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(
            counts > 0, np.where(finite, sub, 0.0).sum(axis=1) / counts, np.nan
        )
    return out


def _aligned_benchmark(benchmark: pd.Series, frame: pd.DataFrame) -> FloatArray:
    """The benchmark's value at each row of ``frame`` (NaN where it has none)."""
    if not isinstance(benchmark, pd.Series):
        raise TypeError(
            f"benchmark must be a pandas Series of bar returns, got {type(benchmark).__name__}"
        )
    try:
        aligned = benchmark.reindex(frame.index)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"benchmark index is not comparable with the returns index: {exc}"
        ) from exc
    values = aligned.to_numpy(dtype=np.float64, na_value=np.nan)
    if (
        len(frame)
        and not np.isfinite(values).any()
        and np.isfinite(benchmark.to_numpy(dtype=np.float64, na_value=np.nan)).any()
    ):
        raise ValueError(
            "benchmark has no bar in common with the returns (check the index: same "
            "timestamps and time zone as the returns matrix)"
        )
    return values


def _population(
    ids: list[str],
    failed_set: set[str],
    with_returns: int,
    extra_trials: Mapping[str, int] | None,
) -> TrialPopulation:
    extra = validate_extra_trials(extra_trials)
    in_matrix_failed = sum(c in failed_set for c in ids)
    return TrialPopulation(
        evaluated=len(ids) - in_matrix_failed,
        failed=len(failed_set),
        with_returns=with_returns,
        **extra,
    )


def rate(
    returns: pd.DataFrame,
    *,
    policy: RatingPolicy | None = None,
    active: Collection[str] = (),
    compute_cost: Mapping[str, float] | None = None,
    turnover: pd.DataFrame | None = None,
    health: Mapping[str, str] | None = None,
    stale: Mapping[str, str] | None = None,
    failed: Collection[str] = (),
    as_of: datetime | None = None,
    benchmark: pd.Series | None = None,
    extra_trials: Mapping[str, int] | None = None,
) -> Ratings:
    """Rate every config from its out-of-sample net returns.

    Parameters
    ----------
    returns:
        T x N, index = bar timestamps (sorted, unique), columns = config ids, values = the
        config's net return per bar after costs; NaN before its first out-of-sample bar
        (or for any bar it has no result for).
    policy:
        Parameters (defaults: ``RatingPolicy()``).
    active:
        Ids of the current live set (the incumbents): for ``avg_corr_active``, and their
        correlations with candidates are kept in ``Ratings.correlations`` for selection.
    compute_cost:
        Seconds of fit + predict per prediction, by config id (missing → NaN).
    turnover:
        |change of position| per bar, same shape as ``returns`` (optional).
    health:
        Health status by config id ("green" / "yellow" / "red", see ``rating.health``);
        "red" fails a gate.
    stale:
        Why a config's record is stale, by config id (e.g. "not in the current plan",
        "evaluation lags the last bar by 7 bars"); a listed config fails the freshness
        gate with that reason. The caller decides what is stale (``factory.monitor``).
    failed:
        Ids of configs whose evaluation failed; they fail a gate and count as trials in
        N (also when they have no column in ``returns``).
    as_of:
        Rate as of this time: only rows with index <= as_of are used (point in time).
        Defaults to the last bar's timestamp. Never read from a clock.
    benchmark:
        Per-bar returns of the benchmark (the equal-weight universe,
        ``rating.benchmark.universe_returns``), aligned to ``returns`` by index. With
        ``policy.benchmark == "universe"`` every config is rated on r - β·b; with
        ``"none"`` it is rated on r and the series only fills ``beta``, ``alpha`` and
        ``corr_benchmark``. If the policy asks for "universe" and no series is given,
        raw returns are rated and ``Ratings.notes`` says so.
    extra_trials:
        Trials without a column in ``returns``, by source: ``pending`` (planned, not yet
        evaluated), ``earlier_settings`` (evaluated under settings since changed),
        ``tuning`` (tuning trials). They raise N behind E[max SR]
        (``rating.population``).
    """
    policy = policy if policy is not None else RatingPolicy()
    frame = _validated_frame(returns, as_of)
    ids = [str(c) for c in frame.columns]
    if len(set(ids)) != len(ids):
        raise ValueError("config ids must be unique after conversion to str")
    position = {cid: i for i, cid in enumerate(ids)}
    raw = Panel.from_bars_by_configs(frame.to_numpy(dtype=np.float64, na_value=np.nan))
    ppy = policy.periods_per_year

    notes: list[str] = []
    fit: BenchmarkFit | None = None
    if benchmark is not None:
        fit = benchmark_fit_from_panel(raw, _aligned_benchmark(benchmark, frame))
    elif policy.benchmark == "universe":
        notes.append(
            "policy benchmark 'universe' but no benchmark series given: rated on raw "
            "returns, so market drift counts as skill"
        )
    net_of_market = fit is not None and policy.benchmark == "universe"
    panel = fit.excess if (fit is not None and net_of_market) else raw

    cols: dict[str, Any] = {}
    for window, name in zip(policy.windows, policy.sharpe_columns, strict=True):
        cols[name] = m.trailing_sharpe_from_panel(panel, window, ppy)
    cols["sharpe_all"] = m.sharpe_from_panel(panel, ppy)
    cols["sortino"] = m.sortino_from_panel(panel, ppy)
    cols["annual_return"] = m.annual_return_from_panel(panel, ppy)
    cols["annual_volatility"] = m.annual_volatility_from_panel(panel, ppy)
    cols["max_drawdown"] = m.max_drawdown_from_panel(panel)
    cols["calmar"] = m.calmar_from_panel(panel, ppy)
    cols["win_rate"] = m.win_rate_from_panel(panel)
    cols["profit_factor"] = m.profit_factor_from_panel(panel)
    cols["recovery_time"] = m.recovery_time_from_panel(panel)
    cols["time_under_water"] = m.time_under_water_from_panel(panel)
    cols["sharpe_raw"] = (
        m.sharpe_from_panel(raw, ppy) if panel is not raw else cols["sharpe_all"].copy()
    )
    nan = np.full(len(ids), np.nan)
    cols["beta"] = fit.beta if fit is not None else nan.copy()
    cols["alpha"] = fit.excess.mean * ppy if fit is not None else nan.copy()
    cols["corr_benchmark"] = fit.corr if fit is not None else nan.copy()

    active_idx = np.array(sorted({position[a] for a in active if a in position}), dtype=np.int64)
    cols["avg_corr_active"] = _avg_corr_with(panel, active_idx, policy.min_overlap)
    cost = compute_cost or {}
    cols["compute_cost"] = np.array([float(cost.get(c, np.nan)) for c in ids], dtype=np.float64)
    cols["turnover"] = _turnover_metric(turnover, frame, ppy)
    cols["n_obs"] = panel.n_obs
    cols["skew"] = panel.skew
    cols["kurtosis"] = panel.kurtosis
    inflation = (
        variance_inflation_from_panel(panel)
        if policy.sr_autocorrelation == "adjust"
        else np.ones(len(ids))
    )
    cols["variance_inflation"] = np.where(panel.n_obs >= 2, inflation, np.nan)

    # Multiple-testing population and the deflated Sharpe ratio (per-period SR).
    with np.errstate(invalid="ignore", divide="ignore"):
        sr = np.where(panel.std > 0, panel.mean / panel.std, np.nan)
    members = (panel.n_obs >= policy.min_track_record) & np.isfinite(sr)
    if members.sum() < 2:
        members = (panel.n_obs >= 2) & np.isfinite(sr)
    n_members = int(members.sum())
    failed_set = {str(f) for f in failed}
    population = _population(ids, failed_set, n_members, extra_trials)
    n_trials = population.total
    mean_corr = mean_correlation_from_panel(panel, members) if n_members >= 2 else 0.0
    n_eff = effective_number_of_trials(n_trials, mean_corr)
    sr_variance = (
        trials_sr_variance(
            sr[members], panel.n_obs[members], policy.sr_variance_method, inflation[members]
        )
        if n_members >= 1
        else 0.0
    )
    sr0 = float(expected_max_sharpe(n_eff, sr_variance))
    moments = (panel.n_obs, panel.skew, panel.kurtosis)
    cols["psr"] = probabilistic_sharpe_ratio(sr, *moments, 0.0, inflation)
    cols["dsr"] = probabilistic_sharpe_ratio(sr, *moments, sr0, inflation)

    pbo: float | None = None
    if policy.compute_pbo and n_members >= 2 and panel.n_bars >= 2 * policy.pbo_partitions:
        result = pbo_from_panel(
            panel.select(members), policy.pbo_partitions, policy.pbo_max_combinations
        )
        pbo = None if np.isnan(result.pbo) else result.pbo

    health_map = health or {}
    cols["health"] = pd.array([str(health_map.get(c, "")) for c in ids], dtype=str)
    stale_map = stale or {}
    cols["stale"] = pd.array([str(stale_map.get(c, "")) for c in ids], dtype=str)
    cols["failed"] = np.array([c in failed_set for c in ids], dtype=bool)

    index = pd.Index(ids, name="config_id", dtype=object)
    table = pd.DataFrame(cols, index=index)
    table["score"] = composite_score(table, policy)
    codes, reasons = evaluate_gates(table, policy)
    table["eligible"] = (codes == "").to_numpy(dtype=bool)
    table["gate"] = reasons.astype(str)
    score = table["score"].to_numpy(dtype=np.float64)
    order = np.lexsort((np.array(ids, dtype=str), -np.nan_to_num(score, nan=-np.inf)))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(1, len(ids) + 1)
    table["rank"] = rank
    table = table.loc[:, list(table_columns(policy))]

    # Correlations among the configs selection may pick or keep: eligible and active.
    candidates = np.flatnonzero(
        table["eligible"].to_numpy() | np.isin(np.arange(len(ids)), active_idx)
    )
    corr = cross_correlation_from_panel(panel, candidates, candidates, policy.min_overlap)
    candidate_index = pd.Index([ids[i] for i in candidates], name="config_id", dtype=object)

    return Ratings(
        table=table,
        as_of=_as_of_of(frame, as_of),
        n_trials=n_trials,
        n_trials_effective=float(n_eff),
        mean_correlation=float(mean_corr),
        sr_variance=sr_variance,
        sr_benchmark=sr0,
        pbo=pbo,
        correlations=pd.DataFrame(corr, index=candidate_index, columns=candidate_index.copy()),
        population=population,
        benchmark="universe" if net_of_market else "none",
        pbo_warning=pbo is not None and pbo > policy.pbo_warning,
        notes=tuple(notes),
    )
