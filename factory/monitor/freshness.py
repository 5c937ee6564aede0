"""Freshness (pure): a config is stale when it has left the current plan, or when its
latest out-of-sample return lags the last bar by more than ``[rating] max_lag_bars``
bars. A stale config fails the rating's freshness gate (``rating.rate(stale=...)``), so
it is neither promoted nor kept: before this gate such configs kept being rated on old
returns while the rebalance silently dropped them for want of a current signal."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

import pandas as pd

NOT_IN_PLAN = "not in the current plan"


def lag_in_bars(last_return: datetime | pd.Timestamp | None, bars: pd.DatetimeIndex) -> int:
    """Bars of ``bars`` after ``last_return`` (all of them when None)."""
    if last_return is None or pd.isna(last_return):
        return len(bars)
    return int(len(bars) - bars.searchsorted(pd.Timestamp(last_return), side="right"))


def stale_configs(
    last_return: Mapping[str, datetime | pd.Timestamp | None],
    bars: pd.DatetimeIndex,
    planned: Collection[str],
    max_lag_bars: int,
) -> dict[str, str]:
    """Why each stale config is stale, by id (fresh ones are absent).

    ``last_return``: each rated config's latest bar with a return; ``bars``: the stored
    bar timestamps (sorted); ``planned``: ids of the current plan.
    """
    plan = set(planned)
    out: dict[str, str] = {}
    for cid, last in last_return.items():
        if cid not in plan:
            out[cid] = NOT_IN_PLAN
            continue
        lag = lag_in_bars(last, bars)
        if lag > max_lag_bars:
            when = (
                "no return yet"
                if last is None or pd.isna(last)
                else f"last return {last:%Y-%m-%d %H:%M}"
            )
            out[cid] = (
                f"evaluation lags the last bar by {lag} bars > max_lag_bars {max_lag_bars} ({when})"
            )
    return out


def last_returns(returns: pd.DataFrame) -> dict[str, pd.Timestamp | None]:
    """Each column's latest index with a finite value (None when it has none)."""
    index = pd.DatetimeIndex(returns.index)
    out: dict[str, pd.Timestamp | None] = {}
    for cid in returns.columns:
        have = index[returns[cid].notna().to_numpy()]
        out[str(cid)] = have[-1] if len(have) else None
    return out
