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


class OwnBars:
    """Each asset's own sequence of bars inside a ``T x N`` grid of universe timestamps.

    A universe mixes calendars (equities skip weekends and holidays that crypto trades
    through, a halted stock skips days): asset n has a bar at row t when
    ``present[t, n]``. Lookback windows and labels count *the asset's own bars*: the
    window of (t, n) is the asset's last ``lookback`` bars up to and including t, and its
    label is the return from t to the asset's ``h``-th next bar — a missing row is not a
    bar and is never inside a window. (The feature pipelines count own bars the same way,
    see `features.bar_clock`.)

    ``rank[t, n]`` is the number of the asset's bar at row t (0 for its first bar, -1
    where it has none); ``rows[k, n]`` the row of its k-th bar (-1 past its last one).
    `pack` moves every asset's bars to the top of its column (row k = its k-th bar), so
    that a window of own bars is a contiguous slice of the packed array.

    Causal: the packed row k of an asset holds its k-th bar whatever follows, so adding
    later rows never changes earlier packed rows, windows or ranks.
    """

    def __init__(self, present: np.ndarray) -> None:
        present = np.asarray(present, dtype=bool)
        if present.ndim != 2:
            raise ValueError(f"expected a T x N mask, got shape {present.shape}")
        self.present = present
        N = present.shape[1]
        counts = present.sum(axis=0)
        self.counts = counts.astype(np.int64)
        self.rank = np.where(present, np.cumsum(present, axis=0) - 1, -1).astype(np.int64)
        K = int(counts.max()) if N else 0
        rows = np.full((K, N), -1, dtype=np.int64)
        t_idx, n_idx = np.nonzero(present)
        rows[self.rank[t_idx, n_idx], n_idx] = t_idx
        self.rows = rows

    @property
    def n_rows(self) -> int:
        return int(self.present.shape[0])

    def pack(self, values: np.ndarray) -> np.ndarray:
        """``T x N [x F]`` -> ``K x N [x F]``: row k of column n is asset n's k-th bar
        (NaN past its last bar)."""
        if values.shape[:2] != self.present.shape:
            raise ValueError(f"values of shape {values.shape} do not match {self.present.shape}")
        N = values.shape[1]
        take = np.where(self.rows >= 0, self.rows, 0)
        packed = values[take, np.arange(N)[None, :]]
        dtype = packed.dtype if np.issubdtype(packed.dtype, np.floating) else np.float64
        packed = packed.astype(dtype, copy=False)
        packed[self.rows < 0] = np.nan
        return packed

    def valid_windows(self, packed: np.ndarray, lookback: int) -> np.ndarray:
        """``T x N`` boolean: the asset has a bar at t and its last ``lookback`` own bars
        (the window) exist and hold no NaN. ``packed`` comes from `pack`."""
        ok_packed = valid_samples(packed if packed.ndim == 3 else packed[:, :, None], lookback)
        out = np.zeros(self.present.shape, dtype=bool)
        t_idx, n_idx = np.nonzero(self.present)
        out[t_idx, n_idx] = ok_packed[self.rank[t_idx, n_idx], n_idx]
        return out

    def gather(self, packed: np.ndarray, t: np.ndarray, a: np.ndarray, lookback: int) -> np.ndarray:
        """Windows of own bars for samples (t[i], a[i]) as ``(n, lookback, F)``."""
        return gather_windows(packed, self.rank[t, a], a, lookback)

    def forward_returns(self, close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, end rows), both ``T x N``: the label of (t, n) is
        ``close[asset's bar h later] / close[t] - 1`` and ``end[t, n]`` the row where it is
        realised (known); NaN / -1 where the asset has no bar at t or no h-th next bar."""
        if horizon < 1:
            raise ValueError("horizon must be at least 1")
        pclose = self.pack(np.asarray(close, dtype=np.float64))
        plabels = forward_returns(pclose, horizon)
        K, N = self.rows.shape
        end_packed = np.full((K, N), -1, dtype=np.int64)
        if K > horizon:
            end_packed[:-horizon] = self.rows[horizon:]
        labels = np.full(self.present.shape, np.nan)
        end = np.full(self.present.shape, -1, dtype=np.int64)
        t_idx, n_idx = np.nonzero(self.present)
        k = self.rank[t_idx, n_idx]
        labels[t_idx, n_idx] = plabels[k, n_idx]
        end[t_idx, n_idx] = end_packed[k, n_idx]
        labels[end < 0] = np.nan
        return labels, end
