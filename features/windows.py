"""Lookback windows and forward-return labels on dense ``T x N x F`` arrays.

Timing convention (the whole factory follows it):

* a feature at bar t uses bars up to and including t;
* the window of sample (t, asset) is bars ``t - lookback + 1 .. t``;
* the label of sample (t, asset) is the forward return ``close[t+h] / close[t] - 1``
  over the horizon h, known only at bar t+h;
* the position decided at bar t earns the return from t to t+1.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """``close[t+h] / close[t] - 1`` for a ``T x N`` array; the last ``h`` rows are NaN."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    close = np.asarray(close, dtype=np.float64)
    out = np.full_like(close, np.nan)
    if close.shape[0] > horizon:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def window_view(values: np.ndarray, lookback: int) -> np.ndarray:
    """A read-only view ``W`` with ``W[t - lookback + 1, n]`` the ``(lookback, F)`` window
    ending at bar t for asset n. Shape ``(T - lookback + 1, N, lookback, F)``.
    """
    if lookback < 1:
        raise ValueError("lookback must be at least 1")
    if values.ndim != 3:
        raise ValueError(f"expected a T x N x F array, got shape {values.shape}")
    view = sliding_window_view(values, lookback, axis=0)  # (T-L+1, N, F, L)
    return view.transpose(0, 1, 3, 2)


def gather_windows(
    values: np.ndarray, t_index: np.ndarray, a_index: np.ndarray, lookback: int
) -> np.ndarray:
    """Windows for samples ``(t_index[i], a_index[i])`` as a new ``(n, lookback, F)`` array.

    Every ``t_index`` must be at least ``lookback - 1``.
    """
    t_index = np.asarray(t_index, dtype=np.int64)
    if t_index.size and t_index.min() < lookback - 1:
        raise ValueError("a sample's window starts before the first bar")
    view = window_view(values, lookback)
    return np.ascontiguousarray(view[t_index - (lookback - 1), np.asarray(a_index, dtype=np.int64)])


def valid_samples(values: np.ndarray, lookback: int) -> np.ndarray:
    """``T x N`` boolean: the window ending at (t, n) exists and holds no NaN."""
    T, N, _ = values.shape
    ok = np.zeros((T, N), dtype=bool)
    if T < lookback:
        return ok
    finite = np.isfinite(values).all(axis=2).astype(np.int64)  # T x N
    csum = np.concatenate([np.zeros((1, N), dtype=np.int64), np.cumsum(finite, axis=0)])
    counts = csum[lookback:] - csum[:-lookback]  # windows ending at lookback-1 .. T-1
    ok[lookback - 1 :] = counts == lookback
    return ok
