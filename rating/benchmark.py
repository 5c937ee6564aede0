"""Skill net of the market: beta to a benchmark and returns in excess of it.

A model that learned the training drift outputs a nearly constant long position; its
Sharpe ratio, PSR and DSR against zero then measure the market's drift, not skill. With
a benchmark b (the factory passes the per-bar return of the equal-weight universe, see
:func:`universe_returns`) every config is rated on its beta-hedged returns

    e_t = r_t - β·b_t,      β = Σ (r_t - r̄)(b_t - b̄) / Σ (b_t - b̄)²

the OLS slope of the config's returns on the benchmark's, with intercept, over the bars
where both are observed ("pairwise complete"; r̄ and b̄ are means over those bars).
β uses the config's whole record up to ``as_of`` (the rating's point in time): it is a
performance attribution, not a trading rule. The mean of e is then the OLS intercept,
Jensen's alpha; the engine reports it annualised arithmetically (mean(e) · ppy).
e is NaN where either r or b is missing, and for a config whose β cannot be estimated
(fewer than 2 common bars, or a benchmark without variance on them): such a config has
no record net of the market and fails the track-record gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rating._panel import FloatArray, Panel, ReturnsLike, as_panel

__all__ = [
    "BenchmarkFit",
    "benchmark_fit_from_panel",
    "beta_to_benchmark",
    "excess_returns",
    "universe_returns",
]


@dataclass(frozen=True, eq=False)
class BenchmarkFit:
    """Per config: ``beta``, ``corr`` (Pearson correlation of the raw returns with the
    benchmark on the common bars) and the ``excess`` returns r - β·b as a Panel."""

    beta: FloatArray
    corr: FloatArray
    excess: Panel


def _benchmark_array(benchmark: pd.Series | FloatArray, n_bars: int) -> FloatArray:
    values = np.asarray(benchmark, dtype=np.float64)
    if values.shape != (n_bars,):
        raise ValueError(f"benchmark must have one value per bar ({n_bars}), got {values.shape}")
    if np.isinf(values).any():
        raise ValueError("benchmark contains ±inf; use NaN for a missing bar")
    return values


def benchmark_fit_from_panel(panel: Panel, benchmark: FloatArray) -> BenchmarkFit:
    """β, correlation and excess returns of every config against ``benchmark`` (length T,
    NaN = missing bar), vectorised: the common-bar sums are matrix-vector products."""
    b = _benchmark_array(benchmark, panel.n_bars)
    b_valid = np.isfinite(b)
    common = panel.valid & b_valid[None, :]
    weight = common.astype(np.float64)
    n = weight.sum(axis=1)
    r = np.where(common, panel.filled, 0.0)
    b_centred = np.where(b_valid, b - (b[b_valid].mean() if b_valid.any() else 0.0), 0.0)
    # Shift r by each config's own mean for numerical stability (the slope is invariant).
    mu = np.where(np.isfinite(panel.mean), panel.mean, 0.0)
    r = np.where(common, r - mu[:, None], 0.0)
    s_r = r.sum(axis=1)
    s_b = weight @ b_centred
    s_bb = weight @ (b_centred * b_centred)
    s_rb = r @ b_centred
    s_rr = (r * r).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = s_rb - s_r * s_b / n
        var_b = s_bb - s_b * s_b / n
        var_r = s_rr - s_r * s_r / n
        tiny_b = var_b <= 1e-12 * np.maximum(s_bb, 1e-300)
        beta = np.where((n >= 2) & ~tiny_b, cov / var_b, np.nan)
        tiny_r = var_r <= 1e-12 * np.maximum(s_rr, 1e-300)
        corr = np.where((n >= 2) & ~tiny_b & ~tiny_r, cov / np.sqrt(var_b * var_r), np.nan)
    corr = np.clip(corr, -1.0, 1.0)
    excess_values = np.where(
        common & np.isfinite(beta)[:, None],
        panel.filled - np.nan_to_num(beta)[:, None] * np.where(b_valid, b, 0.0)[None, :],
        np.nan,
    )
    return BenchmarkFit(beta=beta, corr=corr, excess=Panel(excess_values))


def _aligned(returns: ReturnsLike, benchmark: pd.Series) -> tuple[Panel, object, FloatArray]:
    panel, token = as_panel(returns)
    if isinstance(returns, pd.DataFrame | pd.Series) and isinstance(benchmark, pd.Series):
        b = benchmark.reindex(returns.index).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        b = np.asarray(benchmark, dtype=np.float64)
    return panel, token, b


def beta_to_benchmark(returns: ReturnsLike, benchmark: pd.Series) -> float | FloatArray | pd.Series:
    """β of each config (column) on the benchmark, pairwise complete (module docstring).

    A pandas input is aligned to the benchmark by index; an array must have one
    benchmark value per row.
    """
    panel, token, b = _aligned(returns, benchmark)
    beta = benchmark_fit_from_panel(panel, b).beta
    if token is None:
        return float(beta[0])
    if isinstance(token, pd.Index):
        return pd.Series(beta, index=token, dtype=np.float64)
    return beta


def excess_returns(returns: pd.DataFrame, benchmark: pd.Series) -> pd.DataFrame:
    """r - β·b per bar and config (NaN where r or b is missing or β is undefined)."""
    panel, _, b = _aligned(returns, benchmark)
    fit = benchmark_fit_from_panel(panel, b)
    values = np.where(fit.excess.valid, fit.excess.filled, np.nan).T
    return pd.DataFrame(values, index=returns.index, columns=returns.columns)


def universe_returns(asset_returns: pd.DataFrame) -> pd.Series:
    """The equal-weight universe's return per bar: the mean of the assets' simple returns
    over the assets that have a return at that bar (rebalanced to equal weights every
    bar); NaN where no asset has one.

    ``asset_returns`` is T bars x A assets (index = bar timestamps, as the returns
    matrix given to ``rate``), each value the asset's close-to-close return into that bar.
    """
    if not isinstance(asset_returns, pd.DataFrame):
        raise TypeError(
            f"asset_returns must be a DataFrame (bars x assets), got {type(asset_returns).__name__}"
        )
    out = asset_returns.mean(axis=1, skipna=True)
    out.name = "universe"
    return out.astype(np.float64)
