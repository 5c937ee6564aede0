"""Read what a replay needs from the database: the stored out-of-sample record of every
config (returns, turnover, signals), the bars, the costs and the rating inputs shared with
``factory rate`` (:func:`factory.jobs.rating_context`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from factory import catalog
from factory.app import App
from factory.jobs import NothingToDo, RatingContext, rating_context
from factory.review.simulate import Market, Pool, ReplayOptions, default_start
from factory.storage.results import signals_between


@dataclass(frozen=True, eq=False)
class History:
    market: Market
    pool: Pool
    options: ReplayOptions
    start: pd.Timestamp
    end: pd.Timestamp
    context: RatingContext


def _bound(value: datetime | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def load_history(app: App, start: datetime | None = None, end: datetime | None = None) -> History:
    """The inputs of :func:`factory.review.simulate.run_replay` over [start, end].

    ``start`` defaults to the first bar at which some config has ``min_track_record``
    out-of-sample returns, ``end`` to the last bar with returns. Raises
    :class:`NothingToDo` when nothing has been evaluated or the period is empty.
    """
    # Retired configs included: in the past they were part of the pool (no survivorship bias).
    ctx = rating_context(app, include_retired=True)
    settings = app.settings
    params = catalog.eval_params(settings)
    policy = ctx.policy
    returns = ctx.returns.sort_index(axis=1)
    if returns.dropna(how="all").empty:
        raise NothingToDo("no stored out-of-sample returns yet: run `factory evaluate` first")
    panel = ctx.data.panel()
    close = panel["close"]
    assets = tuple(str(a) for a in close.columns)
    index = pd.DatetimeIndex(close.index)
    first = default_start(returns, policy)
    start_ts = _bound(start) or first
    if start_ts is None:
        raise NothingToDo(
            f"no config has {policy.min_track_record} out-of-sample bars yet "
            "([rating] min_track_record): pass --start to simulate anyway"
        )
    last = returns.dropna(how="all").index[-1]
    end_ts = _bound(end) or pd.Timestamp(last)
    sim = index[(index >= start_ts) & (index <= end_ts)]
    if len(sim) < 2:
        raise NothingToDo(
            f"the period {start_ts:%Y-%m-%d} to {end_ts:%Y-%m-%d} holds {len(sim)} bar(s) "
            "of data; a simulation needs at least 2"
        )
    ids = [str(c) for c in returns.columns]
    long = signals_between(app.db, sim[0].to_pydatetime(), sim[-1].to_pydatetime(), ids)
    signals = np.full((len(sim), len(ids), len(assets)), np.nan, dtype=np.float32)
    if not long.empty:
        b = sim.get_indexer(pd.DatetimeIndex(long["ts"]))
        k = pd.Index(ids).get_indexer(pd.Index(long["config_id"].astype(str)))
        a = pd.Index(assets).get_indexer(pd.Index(long["asset"].astype(str)))
        ok = (b >= 0) & (k >= 0) & (a >= 0)
        signals[b[ok], k[ok], a[ok]] = long["signal"].to_numpy(dtype=np.float32)[ok]
    opens = (
        panel["open"].reindex_like(close).to_numpy(dtype=np.float64) if "open" in panel else None
    )
    close_values = close.to_numpy(dtype=np.float64)
    market = Market(
        index=index,
        assets=assets,
        close=close_values,
        cost=catalog.cost_model(settings).rates(assets, close_values),
        open=opens,
    )
    pool = Pool(
        returns=returns,
        signals=signals,
        turnover=ctx.turnover.reindex(index=returns.index, columns=returns.columns),
        failed=ctx.failed,
        compute_cost=ctx.compute_cost,
        extra_trials=ctx.extra_trials,
        benchmark=ctx.benchmark,
    )
    options = ReplayOptions(
        policy=policy,
        gross_limit=settings.portfolio.gross_limit,
        max_weight=settings.portfolio.max_weight,
        book=catalog.book_spec(settings),
        limits=catalog.risk_limits(settings),
        cov_window=settings.portfolio.cov_window,
        execution=params.execution,
        max_gap=params.max_gap_bars,
        seed=settings.evaluation.seed,
    )
    return History(market, pool, options, pd.Timestamp(sim[0]), pd.Timestamp(sim[-1]), ctx)
