"""A config-major view of a returns matrix, with the intermediate quantities metrics share.

Callers hand the public functions a T x N matrix (bars down, configs across), like
empyrical. Internally every kernel works on the transposed N x T layout: accumulations
along a contiguous row (``cumprod``, ``maximum.accumulate``) are 2-3x faster there.

NaN marks a bar without an observation (before a config's first out-of-sample bar, or a
gap). Moments ignore NaN; the wealth curve treats a missing bar as a zero return, so that
drawdowns and bar counts stay aligned with the rows of the matrix (empyrical does the same
in ``cum_returns``).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

ReturnsLike = pd.Series | pd.DataFrame | npt.ArrayLike
MetricValue = float | FloatArray | pd.Series

# A standard deviation this small relative to the mean is floating-point residue of a
# constant series (the mean of identical values can differ from them in the last bit).
ZERO_DISPERSION_RTOL = 1e-10


class Panel:
    """N x T returns (configs x bars) and lazily computed shared statistics.

    Attributes computed on first use and cached: counts, central moments, the wealth curve
    (starting at 1) and its drawdown. All reductions run along axis 1 (time).
    """

    def __init__(self, values_nt: FloatArray) -> None:
        if values_nt.ndim != 2:
            raise ValueError(f"expected a 2-D N x T array, got shape {values_nt.shape}")
        values = np.asarray(values_nt, dtype=np.float64)
        if np.isinf(values).any():
            raise ValueError("returns contain ±inf; use NaN for a missing bar")
        self.valid: BoolArray = ~np.isnan(values)
        self.filled: FloatArray = np.where(self.valid, values, 0.0)
        self.n_configs, self.n_bars = values.shape

    @classmethod
    def from_bars_by_configs(cls, values_tn: FloatArray) -> Panel:
        """Build from the public T x N layout."""
        return cls(np.ascontiguousarray(np.asarray(values_tn, dtype=np.float64).T))

    def select(self, rows: IntArray | BoolArray) -> Panel:
        """A panel of the chosen configs (copies; cached statistics are not carried)."""
        out = Panel.__new__(Panel)
        out.valid = self.valid[rows]
        out.filled = self.filled[rows]
        out.n_configs, out.n_bars = out.filled.shape
        return out

    def tail(self, start: int) -> Panel:
        """The same configs restricted to bars ``start:`` (views, no copy)."""
        out = Panel.__new__(Panel)
        out.valid = self.valid[:, start:]
        out.filled = self.filled[:, start:]
        out.n_configs, out.n_bars = out.filled.shape
        return out

    # ---- counts and moments ---------------------------------------------------------
    @cached_property
    def n_obs(self) -> IntArray:
        return self.valid.sum(axis=1, dtype=np.int64)

    @cached_property
    def mean(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = self.filled.sum(axis=1) / self.n_obs
        return out

    @cached_property
    def centered_and_squared(self) -> tuple[FloatArray, FloatArray]:
        """(r - mean, (r - mean)²) on valid bars, 0 elsewhere (each config's own mean)."""
        centered = np.where(self.valid, self.filled - self.mean[:, None], 0.0)
        return centered, centered * centered

    @cached_property
    def sum_sq_dev(self) -> FloatArray:
        """Σ (r - mean)² over valid bars."""
        return self.centered_and_squared[1].sum(axis=1)

    @cached_property
    def std(self) -> FloatArray:
        """Sample standard deviation (ddof=1); NaN with fewer than 2 observations."""
        n = self.n_obs
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(self.sum_sq_dev / (n - 1))
        std = np.where(n >= 2, std, np.nan)
        zero = std <= ZERO_DISPERSION_RTOL * np.abs(self.mean)
        return np.where(zero, 0.0, std)

    @cached_property
    def skew(self) -> FloatArray:
        """Moment skewness m3 / m2^1.5 (biased, as in scipy.stats.skew default)."""
        centered, sq = self.centered_and_squared
        n = self.n_obs
        with np.errstate(invalid="ignore", divide="ignore"):
            m2 = self.sum_sq_dev / n
            m3 = (sq * centered).sum(axis=1) / n
            out: FloatArray = m3 / m2**1.5
        return np.where((n >= 2) & (self.std > 0), out, np.nan)

    @cached_property
    def kurtosis(self) -> FloatArray:
        """Pearson kurtosis m4 / m2² (normal = 3; biased, scipy fisher=False)."""
        _, sq = self.centered_and_squared
        n = self.n_obs
        with np.errstate(invalid="ignore", divide="ignore"):
            m2 = self.sum_sq_dev / n
            m4 = (sq * sq).sum(axis=1) / n
            out: FloatArray = m4 / (m2 * m2)
        return np.where((n >= 2) & (self.std > 0), out, np.nan)

    @cached_property
    def first_valid(self) -> IntArray:
        """Row index of each config's first observation (n_bars when it has none)."""
        if self.n_bars == 0:
            return np.zeros(self.n_configs, dtype=np.int64)
        first = self.valid.argmax(axis=1).astype(np.int64)
        return np.where(self.n_obs > 0, first, self.n_bars)

    @cached_property
    def last_valid(self) -> IntArray:
        """Row index of each config's last observation (-1 when it has none)."""
        if self.n_bars == 0:
            return np.full(self.n_configs, -1, dtype=np.int64)
        last = self.n_bars - 1 - self.valid[:, ::-1].argmax(axis=1).astype(np.int64)
        return np.where(self.n_obs > 0, last, -1)

    @cached_property
    def block_prefix_sums(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Prefix sums of the centred values and their squares at every block boundary.

        Returns ``(positions, slot, px, px2)``: ``positions`` are the sorted distinct bars
        where some config's observations start or end (first_valid, last_valid + 1, plus
        0 and n_bars); ``slot[t]`` is the column of bar ``t`` in ``positions``; and
        ``px[i, k]`` = Σ_{t < positions[k]} (r_it - mean_i) over valid bars (``px2`` the
        same for squares). Used for pairwise overlap sums (rating.correlation).
        """
        ends = np.concatenate([[0, self.n_bars], self.first_valid, self.last_valid + 1])
        positions = np.unique(np.clip(ends, 0, self.n_bars)).astype(np.int64)
        slot = np.zeros(self.n_bars + 1, dtype=np.int64)
        slot[positions] = np.arange(len(positions))
        centered, sq = self.centered_and_squared
        starts = positions[positions < self.n_bars]

        def prefix(values: FloatArray) -> FloatArray:
            out = np.zeros((self.n_configs, len(positions)))
            if len(starts):  # sums over [starts[k], starts[k+1]) accumulate to positions[k+1]
                segment = np.add.reduceat(values, starts, axis=1)
                np.cumsum(segment, axis=1, out=out[:, 1:])
            return out

        return positions, slot, prefix(centered), prefix(sq)

    # ---- wealth and drawdown ----------------------------------------------------------
    @cached_property
    def wealth(self) -> FloatArray:
        """Compounded wealth W_t = Π_{s≤t} (1 + r_s), starting value 1, NaN bars as 0."""
        out: FloatArray = np.cumprod(1.0 + self.filled, axis=1, dtype=np.float64)
        return out

    @cached_property
    def drawdown(self) -> FloatArray:
        """D_t = W_t / max(1, max_{s≤t} W_s) - 1 ≤ 0 (the starting value 1 is a peak)."""
        peak = np.maximum.accumulate(self.wealth, axis=1)
        np.maximum(peak, 1.0, out=peak)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = self.wealth / peak - 1.0
        return out

    @cached_property
    def at_peak(self) -> BoolArray:
        out: BoolArray = self.drawdown >= 0.0
        return out


def as_panel(returns: ReturnsLike) -> tuple[Panel, object]:
    """Convert public input (T bars x N configs, or 1-D) into a Panel plus a shape token."""
    if isinstance(returns, pd.DataFrame):
        values = returns.to_numpy(dtype=np.float64, na_value=np.nan)
        return Panel.from_bars_by_configs(values), returns.columns
    if isinstance(returns, pd.Series):
        series = returns.to_numpy(dtype=np.float64, na_value=np.nan)
        return Panel(series[None, :]), None
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        return Panel(arr[None, :]), None
    if arr.ndim == 2:
        return Panel.from_bars_by_configs(arr), "array"
    raise ValueError(f"returns must be 1-D or 2-D (T x N), got shape {arr.shape}")


def wrap(values: FloatArray, token: object) -> MetricValue:
    """Shape a per-config result like the input: float, ndarray or Series by column."""
    if token is None:
        return float(values[0])
    if isinstance(token, pd.Index):
        return pd.Series(values, index=token, dtype=np.float64)
    return values
