"""Serial correlation of returns: the variance inflation of the mean and the effective
number of observations behind a Sharpe ratio's standard error.

PSR, DSR and MinTRL (rating.overfitting) assume iid returns: the standard error of the
per-period Sharpe ratio is √((1 - γ3·SR + (γ4-1)/4·SR²) / (n - 1)). With positively
autocorrelated returns (momentum in the traded assets, persistent positions, smoothing)
the mean of n returns varies more than σ²/n, by the *variance inflation factor*

    f = 1 + 2 Σ_{k≥1} ρ_k             (ρ_k the lag-k autocorrelation)

so the iid standard error is too small by √f and zero-skill configs pass the PSR/DSR
gate too often (an AR(1) with ρ = 0.4 has f = 2.33: a PSR ≥ 0.95 false-positive rate
of 14% instead of 5%). The correction replaces n - 1 by (n - 1)/f, i.e. uses the
effective number of observations n_eff = 1 + (n - 1)/f (Lo 2002 makes the same
adjustment for an AR(1); here f is estimated without assuming a model).

Estimator: Geyer's initial positive sequence (Geyer 1992, "Practical Markov Chain Monte
Carlo", Statistical Science 7(4), 473-483), the effective-sample-size estimator of MCMC
practice. With the sample autocovariances γ̂_k (biased, divisor n, each config's own
mean) and the pair sums Γ_m = γ̂_{2m} + γ̂_{2m+1}, sum the pairs until the first one that
is not positive:

    f̂ = (2 Σ_{m<M} Γ_m - γ̂_0) / γ̂_0,      M = first m with Γ_m ≤ 0

It adapts its truncation to the data (unlike a fixed-bandwidth Newey-West/Bartlett
estimator, which is biased low for persistent processes and over-rejected in our
simulation; docs/metrics.md has the table) and needs no model. f̂ is floored at 1: a
negative autocorrelation would shrink the standard error below the iid one, and a noisy
f̂ below 1 on iid data would make the gate less conservative than the iid formula. The
floor keeps the adjustment from ever loosening the test.

Hand-written (vectorised over configs with one FFT) because no maintained library in
the environment provides it: arviz's ``ess`` does, but arviz is not a dependency and
works per chain, not per column of a NaN-padded matrix.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from rating._panel import FloatArray, IntArray, MetricValue, Panel, ReturnsLike, as_panel, wrap

__all__ = [
    "MAX_PAIRS",
    "autocovariances_from_panel",
    "effective_observations",
    "variance_inflation",
    "variance_inflation_from_panel",
]

#: At most this many lag pairs (lags 0..201) are summed, and at most n_obs // 4 pairs of
#: a config (higher lags are estimated from too few products to be informative).
MAX_PAIRS = 100
#: Below this many observations the estimate is not attempted (f = 1).
MIN_OBS = 8


def autocovariances_from_panel(panel: Panel, max_lag: int) -> FloatArray:
    """N x (max_lag + 1) sample autocovariances γ̂_0..γ̂_max_lag of each config.

    γ̂_k = Σ_t x_t x_{t+k} / n with x the config's values centred by its own mean and 0
    on missing bars (so a product counts only where both bars are observed), n its
    number of observations: the standard biased estimator (statsmodels ``acf`` with
    ``adjusted=False``) computed for all configs at once by FFT.
    """
    centered, _ = panel.centered_and_squared
    n_bars = panel.n_bars
    max_lag = min(max_lag, max(n_bars - 1, 0))
    if n_bars == 0:
        return np.zeros((panel.n_configs, 1))
    # Zero-padding to n_bars + max_lag keeps the circular correlation exact for lags
    # 0..max_lag (wrap-around only reaches lags beyond the padding).
    size = fft.next_fast_len(n_bars + max_lag + 1, real=True)
    spectrum = fft.rfft(centered, n=size, axis=1)
    raw = fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, : max_lag + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = raw / panel.n_obs[:, None]
    return out


def variance_inflation_from_panel(panel: Panel) -> FloatArray:
    """f̂ ≥ 1 per config (Geyer's initial positive sequence, see the module docstring).

    1 for configs with fewer than ``MIN_OBS`` observations or zero dispersion.
    """
    n_obs: IntArray = panel.n_obs
    pairs_cap = int(min(MAX_PAIRS, max(int(n_obs.max(initial=0)) // 4, 0)))
    out = np.ones(panel.n_configs)
    if pairs_cap < 1:
        return out
    gamma = autocovariances_from_panel(panel, 2 * pairs_cap + 1)
    if gamma.shape[1] < 2 * pairs_cap + 2:  # fewer bars than lags: pad with zeros
        gamma = np.pad(gamma, ((0, 0), (0, 2 * pairs_cap + 2 - gamma.shape[1])))
    g0 = gamma[:, 0]
    pair_sums = gamma[:, 0::2][:, :pairs_cap] + gamma[:, 1::2][:, :pairs_cap]
    allowed = np.arange(pairs_cap)[None, :] < (n_obs // 4)[:, None]
    allowed[:, 0] = True
    positive = np.cumprod((pair_sums > 0) & allowed, axis=1).astype(bool)
    total = np.where(positive, pair_sums, 0.0).sum(axis=1)
    ok = (n_obs >= MIN_OBS) & (g0 > 0) & np.isfinite(g0)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = (2.0 * total - g0) / g0
    out[ok] = np.maximum(factor[ok], 1.0)
    return out


def variance_inflation(returns: ReturnsLike) -> MetricValue:
    """Variance inflation factor f̂ ≥ 1 of the mean of each config's returns.

    Same input shapes as ``rating.metrics`` (Series/1-D → float, DataFrame → Series by
    column, 2-D array → array). NaN bars are missing; products across a missing bar are
    left out. See the module docstring for the estimator.
    """
    panel, token = as_panel(returns)
    return wrap(variance_inflation_from_panel(panel), token)


def effective_observations(n_obs: FloatArray | float, inflation: FloatArray | float) -> FloatArray:
    """n_eff = 1 + (n - 1) / f: the iid sample size with the same Sharpe standard error.

    Pass it as ``n_obs`` to ``probabilistic_sharpe_ratio`` / ``deflated_sharpe_ratio``
    (their √(n - 1) becomes √((n - 1)/f)).
    """
    n = np.asarray(n_obs, dtype=np.float64)
    f = np.asarray(inflation, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(n >= 1, 1.0 + (n - 1.0) / f, n)
    return out
