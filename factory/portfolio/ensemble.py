"""How the live set's signals are combined into one view per asset (pure functions).

Each member config gets a weight (they sum to 1); per asset the ensemble signal is the
weighted mean of the signals of the members that have a view on it — a member without
a view does not vote, and the others' weights are renormalised over those that do.

Member weights (``[portfolio] ensemble``):

``equal``        1/K each.
``score``        proportional to the member's composite score at promotion (scores at
                 or below zero get nothing; all at or below zero -> equal).
``inverse_vol``  proportional to 1 / the standard deviation of the member's own
                 after-cost returns over the trailing ``window`` bars (members with too
                 short a record get the mean weight of the others).
``stacked``      a ridge meta-model: the next-bar asset return regressed on the members'
                 past out-of-sample signals, pooled over assets and bars, with
                 non-negative coefficients and no intercept (scikit-learn
                 ``Ridge(positive=True)``); the coefficients, normalised to sum 1, are the
                 weights. Fitted only on bars whose next return is known at the fitting
                 time (the promotion cycle), so it never sees a label from the future.
                 All coefficients zero (no member forecasts anything) -> equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

EnsembleMethod = Literal["equal", "score", "inverse_vol", "stacked"]
ENSEMBLE_METHODS: tuple[EnsembleMethod, ...] = ("equal", "score", "inverse_vol", "stacked")


def normalise(weights: pd.Series, members: Sequence[str]) -> pd.Series:
    """``weights`` over ``members`` (missing -> 0), clipped at 0 and summing to 1; equal
    weights when nothing positive is left."""
    w = weights.reindex(list(members)).astype(float).fillna(0.0).clip(lower=0.0)
    total = float(w.sum())
    if not np.isfinite(total) or total <= 0:
        return pd.Series(1.0 / len(members), index=list(members)) if members else w
    return w / total


def equal_weights(members: Sequence[str]) -> pd.Series:
    return normalise(pd.Series(1.0, index=list(members)), members)


def score_weights(scores: pd.Series, members: Sequence[str]) -> pd.Series:
    return normalise(scores, members)


def inverse_vol_weights(
    returns: pd.DataFrame, members: Sequence[str], *, window: int = 63, min_obs: int = 20
) -> pd.Series:
    """``returns``: bars x configs of after-cost returns (NaN = no return that bar)."""
    tail = returns.reindex(columns=list(members)).tail(window)
    counts = tail.notna().sum()
    sd = tail.std(ddof=1).where(counts >= min_obs)
    inv = 1.0 / sd.where(sd > 0)
    if inv.notna().any():
        inv = inv.fillna(float(inv.mean()))
    return normalise(inv, members)


def stacked_weights(
    signals: pd.DataFrame,
    forward_returns: pd.DataFrame,
    members: Sequence[str],
    *,
    alpha: float = 1.0,
    min_rows: int = 30,
) -> pd.Series:
    """Ridge meta-model weights (see the module docstring).

    ``signals``: long frame with columns ``config_id, asset, ts, signal`` (past
    out-of-sample signals); ``forward_returns``: bars x assets, the return from each bar
    to the next — only rows whose next bar is already known may be passed in.
    """
    from sklearn.linear_model import Ridge

    members = list(members)
    if signals.empty or forward_returns.empty or not members:
        return equal_weights(members)
    wide = signals[signals["config_id"].isin(members)].pivot_table(
        index=["ts", "asset"], columns="config_id", values="signal", aggfunc="last"
    )
    long = forward_returns.rename_axis(index="ts", columns="asset").reset_index()
    y = long.melt(id_vars="ts", var_name="asset", value_name="y").set_index(["ts", "asset"])
    joined = wide.reindex(columns=members).join(y, how="inner").dropna(subset=["y"])
    x = joined[members].fillna(0.0).to_numpy(dtype=np.float64)
    if len(joined) < min_rows or not np.any(x):
        return equal_weights(members)
    model = Ridge(alpha=alpha, fit_intercept=False, positive=True)
    model.fit(x, joined["y"].to_numpy(dtype=np.float64))
    return normalise(pd.Series(model.coef_, index=members), members)


def ensemble_signals(signals: pd.DataFrame, weights: pd.Series | None = None) -> pd.Series:
    """``signals``: configs x assets (NaN = no view). Per asset, the ``weights``-weighted
    mean over the configs with a view (equal weights when ``weights`` is None); assets
    without any vote are dropped."""
    if signals.empty:
        return pd.Series(dtype=float)
    if weights is None:
        return signals.mean(axis=0, skipna=True).dropna()
    w = weights.reindex(signals.index).fillna(0.0).to_numpy(dtype=np.float64)[:, None]
    values = signals.to_numpy(dtype=np.float64)
    votes = np.isfinite(values)
    num = np.where(votes, values, 0.0) * w
    den = np.where(votes, w, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ens = np.where(den > 0, num.sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)
    # A member with weight 0 still "has a view"; an asset only it covers stays without one.
    return pd.Series(ens, index=signals.columns).dropna()
