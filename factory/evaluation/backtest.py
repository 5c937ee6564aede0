"""Positions to net returns after costs.

Timing: the position decided at bar t earns the return from t to t+1; the result is
stamped at bar t+1, where it is realised. Costs are charged on the change of position::

    w[t, a]   = signal[t, a] / n_t          (equal weight over the n_t assets with a signal)
    gross[t+1] = sum_a w[t, a] * (close[t+1, a] / close[t, a] - 1)
    turnover[t+1] = sum_a |w[t, a] - w[t-1, a]|
    net[t+1]  = gross[t+1] - cost_bps / 1e4 * turnover[t+1]

Before the first signal the portfolio is flat (w = 0), so the first entry pays its cost.
An asset without a next bar (missing price) contributes 0 to the gross return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PnL:
    """Per realised bar (aligned with bars ``first + 1 .. T - 1``)."""

    weights: np.ndarray  # T' x N, the weights held from bar t to t+1
    gross: np.ndarray
    turnover: np.ndarray
    net: np.ndarray


def next_returns(close: np.ndarray) -> np.ndarray:
    """``close[t+1] / close[t] - 1``; the last row is NaN."""
    out = np.full_like(close, np.nan, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:-1] = close[1:] / close[:-1] - 1.0
    return out


def equal_weights(signals: np.ndarray) -> np.ndarray:
    """Signals (NaN = no view) to weights: signal / number of assets with a view."""
    has = np.isfinite(signals)
    n = has.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(has, signals, 0.0) / np.maximum(n, 1)
    return w


def pnl(
    signals: np.ndarray,
    fwd_returns: np.ndarray,
    cost_bps: float,
    prev_weights: np.ndarray | None = None,
) -> PnL:
    """Net returns of holding ``equal_weights(signals)``.

    ``signals`` and ``fwd_returns`` are ``T' x N`` for the same bars (``fwd_returns[t]`` =
    return from bar t to t+1). ``prev_weights`` (N) are the weights held before the first
    row (default flat). Rows whose forward return is unknown for every asset (the last bar)
    are not realised and are dropped from the result.
    """
    w = equal_weights(signals)
    before = np.zeros(w.shape[1]) if prev_weights is None else prev_weights
    prev = np.vstack([before[None, :], w[:-1]])
    turnover = np.abs(w - prev).sum(axis=1)
    r = np.where(np.isfinite(fwd_returns), fwd_returns, 0.0)
    gross = (w * r).sum(axis=1)
    net = gross - cost_bps / 1e4 * turnover
    realised = np.isfinite(fwd_returns).any(axis=1)
    # Only the trailing unrealised rows are dropped; a gap in the middle stays (earns 0).
    last = int(np.flatnonzero(realised)[-1]) + 1 if realised.any() else 0
    return PnL(w[:last], gross[:last], turnover[:last], net[:last])
