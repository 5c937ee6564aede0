"""Trailing-window statistics on ``T x N`` float arrays, for all assets at once.

Every function here is causal: the value at row t uses rows ``t - window + 1 .. t`` and
nothing later. NaN marks a missing observation; a statistic is computed over the finite
values in its window and is NaN when fewer than ``min_periods`` of them are present
(default: the whole window, i.e. any NaN in the window gives NaN). Two-input
statistics (covariance, correlation, beta) use pairwise-complete rows.

Implementation: window sums are differences of cumulative sums along the time axis,
``S_t = C_t - C_{t-w}`` with ``C_t = sum_{s<=t} x_s``: one pass per array for all assets,
several times faster than ``DataFrame.rolling`` on wide frames. The price is an absolute
error of order ``t * eps * max|x|`` in each window sum: negligible for sums and means of
anything, and for variances of returns, log ranges, flows and bounded scores (the inputs
this package uses them for), but a variance of a series with a large offset relative to
its spread (raw price levels, trending on-chain counts) loses digits; use
``pandas.DataFrame.rolling`` for those. A window holding only exact zeros sums to exactly
zero (adding 0.0 leaves ``C`` unchanged). A centred sum of squares below the rounding
noise of its cumulative sum is set to exactly zero, so a constant window has variance 0
rather than ±1e-17.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray

_EPS = float(np.finfo(np.float64).eps)


def lag(x: Array, k: int) -> Array:
    """``x`` shifted down by ``k >= 0`` rows: row t holds ``x[t - k]``; the first ``k``
    rows are NaN."""
    if k < 0:
        raise ValueError("lag must be non-negative (a negative lag would look ahead)")
    x = np.asarray(x, dtype=np.float64)
    out = np.full_like(x, np.nan)
    if k == 0:
        out[...] = x
    elif k < x.shape[0]:
        out[k:] = x[:-k]
    return out


def safe_divide(numerator: Array, denominator: Array) -> Array:
    """``numerator / denominator`` with NaN (never inf) where the denominator is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(numerator, dtype=np.float64) / denominator
    out[~np.isfinite(out)] = np.nan
    return out


def _check(window: int, min_periods: int | None) -> int:
    if window < 1:
        raise ValueError("window must be at least 1")
    m = window if min_periods is None else min_periods
    if not 1 <= m <= window:
        raise ValueError("min_periods must lie in [1, window]")
    return m


def _windowed(cumulative: Array, window: int) -> Array:
    """Trailing-window sums ``C_t - C_{t-w}`` from cumulative sums ``C`` (partial sums in
    the first ``window - 1`` rows)."""
    if window >= cumulative.shape[0]:
        return cumulative.copy()
    out = np.empty_like(cumulative)
    out[:window] = cumulative[:window]
    np.subtract(cumulative[window:], cumulative[:-window], out=out[window:])
    return out


def _centred_ss(s1: Array, s2: Array, n: Array, cumulative_s2: Array) -> Array:
    """``sum (x - mean)^2 = s2 - s1^2 / n``, clipped at 0, and exactly 0 when below the
    rounding noise of the cumulative sum of squares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = s2 - s1 * s1 / n
    ss[ss <= 16.0 * _EPS * cumulative_s2 + 1e-12 * s2] = 0.0
    return ss


def _finite_parts(x: Array) -> tuple[Array, Array]:
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    return np.where(finite, x, 0.0), np.cumsum(finite, axis=0, dtype=np.float64)


def rolling_count(x: Array, window: int) -> Array:
    """Number of finite values in each trailing window."""
    _check(window, None)
    return _windowed(np.cumsum(np.isfinite(x), axis=0, dtype=np.float64), window)


def rolling_sum(x: Array, window: int, min_periods: int | None = None) -> Array:
    """Sum of the finite values in each trailing window of ``window`` rows."""
    m = _check(window, min_periods)
    x0, count = _finite_parts(x)
    total = _windowed(np.cumsum(x0, axis=0), window)
    total[_windowed(count, window) < m] = np.nan
    return total


def rolling_mean(x: Array, window: int, min_periods: int | None = None) -> Array:
    """Mean of the finite values in each trailing window."""
    m = _check(window, min_periods)
    x0, count = _finite_parts(x)
    n = _windowed(count, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = _windowed(np.cumsum(x0, axis=0), window) / n
    out[n < m] = np.nan
    return out


def rolling_var(x: Array, window: int, *, ddof: int = 1, min_periods: int | None = None) -> Array:
    """Sample variance ``sum((x - mean)^2) / (n - ddof)`` of the finite values in each
    trailing window; NaN when fewer than ``max(min_periods, ddof + 1)`` are present."""
    m = max(_check(window, min_periods), ddof + 1)
    x0, count = _finite_parts(x)
    c2 = np.cumsum(x0 * x0, axis=0)
    n = _windowed(count, window)
    ss = _centred_ss(_windowed(np.cumsum(x0, axis=0), window), _windowed(c2, window), n, c2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = ss / (n - ddof)
    out[n < m] = np.nan
    return out


def rolling_std(x: Array, window: int, *, ddof: int = 1, min_periods: int | None = None) -> Array:
    """Square root of `rolling_var`."""
    return np.sqrt(rolling_var(x, window, ddof=ddof, min_periods=min_periods))


def rolling_zscore(x: Array, window: int, min_periods: int | None = None) -> Array:
    """``(x_t - mean) / std`` (std with ddof=1) over the trailing window that includes t.

    A constant window gives 0: ``x_t`` is part of the window, so it equals the mean.
    """
    mean = rolling_mean(x, window, min_periods)
    std = rolling_std(x, window, min_periods=min_periods)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.asarray(x, dtype=np.float64) - mean) / std
    z[(std == 0) & np.isfinite(mean) & np.isfinite(x)] = 0.0
    return z


class PairedWindows:
    """Trailing-window co-moments of two ``T x N`` arrays over pairwise-complete rows.

    The cumulative sums are computed once; each statistic for a window is then a few
    subtractions, so several windows of the same pair cost little more than one.
    Every statistic needs at least ``max(min_periods, 2)`` complete pairs.
    """

    def __init__(self, x: Array, y: Array) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        both = np.isfinite(x) & np.isfinite(y)
        x0 = np.where(both, x, 0.0)
        y0 = np.where(both, y, 0.0)
        self._n = np.cumsum(both, axis=0, dtype=np.float64)
        self._x = np.cumsum(x0, axis=0)
        self._y = np.cumsum(y0, axis=0)
        self._xx = np.cumsum(x0 * x0, axis=0)
        self._yy = np.cumsum(y0 * y0, axis=0)
        self._xy = np.cumsum(x0 * y0, axis=0)

    def _sums(self, window: int, min_periods: int | None) -> tuple[Array, Array, Array, Array]:
        m = max(_check(window, min_periods), 2)
        n = _windowed(self._n, window)
        return n, _windowed(self._x, window), _windowed(self._y, window), n < m

    def _sxy(self, window: int, sx: Array, sy: Array, n: Array) -> Array:
        with np.errstate(invalid="ignore", divide="ignore"):
            return _windowed(self._xy, window) - sx * sy / n

    def cov(self, window: int, min_periods: int | None = None) -> Array:
        """Sample covariance (ddof=1)."""
        n, sx, sy, short = self._sums(window, min_periods)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self._sxy(window, sx, sy, n) / (n - 1.0)
        out[short] = np.nan
        return out

    def corr(self, window: int, min_periods: int | None = None) -> Array:
        """Pearson correlation; NaN when either series is constant in the window."""
        n, sx, sy, short = self._sums(window, min_periods)
        ssx = _centred_ss(sx, _windowed(self._xx, window), n, self._xx)
        ssy = _centred_ss(sy, _windowed(self._yy, window), n, self._yy)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.clip(self._sxy(window, sx, sy, n) / np.sqrt(ssx * ssy), -1.0, 1.0)
        out[short | (ssx == 0) | (ssy == 0)] = np.nan
        return out

    def beta(self, window: int, min_periods: int | None = None) -> Array:
        """Least-squares slope of x on y, ``cov(x, y) / var(y)``; NaN when y is constant."""
        n, sx, sy, short = self._sums(window, min_periods)
        ssy = _centred_ss(sy, _windowed(self._yy, window), n, self._yy)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self._sxy(window, sx, sy, n) / ssy
        out[short | (ssy == 0)] = np.nan
        return out


def rolling_cov(x: Array, y: Array, window: int, min_periods: int | None = None) -> Array:
    """Sample covariance (ddof=1) over the pairwise-complete rows of each window."""
    return PairedWindows(x, y).cov(window, min_periods)


def rolling_corr(x: Array, y: Array, window: int, min_periods: int | None = None) -> Array:
    """Pearson correlation over the pairwise-complete rows of each window; NaN when either
    series is constant in the window."""
    return PairedWindows(x, y).corr(window, min_periods)
