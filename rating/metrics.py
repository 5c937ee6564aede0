"""Performance metrics, vectorised over configs.

Every public function accepts one return series (``pd.Series`` or 1-D array → ``float``)
or a T x N matrix of per-bar simple returns, bars down and configs across
(``pd.DataFrame`` → ``pd.Series`` by column, 2-D array → 1-D array). NaN marks a missing
bar and is ignored. Conventions follow empyrical (see docs/metrics.md for every formula
and the few places where we deliberately differ):

- returns are simple per-bar returns; wealth compounds, W_t = Π (1 + r_s), starting at 1;
- standard deviations are sample standard deviations (ddof=1);
- annualisation uses ``periods_per_year`` (default 252);
- a ratio whose denominator is zero (constant returns, no losing bar, no drawdown) is NaN,
  never ±inf, so that degenerate series cannot top a ranking and every value persists;
- maximum drawdown is a negative fraction (-0.25 = 25% below the running peak);
- durations (recovery time, time under water) are counted in bars (rows).

The ``*_from_panel`` kernels take a :class:`rating._panel.Panel` so the engine computes
shared intermediates (moments, wealth curve) once for all metrics.
"""

from __future__ import annotations

import numpy as np

from rating._panel import FloatArray, MetricValue, Panel, ReturnsLike, as_panel, wrap

DEFAULT_PERIODS_PER_YEAR = 252

__all__ = [
    "DEFAULT_PERIODS_PER_YEAR",
    "annual_return",
    "annual_volatility",
    "calmar_ratio",
    "kurtosis",
    "max_drawdown",
    "profit_factor",
    "recovery_time",
    "rolling_sharpe",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "time_under_water",
    "trailing_sharpe",
    "win_rate",
]


def _safe_divide(num: FloatArray, den: FloatArray) -> FloatArray:
    """num / den with NaN where den is zero or NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    return np.where(np.isnan(den), np.nan, out)


# ---- kernels on a Panel (N configs x T bars) ---------------------------------------------
def sharpe_from_panel(panel: Panel, periods_per_year: float) -> FloatArray:
    """mean / std(ddof=1) · √ppy; NaN with < 2 observations or zero dispersion."""
    return _safe_divide(panel.mean, panel.std) * np.sqrt(periods_per_year)


def sortino_from_panel(panel: Panel, periods_per_year: float) -> FloatArray:
    """mean / downside deviation · √ppy, downside deviation = √(mean(min(r, 0)²))."""
    downside = np.minimum(panel.filled, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dd_dev = np.sqrt((downside * downside).sum(axis=1) / panel.n_obs)
    out = _safe_divide(panel.mean, dd_dev) * np.sqrt(periods_per_year)
    return np.where(panel.n_obs >= 2, out, np.nan)


def annual_volatility_from_panel(panel: Panel, periods_per_year: float) -> FloatArray:
    return panel.std * np.sqrt(periods_per_year)


def annual_return_from_panel(panel: Panel, periods_per_year: float) -> FloatArray:
    """CAGR = W_T^(ppy / n_obs) - 1 with n_obs the config's own observation count."""
    final = panel.wealth[:, -1] if panel.n_bars else np.full(panel.n_configs, np.nan)
    n = panel.n_obs
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        cagr = np.power(np.maximum(final, 0.0), periods_per_year / n) - 1.0
    return np.where(n >= 1, cagr, np.nan)


def max_drawdown_from_panel(panel: Panel) -> FloatArray:
    """min_t D_t, a number in [-1, 0]; NaN for a config without observations."""
    if panel.n_bars == 0:
        return np.full(panel.n_configs, np.nan)
    return np.where(panel.n_obs >= 1, panel.drawdown.min(axis=1), np.nan)


def calmar_from_panel(panel: Panel, periods_per_year: float) -> FloatArray:
    """CAGR / |max drawdown|; NaN when there was no drawdown."""
    mdd = max_drawdown_from_panel(panel)
    cagr = annual_return_from_panel(panel, periods_per_year)
    return np.where(mdd < 0, _safe_divide(cagr, -mdd), np.nan)


def recovery_time_from_panel(panel: Panel) -> FloatArray:
    """Bars from the maximum drawdown's trough until wealth regains the prior peak.

    0 when there was no drawdown; NaN when the trough has not been recovered yet (the
    ongoing episode is measured by ``time_under_water``) or there are no observations.
    """
    if panel.n_bars == 0:
        return np.full(panel.n_configs, np.nan)
    dd = panel.drawdown
    trough = dd.argmin(axis=1)
    after = panel.at_peak & (np.arange(panel.n_bars)[None, :] > trough[:, None])
    recovered = after.any(axis=1)
    bars = (after.argmax(axis=1) - trough).astype(np.float64)
    out = np.where(recovered, bars, np.nan)
    out = np.where(dd[np.arange(panel.n_configs), trough] >= 0.0, 0.0, out)
    return np.where(panel.n_obs >= 1, out, np.nan)


def time_under_water_from_panel(panel: Panel) -> FloatArray:
    """Bars since wealth was last at its running peak (0 when at a high on the last bar).

    The starting value counts as a peak, so a config under water since its first bar
    reports its whole history.
    """
    if panel.n_bars == 0:
        return np.full(panel.n_configs, np.nan)
    reversed_peak = panel.at_peak[:, ::-1]
    bars_since = reversed_peak.argmax(axis=1).astype(np.float64)
    # No peak inside the matrix: the last peak was the starting value before row 0.
    bars_since = np.where(reversed_peak.any(axis=1), bars_since, float(panel.n_bars))
    return np.where(panel.n_obs >= 1, bars_since, np.nan)


def win_rate_from_panel(panel: Panel) -> FloatArray:
    """#(r > 0) / #(r ≠ 0): bars with a zero return (flat, no PnL) are not counted."""
    wins = (panel.filled > 0).sum(axis=1).astype(np.float64)
    losses = (panel.filled < 0).sum(axis=1).astype(np.float64)
    return _safe_divide(wins, wins + losses)


def profit_factor_from_panel(panel: Panel) -> FloatArray:
    """Σ r⁺ / Σ |r⁻| over bar returns; NaN when there is no losing bar."""
    gains = np.maximum(panel.filled, 0.0).sum(axis=1)
    losses = -np.minimum(panel.filled, 0.0).sum(axis=1)
    return np.where(panel.n_obs >= 1, _safe_divide(gains, losses), np.nan)


def trailing_sharpe_from_panel(panel: Panel, window: int, periods_per_year: float) -> FloatArray:
    """Sharpe over the last ``window`` rows; NaN unless the config's history covers them.

    "Covers" means its first observation is at or before the window's first row and at
    least half of the window's bars are observed (a config that stopped reporting does
    not get a 60-bar Sharpe from its last 10 bars); NaN bars inside are ignored.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2 bars, got {window}")
    if panel.n_bars < window:
        return np.full(panel.n_configs, np.nan)
    start = panel.n_bars - window
    tail = panel.tail(start)
    out = sharpe_from_panel(tail, periods_per_year)
    covered = (panel.first_valid <= start) & (2 * tail.n_obs >= window)
    return np.where(covered, out, np.nan)


def rolling_sharpe_nt(
    panel: Panel, window: int, periods_per_year: float, min_periods: int
) -> FloatArray:
    """N x T rolling Sharpe over trailing ``window`` rows (NaN-aware, via cumulative sums).

    Values are centred by each config's full-sample mean before accumulating, which keeps
    the running-sum variance formula numerically stable; the Sharpe itself uses the
    window's own mean.
    """
    if window < 2:
        raise ValueError(f"window must be >= 2 bars, got {window}")
    min_periods = max(min_periods, 2)
    mu = np.where(np.isnan(panel.mean), 0.0, panel.mean)
    centered = np.where(panel.valid, panel.filled - mu[:, None], 0.0)

    def windowed(x: FloatArray) -> FloatArray:
        c = np.cumsum(x, axis=1)
        out = c.copy()
        out[:, window:] -= c[:, :-window]
        return out

    n = windowed(panel.valid.astype(np.float64))
    s1 = windowed(centered)
    s2 = windowed(centered * centered)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = s1 / n
        var = np.maximum(s2 - s1 * mean_c, 0.0) / (n - 1)
        std = np.sqrt(var)
        mean = mean_c + mu[:, None]
        # Cancellation leaves a residue of ~1e-8 x RMS in a constant window: treat as 0.
        zero = std <= 1e-6 * np.sqrt(s2 / n)
        out: FloatArray = np.where(zero, np.nan, mean / std) * np.sqrt(periods_per_year)
    return np.where(n >= min_periods, out, np.nan)


# ---- public, column-wise API --------------------------------------------------------------
def sharpe_ratio(
    returns: ReturnsLike, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """Annualised Sharpe ratio: mean(r) / std(r, ddof=1) · √periods_per_year (rf = 0)."""
    panel, token = as_panel(returns)
    return wrap(sharpe_from_panel(panel, periods_per_year), token)


def sortino_ratio(
    returns: ReturnsLike, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """Annualised Sortino ratio: mean(r) / √(mean(min(r, 0)²)) · √periods_per_year."""
    panel, token = as_panel(returns)
    return wrap(sortino_from_panel(panel, periods_per_year), token)


def annual_volatility(
    returns: ReturnsLike, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """std(r, ddof=1) · √periods_per_year."""
    panel, token = as_panel(returns)
    return wrap(annual_volatility_from_panel(panel, periods_per_year), token)


def annual_return(
    returns: ReturnsLike, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """Compound annual growth rate: (Π (1 + r))^(periods_per_year / n_obs) - 1."""
    panel, token = as_panel(returns)
    return wrap(annual_return_from_panel(panel, periods_per_year), token)


def max_drawdown(returns: ReturnsLike) -> MetricValue:
    """Largest peak-to-trough fall of the wealth curve starting at 1, as a value ≤ 0."""
    panel, token = as_panel(returns)
    return wrap(max_drawdown_from_panel(panel), token)


def calmar_ratio(
    returns: ReturnsLike, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """annual_return / |max_drawdown|; NaN when there was no drawdown."""
    panel, token = as_panel(returns)
    return wrap(calmar_from_panel(panel, periods_per_year), token)


def recovery_time(returns: ReturnsLike) -> MetricValue:
    """Bars from the max-drawdown trough back to the previous peak (NaN: not recovered)."""
    panel, token = as_panel(returns)
    return wrap(recovery_time_from_panel(panel), token)


def time_under_water(returns: ReturnsLike) -> MetricValue:
    """Bars since the wealth curve was last at its running peak (0 = at a high now)."""
    panel, token = as_panel(returns)
    return wrap(time_under_water_from_panel(panel), token)


def win_rate(returns: ReturnsLike) -> MetricValue:
    """Share of winning bars among bars with a non-zero return."""
    panel, token = as_panel(returns)
    return wrap(win_rate_from_panel(panel), token)


def profit_factor(returns: ReturnsLike) -> MetricValue:
    """Sum of positive bar returns / |sum of negative bar returns|."""
    panel, token = as_panel(returns)
    return wrap(profit_factor_from_panel(panel), token)


def skewness(returns: ReturnsLike) -> MetricValue:
    """Moment skewness m3 / m2^1.5 (biased estimator, scipy.stats.skew default)."""
    panel, token = as_panel(returns)
    return wrap(panel.skew, token)


def kurtosis(returns: ReturnsLike) -> MetricValue:
    """Pearson kurtosis m4 / m2² (normal = 3; scipy.stats.kurtosis(fisher=False))."""
    panel, token = as_panel(returns)
    return wrap(panel.kurtosis, token)


def trailing_sharpe(
    returns: ReturnsLike, window: int, periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
) -> MetricValue:
    """Sharpe ratio over the last ``window`` bars; NaN for a config that started later."""
    panel, token = as_panel(returns)
    return wrap(trailing_sharpe_from_panel(panel, window, periods_per_year), token)


def rolling_sharpe(
    returns: ReturnsLike,
    window: int,
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR,
    min_periods: int | None = None,
) -> FloatArray:
    """Rolling annualised Sharpe over trailing ``window`` bars, same shape as ``returns``.

    A value needs at least ``min_periods`` (default ``window``) valid bars in its window.
    Returns an ndarray shaped like the input (T or T x N); wrap it in a DataFrame with the
    input's index and columns if needed.
    """
    panel, token = as_panel(returns)
    out = rolling_sharpe_nt(
        panel, window, periods_per_year, window if min_periods is None else min_periods
    )
    if token is None:
        return out[0]
    return np.ascontiguousarray(out.T)
