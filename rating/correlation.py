"""Correlation between configs' returns, NaN-aware and vectorised.

Pairwise correlations use exactly the bars where both configs have an observation
(pandas ``DataFrame.corr`` semantics, "pairwise complete"), computed for all pairs at once
with matrix products instead of a loop over pairs. With x the values centred by each
config's own mean (0 where missing) and m the 0/1 observation mask:

    n_ij   = Σ_t m_it m_jt                     (overlap count)
    Sx_ij  = Σ_t x_it m_jt,  Sxx_ij = Σ_t x_it² m_jt   (and Sy, Syy for j on i's bars)
    Sxy_ij = Σ_t x_it x_jt
    ρ_ij   = (Sxy - Sx·Sy/n) / √((Sxx - Sx²/n)(Syy - Sy²/n))

Only Sxy needs an N x N x T product. For a config observed on one contiguous block of bars
[f_i, l_i] (the usual case: NaN only before its first or after its last bar) the overlap
with j is [max(f_i, f_j), min(l_i, l_j)], so n, Sx, Sxx come from prefix sums at the block
boundaries; configs with interior gaps fall back to masked products on their rows.
Pairs with fewer than ``min_overlap`` common bars, or zero variance there, get NaN.

The rating engine never forms the full N x N matrix: the multiple-testing population only
needs the *mean* correlation, which :func:`mean_correlation_from_panel` gets in O(N·T).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg.blas import dsyrk

from rating._panel import BoolArray, FloatArray, IntArray, Panel, ReturnsLike, as_panel

DEFAULT_MIN_OVERLAP = 20

__all__ = [
    "DEFAULT_MIN_OVERLAP",
    "correlation_from_panel",
    "cross_correlation_from_panel",
    "mean_correlation_from_panel",
    "mean_pairwise_correlation",
    "pairwise_correlation",
]


def _gram(x: FloatArray) -> FloatArray:
    """x @ x.T via BLAS syrk (one triangle: half the flops of a general product)."""
    if x.shape[0] == 0 or x.shape[1] == 0:
        return np.zeros((x.shape[0], x.shape[0]))
    upper = dsyrk(1.0, x.T, trans=1)  # x.T is Fortran-ordered: no copy
    out: FloatArray = np.triu(upper) + np.triu(upper, 1).T
    return out


def _overlap_stats(
    panel: Panel, rows: IntArray, cols: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """(n, Sx, Sy, Sxx, Syy) for every (row, col) pair, each len(rows) x len(cols)."""
    x, x2 = panel.centered_and_squared
    n_bars = panel.n_bars
    first, last = panel.first_valid, panel.last_valid
    gappy = (panel.n_obs > 0) & (panel.n_obs != last - first + 1)
    positions, slot, px, px2 = panel.block_prefix_sums
    del positions

    lo = np.maximum(first[rows][:, None], first[cols][None, :])
    hi = np.minimum(last[rows][:, None], last[cols][None, :])
    n = np.maximum(hi - lo + 1, 0).astype(np.float64)
    lo_c = np.clip(lo, 0, n_bars)
    lo_k = slot[lo_c]
    hi_k = slot[np.maximum(np.clip(hi + 1, 0, n_bars), lo_c)]

    def window_sums(prefix: FloatArray, lo_i: IntArray, hi_i: IntArray) -> FloatArray:
        out: FloatArray = np.take_along_axis(prefix, hi_i, axis=1) - np.take_along_axis(
            prefix, lo_i, axis=1
        )
        return out

    sx = window_sums(px[rows], lo_k, hi_k)
    sxx = window_sums(px2[rows], lo_k, hi_k)
    sy = window_sums(px[cols], lo_k.T, hi_k.T).T
    syy = window_sums(px2[cols], lo_k.T, hi_k.T).T

    gappy_rows, gappy_cols = np.flatnonzero(gappy[rows]), np.flatnonzero(gappy[cols])
    if gappy_rows.size or gappy_cols.size:
        m = panel.valid.astype(np.float64)
        m_r, m_c = m[rows], m[cols]
        if gappy_rows.size:  # row config has gaps: mask by its bars
            g = rows[gappy_rows]
            n[gappy_rows] = m[g] @ m_c.T
            sx[gappy_rows] = x[g] @ m_c.T
            sxx[gappy_rows] = x2[g] @ m_c.T
            sy[gappy_rows] = m[g] @ x[cols].T
            syy[gappy_rows] = m[g] @ x2[cols].T
        if gappy_cols.size:  # column config has gaps
            g = cols[gappy_cols]
            n[:, gappy_cols] = m_r @ m[g].T
            sx[:, gappy_cols] = x[rows] @ m[g].T
            sxx[:, gappy_cols] = x2[rows] @ m[g].T
            sy[:, gappy_cols] = m_r @ x[g].T
            syy[:, gappy_cols] = m_r @ x2[g].T
    return n, sx, sy, sxx, syy


def _finish(
    n: FloatArray,
    sxy: FloatArray,
    stats: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    same: BoolArray,
    min_overlap: int,
) -> FloatArray:
    _, sx, sy, sxx, syy = stats
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        corr = cov / np.sqrt((sxx - sx * sx / n) * (syy - sy * sy / n))
    corr = np.clip(corr, -1.0, 1.0)
    enough = n >= max(min_overlap, 2)
    corr[~enough | ~np.isfinite(corr)] = np.nan
    corr[same] = np.where(enough[same], 1.0, np.nan)
    return corr


def cross_correlation_from_panel(
    panel: Panel, rows: IntArray, cols: IntArray, min_overlap: int = DEFAULT_MIN_OVERLAP
) -> FloatArray:
    """len(rows) x len(cols) pairwise-complete correlations between two sets of configs."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    x, _ = panel.centered_and_squared
    stats = _overlap_stats(panel, rows, cols)
    sxy = x[rows] @ x[cols].T
    return _finish(stats[0], sxy, stats, rows[:, None] == cols[None, :], min_overlap)


def correlation_from_panel(panel: Panel, min_overlap: int = DEFAULT_MIN_OVERLAP) -> FloatArray:
    """N x N pairwise-complete correlation of the panel's configs (diagonal 1 or NaN)."""
    everything = np.arange(panel.n_configs, dtype=np.int64)
    x, _ = panel.centered_and_squared
    stats = _overlap_stats(panel, everything, everything)
    return _finish(stats[0], _gram(x), stats, np.eye(panel.n_configs, dtype=bool), min_overlap)


def mean_correlation_from_panel(panel: Panel, members: BoolArray | None = None) -> float:
    """Overlap-weighted mean pairwise correlation of the ``members`` in O(N·T).

        ρ̄ = Σ_{i≠j} Σ_t z_it z_jt / Σ_{i≠j} (n_ij - 1)
          = (Σ_t (Σ_i z_it)² - Σ_i Σ_t z_it²) / (Σ_t m_t (m_t - 1) - P)

    with z_it = (r_it - mean_i) / std_i (each config's own moments, ddof=1; 0 where
    missing), n_ij the pair's common bars, m_t the number of members observed at bar t
    and P the number of ordered pairs that overlap at all. Each pair's sum Σ_t z_it z_jt
    is (n_ij - 1) times its correlation when its moments on the overlap equal its own, so
    this is the average correlation weighted by overlap length: exactly the plain average
    when no value is missing, and it never forms the N x N matrix. NaN with < 2 members.
    """
    keep = (panel.n_obs >= 2) & (panel.std > 0)
    if members is not None:
        keep &= members
    if keep.sum() < 2:
        return float("nan")
    idx = np.flatnonzero(keep)
    centered, _ = panel.centered_and_squared
    z = centered[idx] / panel.std[idx, None]
    across = z.sum(axis=0)
    numerator = float(across @ across - np.einsum("ij,ij->", z, z))
    per_bar = panel.valid[idx].sum(axis=0).astype(np.float64)
    first, last = panel.first_valid[idx], panel.last_valid[idx]
    overlapping = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
    n_pairs = float(overlapping.sum() - len(idx))
    denominator = float(per_bar @ (per_bar - 1.0)) - n_pairs
    return numerator / denominator if denominator > 0 else float("nan")


def pairwise_correlation(
    returns: ReturnsLike, min_overlap: int = DEFAULT_MIN_OVERLAP
) -> pd.DataFrame | FloatArray:
    """Correlation matrix of the columns of a T x N returns matrix (pairwise complete).

    A DataFrame in gives a DataFrame out (index and columns = the input's columns).
    """
    panel, token = as_panel(returns)
    corr = correlation_from_panel(panel, min_overlap)
    if isinstance(token, pd.Index):
        return pd.DataFrame(corr, index=token, columns=token)
    return corr


def mean_pairwise_correlation(correlation: FloatArray | pd.DataFrame) -> float:
    """Average of the finite off-diagonal entries of a correlation matrix (NaN if none)."""
    corr = np.asarray(correlation, dtype=np.float64)
    if corr.ndim != 2 or corr.shape[0] != corr.shape[1]:
        raise ValueError(f"expected a square correlation matrix, got shape {corr.shape}")
    off = ~np.eye(corr.shape[0], dtype=bool) & np.isfinite(corr)
    if not off.any():
        return float("nan")
    return float(corr[off].mean())
