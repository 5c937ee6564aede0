"""The live portfolio at the edges: the rebalance's inputs read from storage, and the
live book's own track record.

The book is booked by the ledger every config's backtest uses
(:func:`factory.book.ledger.step`: the configured execution timing, weights drifting with
prices, turnover to the new target, costs from the cost model), one bar at a time from
the bar after the last booked one to the rebalance's bar, so what ``book_returns`` holds
is what the published rebalances earned after costs — the factory's own P&L.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from factory import catalog
from factory.app import App
from factory.book.ledger import LedgerState, step
from factory.portfolio.construct import TargetPortfolio, build_portfolio
from factory.portfolio.ensemble import (
    equal_weights,
    inverse_vol_weights,
    score_weights,
    stacked_weights,
)
from factory.portfolio.risk import shrunk_covariance
from factory.storage import decisions
from factory.storage.live_book import load_book_returns, load_position, prices_between, save_booking
from factory.storage.results import load_returns, signals_between


def member_weights(
    app: App,
    cycle: decisions.CycleInfo,
    members: Sequence[str],
    closes: pd.DataFrame,
) -> pd.Series:
    """The ``[portfolio] ensemble`` weights of ``members`` (see `factory.portfolio.ensemble`).
    ``closes``: trailing closes (bars x assets) ending at the rebalance's bar."""
    p = app.settings.portfolio
    members = list(members)
    if p.ensemble == "score":
        table = decisions.cycle_decisions(app.db, cycle.id)
        scores = table.set_index("config_id")["score"] if not table.empty else pd.Series()
        return score_weights(scores.astype(float), members)
    if p.ensemble == "inverse_vol":
        returns = load_returns(app.db, ids=members)
        return inverse_vol_weights(returns, members, window=p.ensemble_window)
    if p.ensemble == "stacked":
        # Fitted at the promotion cycle: only labels known by the cycle's time are used.
        cutoff = min(pd.Timestamp(cycle.at), closes.index.max()) if len(closes) else None
        if cutoff is None:
            return equal_weights(members)
        past = closes.loc[:cutoff]
        forward = (past.shift(-1) / past - 1.0).iloc[:-1]
        if forward.empty:
            return equal_weights(members)
        signals = signals_between(
            app.db, start=forward.index.min(), end=forward.index.max(), ids=members
        )
        return stacked_weights(signals, forward, members, alpha=p.stack_alpha)
    return equal_weights(members)


def plan_rebalance(
    app: App,
    cycle: decisions.CycleInfo,
    bar_ts: datetime,
    signals: pd.DataFrame,
    previous: pd.Series | None,
) -> TargetPortfolio:
    """The target portfolio for ``bar_ts`` from the members' ``signals`` (members x
    assets): ensemble weights, the configured book over the assets with a bar now, and the
    risk limits. Reads only data at or before ``bar_ts``."""
    settings = app.settings
    p = settings.portfolio
    # The universe: the configured assets, or else every asset a member has a view on or
    # the book still holds; of those, the ones with a bar now.
    assets = settings.data.assets or sorted(
        set(signals.columns) | set(previous.index if previous is not None else ())
    )
    window = max(p.cov_window, p.ensemble_window)
    closes, _ = prices_between(
        app.db, sorted(set(assets) | set(signals.columns)), bar_ts, bar_ts, window
    )
    universe = [a for a in assets if a in closes.columns and np.isfinite(closes[a].iloc[-1])]
    weights = member_weights(app, cycle, list(signals.index), closes) if not signals.empty else None
    covariance = None
    if p.vol_target is not None and len(closes) > 2:
        returns = closes.pct_change(fill_method=None).iloc[1:]
        covariance = shrunk_covariance(returns, window=p.cov_window, min_obs=min(60, p.cov_window))
    return build_portfolio(
        signals,
        book=catalog.book_spec(settings),
        limits=catalog.risk_limits(settings),
        member_weights=weights,
        universe=universe or None,
        previous=previous,
        covariance=covariance,
    )


# -- the book's track record -----------------------------------------------------------------
@dataclass(frozen=True)
class Booking:
    bars: int  # bars booked by this call
    net: float  # their compounded after-cost return


def book_rebalance(app: App, bar_ts: datetime, weights: pd.Series, rebalance_id: int) -> Booking:
    """Advance the live book to ``bar_ts`` and give it ``weights`` as the new target.

    Bars after the last booked one are booked with no new decision (the previous target
    executes per the execution timing and drifts); ``bar_ts`` carries the new target. A
    forced re-run of the last booked bar re-books it from the state before it; a
    rebalance older than the last booked bar changes nothing (booked bars are final)."""
    settings = app.settings
    ev = settings.evaluation
    position = load_position(app.db)
    state: LedgerState | None
    after: datetime | None
    if position is None:
        state, after = None, None
    elif position.last_bar == bar_ts:
        state, after = position.before_state, position.before_bar
    elif position.last_bar > bar_ts:
        return Booking(0, 0.0)
    else:
        state, after = position.state, position.last_bar
    held = [] if state is None else list(state.assets)
    assets = sorted(set(held) | {str(a) for a in weights.index})
    cost_model = catalog.cost_model(settings)
    closes, opens = prices_between(app.db, assets, after, bar_ts, cost_model.vol_window + 1)
    rates = pd.DataFrame(
        cost_model.rates(assets, closes.to_numpy(dtype=np.float64)),
        index=closes.index,
        columns=assets,
    )
    new_bars = closes.index[closes.index > pd.Timestamp(after)] if after else closes.index[-1:]
    before = LedgerState.empty(assets) if state is None else state.reindex(assets)
    current = before
    target = weights.reindex(assets).fillna(0.0).to_numpy(dtype=np.float64)
    rows = []
    growth = 1.0
    for ts in new_bars:
        last = ts == new_bars[-1]
        row, current = step(
            current,
            close=closes.loc[ts].to_numpy(dtype=np.float64),
            open_=opens.loc[ts].to_numpy(dtype=np.float64),
            cost=rates.loc[ts].to_numpy(dtype=np.float64),
            target=target if last else None,
            execution=ev.execution,
            max_gap=ev.max_gap_bars,
        )
        growth *= 1.0 + row.net
        rows.append(
            {
                "bar_ts": ts.to_pydatetime(),
                "rebalance_id": rebalance_id if last else None,
                "gross": row.gross,
                "turnover": row.turnover,
                "cost": row.cost,
                "net": row.net,
                "at": app.now(),
            }
        )
    save_booking(
        app.db,
        rows,
        last_bar=bar_ts,
        state=current,
        before_bar=after,
        before_state=state,
    )
    return Booking(len(rows), growth - 1.0)


def ensure_booked(app: App, rebalance: decisions.RebalanceInfo) -> Booking:
    """Book ``rebalance`` if the book has not reached its bar (a run that stopped between
    writing the rebalance and booking it); otherwise change nothing."""
    position = load_position(app.db)
    if position is not None and position.last_bar >= rebalance.bar_ts:
        return Booking(0, 0.0)
    weights = pd.Series(rebalance.weights, dtype=float)
    return book_rebalance(app, rebalance.bar_ts, weights, rebalance.id)


@dataclass(frozen=True)
class BookSummary:
    """The live book's after-cost record (the factory's own P&L)."""

    bars: int
    first: datetime
    last: datetime
    total_return: float
    annual_return: float
    annual_vol: float
    sharpe: float | None
    max_drawdown: float
    mean_turnover: float
    total_cost: float


def book_summary(app: App) -> BookSummary | None:
    frame = load_book_returns(app.db)
    if frame.empty:
        return None
    net = frame["net"].to_numpy(dtype=np.float64)
    ppy = app.settings.rating.periods_per_year
    wealth = np.cumprod(1.0 + net)
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    sd = float(net.std(ddof=1)) if net.size > 1 else 0.0
    return BookSummary(
        bars=int(net.size),
        first=frame["bar_ts"].iloc[0].to_pydatetime(),
        last=frame["bar_ts"].iloc[-1].to_pydatetime(),
        total_return=float(wealth[-1] - 1.0),
        annual_return=float(wealth[-1] ** (ppy / net.size) - 1.0) if wealth[-1] > 0 else -1.0,
        annual_vol=sd * float(np.sqrt(ppy)),
        sharpe=float(net.mean() / sd * np.sqrt(ppy)) if sd > 0 else None,
        max_drawdown=float((wealth / peak - 1.0).min()),
        mean_turnover=float(frame["turnover"].mean()),
        total_cost=float(frame["cost"].sum()),
    )
