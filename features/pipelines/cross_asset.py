"""``cross_asset`` — how each asset moves with the rest of the universe.

Cross-asset statistics need the assets aligned in time, so windows here count panel rows
(timestamps), not each asset's own bars. Returns are still per asset: ``R_{i,t}`` is the
simple return of asset i since its previous bar (its own bar clock), placed at row t and
NaN where the asset has no bar. All statistics at row t use rows up to and including t.

With ``A_t`` the assets with a return at row t, ``n_t = |A_t|``:

* equal-weight index ``M_t = mean_{j in A_t} R_{j,t}`` (rebalanced every bar);
* the *others* of asset i: ``O_{i,t} = mean_{j in A_t, j != i} R_{j,t}`` (leave-one-out,
  so an asset is not correlated with itself; NaN when no other asset has a return).

=======================  =========================================================================
``corr_ew_w``            Pearson correlation of ``R_i`` and ``M`` over the last w rows, w in 21, 63
``beta_ew_w``            ``cov(R_i, M) / var(M)`` over the last w rows, w in 21, 63
``corr_others_w``        correlation of ``R_i`` and ``O_i``, w in 21, 63
``beta_others_63``       ``cov(R_i, O_i) / var(O_i)`` over 63 rows
``lead_corr_63``         ``corr(R_{i,t}, O_{i,t-1})`` over 63 rows: do the others lead asset i?
``lag_corr_63``          ``corr(R_{i,t-1}, O_{i,t})`` over 63 rows: does asset i lead the others?
``others_ret_1``         ``O_{i,t}``, the others' return at this bar (lead-lag input)
``others_ret_5``         ``sum(O_{i,t-4..t})``
``avg_corr_63``          universe co-movement: mean over assets of ``corr_others_63`` at row t
                         (the same value for every asset)
``dispersion_1``         cross-sectional std (ddof=1) of ``R_{.,t}`` (same for every asset)
``dispersion_21``        cross-sectional std of 21-bar returns ``C_t / C_{t-21 bars} - 1``
``xs_z_k``               cross-sectional z-score of the asset's k-bar return,
                         ``(r_k - mean) / std`` over the assets at row t (0 when all are
                         equal), k in 5, 21
=======================  =========================================================================

Window statistics use pairwise-complete rows and need at least 80 % of the window
(17 of 21, 51 of 63) so that an odd missing bar does not blank a quarter of a year.
Features are NaN where the asset has no bar. With a single asset everything that needs
"the others" or a cross-section is NaN: the pipeline is meant for universes of three or
more assets.

Warm-up: 52 rows (``lead_corr_63`` and ``lag_corr_63`` need 51 complete pairs, the first
of which is at row 2).
"""

from __future__ import annotations

import math

import numpy as np

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import PairedWindows, lag, rolling_corr, rolling_sum, safe_divide

CORR_WINDOWS = (21, 63)
LONG = 63
CROSS_SECTION = (5, 21)
DISPERSION = 21
COVERAGE = 0.8
WARMUP = 52


def _min_periods(window: int) -> int:
    return math.ceil(COVERAGE * window)


def cross_sectional_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a ``T x N`` array: (count, mean, std with ddof=1) over finite values."""
    finite = np.isfinite(x)
    count = finite.sum(axis=1).astype(np.float64)
    x0 = np.where(finite, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x0.sum(axis=1) / count
        dev = np.where(finite, x - mean[:, None], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / (count - 1.0))
    mean[count < 1] = np.nan
    std[count < 2] = np.nan
    return count, mean, std


def leave_one_out_mean(x: np.ndarray) -> np.ndarray:
    """``O_{i,t}``: mean of the other assets' finite values at row t."""
    finite = np.isfinite(x)
    count = finite.sum(axis=1, keepdims=True).astype(np.float64)
    total = np.where(finite, x, 0.0).sum(axis=1, keepdims=True)
    others = count - finite
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total - np.where(finite, x, 0.0)) / others
    out[others == 0] = np.nan
    return out


@feature_set(
    "cross_asset",
    requires=("close",),
    min_assets=2,
    description="correlations and betas to the index and the others, lead-lag, dispersion",
)
def cross_asset(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    c = clock.compact(panel["close"])
    ret = clock.expand(safe_divide(c, lag(c, 1)) - 1.0)
    k_returns = {
        k: clock.expand(safe_divide(c, lag(c, k)) - 1.0) for k in {*CROSS_SECTION, DISPERSION}
    }

    _, ew, _ = cross_sectional_moments(ret)
    index = np.broadcast_to(ew[:, None], ret.shape)
    others = leave_one_out_mean(ret)
    to_index = PairedWindows(ret, index)
    to_others = PairedWindows(ret, others)
    columns: dict[str, np.ndarray] = {}
    for w in CORR_WINDOWS:
        columns[f"corr_ew_{w}"] = to_index.corr(w, _min_periods(w))
        columns[f"beta_ew_{w}"] = to_index.beta(w, _min_periods(w))
    for w in CORR_WINDOWS:
        columns[f"corr_others_{w}"] = to_others.corr(w, _min_periods(w))
    columns[f"beta_others_{LONG}"] = to_others.beta(LONG, _min_periods(LONG))
    columns[f"lead_corr_{LONG}"] = rolling_corr(ret, lag(others, 1), LONG, _min_periods(LONG))
    columns[f"lag_corr_{LONG}"] = rolling_corr(lag(ret, 1), others, LONG, _min_periods(LONG))
    columns["others_ret_1"] = others
    columns["others_ret_5"] = rolling_sum(others, 5)

    _, avg_corr, _ = cross_sectional_moments(columns[f"corr_others_{LONG}"])
    columns[f"avg_corr_{LONG}"] = np.broadcast_to(avg_corr[:, None], ret.shape)
    _, _, disp_1 = cross_sectional_moments(ret)
    _, _, disp_k = cross_sectional_moments(k_returns[DISPERSION])
    columns["dispersion_1"] = np.broadcast_to(disp_1[:, None], ret.shape)
    columns[f"dispersion_{DISPERSION}"] = np.broadcast_to(disp_k[:, None], ret.shape)
    for k in CROSS_SECTION:
        _, mean, std = cross_sectional_moments(k_returns[k])
        dev = k_returns[k] - mean[:, None]
        z = safe_divide(dev, np.broadcast_to(std[:, None], dev.shape))
        z[(std[:, None] == 0) & np.isfinite(dev)] = 0.0
        columns[f"xs_z_{k}"] = z

    return feature_frame(columns, panel, clock, compact=False)
