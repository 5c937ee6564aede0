"""Metrics of a strategy's bar returns, whole period, by calendar year and by regime.

The same formulas as the leaderboard (``rating.metrics``; docs/metrics.md): Sharpe and
Sortino annualised with ``periods_per_year``, compounded annual return, maximum drawdown
as a negative fraction, win rate among non-zero bars; ``turnover`` is the mean traded
capital per bar (sum of |weight changes|) times ``periods_per_year``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from factory.book.benchmark import universe_returns
from factory.review.regimes import REGIMES, volatility_regimes
from factory.review.simulate import Market, Pool, Replay, ReplayOptions
from rating import metrics as m
from rating.autocorrelation import variance_inflation
from rating.benchmark import excess_returns
from rating.engine import Ratings
from rating.overfitting import probabilistic_sharpe_ratio
from rating.policy import RatingPolicy

METRICS = (
    "sharpe",
    "sortino",
    "annual_return",
    "annual_volatility",
    "max_drawdown",
    "calmar",
    "win_rate",
    "turnover",
    "n_bars",
)


# The strategies of a simulation, in the order tables and charts show them.
STRATEGY_ORDER = (
    "factory",
    "equal_weight_all",
    "best_static",
    "naive_top_k",
    "random_k",
    "buy_and_hold",
)


def _scalar(value: object) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def strategy_metrics(
    net: np.ndarray, turnover: np.ndarray, periods_per_year: int = 252
) -> dict[str, float | int]:
    """The nine metrics of one series of bar returns (NaN where not computable)."""
    r = np.asarray(net, dtype=np.float64)
    t = np.asarray(turnover, dtype=np.float64)
    n = int(r.size)
    if n == 0:
        return {k: (0 if k == "n_bars" else float("nan")) for k in METRICS}
    return {
        "sharpe": _scalar(m.sharpe_ratio(r, periods_per_year)),
        "sortino": _scalar(m.sortino_ratio(r, periods_per_year)),
        "annual_return": _scalar(m.annual_return(r, periods_per_year)),
        "annual_volatility": _scalar(m.annual_volatility(r, periods_per_year)),
        "max_drawdown": _scalar(m.max_drawdown(r)),
        "calmar": _scalar(m.calmar_ratio(r, periods_per_year)),
        "win_rate": _scalar(m.win_rate(r)),
        "turnover": float(np.nanmean(t) * periods_per_year) if t.size else float("nan"),
        "n_bars": n,
    }


def mean_and_spread(
    runs: Sequence[Mapping[str, float | int]],
) -> tuple[dict[str, float | int], dict[str, float]]:
    """Per metric: the mean over runs (seeds) and the spread (sample std, 0 for one run)."""
    mean: dict[str, float | int] = {}
    spread: dict[str, float] = {}
    for k in METRICS:
        values = np.array([float(r[k]) for r in runs], dtype=np.float64)
        finite = values[np.isfinite(values)]
        if k == "n_bars":
            mean[k] = int(values[0]) if values.size else 0
            spread[k] = 0.0
            continue
        mean[k] = float(finite.mean()) if finite.size else float("nan")
        spread[k] = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return mean, spread


def grouped(
    labels: pd.Series,
    series: Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]],
    periods_per_year: int = 252,
    keys: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{label: {strategy: metrics}}`` over the bars of each label (``labels``: one per
    bar; "" = unlabelled, skipped). ``series``: strategy -> runs of (net, turnover), the
    metrics of several runs (seeds) averaged."""
    values = labels.to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for label in keys if keys is not None else sorted({str(v) for v in values if v != ""}):
        mask = values == label
        out[label] = {
            name: mean_and_spread(
                [strategy_metrics(net[mask], turn[mask], periods_per_year) for net, turn in runs]
            )[0]
            for name, runs in series.items()
        }
    return out


# -- the `factory simulate --format json` payload ------------------------------------------
def strategy_series(replay: Replay) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Strategy -> runs of (net, turnover) over the simulated bars after the first (the
    first bar only takes the initial decisions; nothing is held before it)."""
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
        "factory": [(replay.factory.net[1:], replay.factory.turnover[1:])]
    }
    for name in ("equal_weight_all", "best_static", "naive_top_k"):
        if name in replay.baselines:
            run = replay.baselines[name]
            out[name] = [(run.net[1:], run.turnover[1:])]
    if replay.random_runs:
        out["random_k"] = [(r.net[1:], r.turnover[1:]) for r in replay.random_runs]
    hold = replay.baselines["buy_and_hold"]
    out["buy_and_hold"] = [(hold.net[1:], hold.turnover[1:])]
    return out


def _range(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {
        "min": float(finite.min()),
        "median": float(np.median(finite)),
        "max": float(finite.max()),
    }


def factory_deflated_sharpe(
    net: np.ndarray,
    index: pd.DatetimeIndex,
    ratings: Ratings | None,
    benchmark: pd.Series | None,
    policy: RatingPolicy,
) -> float:
    """DSR of the factory's own bar returns: P(true Sharpe > SR0), SR0 = the expected best
    Sharpe of the pool's trials under no skill (``Ratings.sr_benchmark``), on returns net
    of β x the universe when the policy rates net of it (as every config is rated). A
    factory that never held a position counts as Sharpe 0 (no evidence of skill)."""
    if ratings is None:
        return float("nan")
    raw = np.asarray(net, dtype=np.float64)
    if raw.size >= 2 and np.all(np.nan_to_num(raw) == 0.0):
        # Never invested: no return, no evidence of skill (Sharpe 0 in the statistic).
        return float(
            np.asarray(probabilistic_sharpe_ratio(0.0, raw.size, 0.0, 3.0, ratings.sr_benchmark))
        )
    series = pd.Series(raw, index=index)
    if benchmark is not None and policy.benchmark == "universe":
        series = excess_returns(series.to_frame("factory"), benchmark)["factory"]
    r = series.to_numpy(dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2 or not np.std(r) > 0:
        return float("nan")
    sr = float(np.mean(r) / np.std(r, ddof=1))
    inflation = (
        float(np.asarray(variance_inflation(r))) if policy.sr_autocorrelation == "adjust" else 1.0
    )
    if not np.isfinite(inflation):
        inflation = 1.0
    return float(
        np.asarray(
            probabilistic_sharpe_ratio(
                sr,
                r.size,
                _scalar(m.skewness(r)),
                _scalar(m.kurtosis(r)),
                ratings.sr_benchmark,
                inflation,
            )
        )
    )


def simulation_payload(
    replay: Replay, market: Market, pool: Pool, options: ReplayOptions
) -> dict[str, Any]:
    """The ``factory simulate --format json`` object (schema in docs/user-guide.md)."""
    policy = options.policy
    ppy = policy.periods_per_year
    series = strategy_series(replay)
    strategies: dict[str, Any] = {}
    random_spread: dict[str, float] = {}
    for name, runs in series.items():
        mean, spread = mean_and_spread([strategy_metrics(n, t, ppy) for n, t in runs])
        strategies[name] = mean
        if name == "random_k":
            random_spread = spread
    index = replay.index[1:]
    period = pool.returns.loc[
        (pool.returns.index >= replay.index[0]) & (pool.returns.index <= replay.index[-1])
    ]
    evaluated = [c for c in period.columns if c not in set(pool.failed)]
    values = period[evaluated].to_numpy(dtype=np.float64, na_value=np.nan)
    has = np.isfinite(values).sum(axis=0) >= 2
    pool_sharpe = np.asarray(m.sharpe_ratio(values[:, has], ppy), dtype=np.float64).reshape(-1)
    pool_win = np.asarray(m.win_rate(values[:, has]), dtype=np.float64).reshape(-1)
    members = replay.factory.members
    assert members is not None
    n_active = members.sum(axis=1)
    gross = np.abs(replay.factory.weights).sum(axis=1)
    universe = _universe(market, options)
    regimes = volatility_regimes(universe).reindex(replay.index).fillna("")
    years = pd.Series([str(y) for y in index.year], index=index)
    final = replay.final_ratings
    return {
        "start": replay.index[0],
        "end": replay.index[-1],
        "strategies": strategies,
        "random_k_spread": {"seeds": len(replay.random_runs), **random_spread},
        "best_static_config": replay.best_static,
        "configs_evaluated": len(evaluated),
        "promotion_cycles": len(replay.cycles),
        "mean_active": float(n_active.mean()) if n_active.size else 0.0,
        "bars_in_cash": int((gross == 0).sum()),
        "pool": {"sharpe": _range(pool_sharpe), "win_rate": _range(pool_win)},
        "factory_deflated_sharpe": factory_deflated_sharpe(
            replay.factory.net[1:], index, final, pool.benchmark, policy
        ),
        "pool_pbo": None if final is None else final.pbo,
        "by_year": grouped(years, series, ppy),
        "by_regime": grouped(regimes.iloc[1:], series, ppy, keys=REGIMES),
    }


def _universe(market: Market, options: ReplayOptions) -> pd.Series:
    close = pd.DataFrame(market.close, index=market.index, columns=list(market.assets))
    opens = (
        None
        if market.open is None
        else pd.DataFrame(market.open, index=market.index, columns=list(market.assets))
    )
    return universe_returns(
        close, open_=opens, execution=options.execution, max_gap=options.max_gap
    )
