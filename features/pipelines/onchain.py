"""``onchain`` — growth, z-scores and ratios of every on-chain metric in the panel.

Input: every panel column whose name starts with ``onchain_`` (e.g.
``onchain_active_addresses``, ``onchain_tx_count``, ``onchain_exchange_netflow``,
``onchain_hash_rate``), aligned to the bars by the factory as of each bar (a metric for
day d must only appear once it was published). Assets without on-chain data (equities)
have NaN metrics and hence NaN features. Windows count panel rows (on-chain data is on
calendar time). Every value at row t uses rows up to and including t.

The transforms must work for counts (positive, often trending by orders of magnitude)
and for flows (signed, e.g. exchange net flow), so growth is scaled by the trailing mean
*absolute* value rather than taken as a log. For each metric ``x`` (feature names keep
the column name, e.g. ``onchain_tx_count_z_30``), with
``a_t = mean(|x|)`` over the last 30 rows:

======================  ===========================================================================
``<metric>_chg_k``      growth ``(x_t - x_{t-k}) / a_t``, k in 7, 30 (for a positive metric about
                        the relative change)
``<metric>_z_w``        z-score ``(x_t - mean_w(x)) / std_w(x)`` (ddof=1; 0 when x is constant over
                        the window), w in 30, 90
``<metric>_ratio_7_30`` ratio of short to long activity ``mean_7(x) / a_t`` (1 for a steady
                        positive metric; for a flow, its recent average in units of its typical
                        size)
======================  ===========================================================================

Rolling statistics need 80 % of their window (missing daily values are tolerated);
``x_{t-k}`` must exist. Means use cumulative sums (`features.rolling`); the z-score's
variance uses ``pandas.DataFrame.rolling`` because raw on-chain levels have a large offset
relative to their spread. Features are NaN where the asset has no bar.

Warm-up: 72 rows (``z_90`` needs 72 values).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_mean, safe_divide

PREFIX = "onchain_"
GROWTH = (7, 30)
Z_WINDOWS = (30, 90)
SHORT, LONG = 7, 30
COVERAGE = 0.8
WARMUP = math.ceil(COVERAGE * max(Z_WINDOWS)) - 1


def _min_periods(window: int) -> int:
    return math.ceil(COVERAGE * window)


def level_zscore(x: np.ndarray, window: int) -> np.ndarray:
    """Rolling z-score of a level series, variance by pandas (robust to a large offset)."""
    rolling = pd.DataFrame(x).rolling(window, min_periods=_min_periods(window))
    mean = rolling.mean().to_numpy()
    std = rolling.std(ddof=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / std
    z[(std == 0) & np.isfinite(x)] = 0.0
    return z


def metric_columns(panel: Panel) -> tuple[str, ...]:
    """The on-chain metric columns of ``panel``, sorted."""
    return tuple(sorted(c for c in panel.columns if c.startswith(PREFIX)))


@feature_set(
    "onchain",
    requires=("close", f"{PREFIX}*"),
    description="growth, z-scores and activity ratios of on-chain metrics",
)
def onchain(panel: Panel) -> FeatureFrame:
    columns: dict[str, np.ndarray] = {}
    for metric in metric_columns(panel):
        values = panel[metric].to_numpy(dtype=np.float64)
        # Only assets that have this metric at all are computed (the rest stay NaN);
        # on a mixed universe that is a small part of the columns.
        covered = np.flatnonzero(np.isfinite(values).any(axis=0))
        x = values[:, covered]
        typical = rolling_mean(np.abs(x), LONG, _min_periods(LONG))
        metric_features = {f"{metric}_chg_{k}": safe_divide(x - lag(x, k), typical) for k in GROWTH}
        for w in Z_WINDOWS:
            metric_features[f"{metric}_z_{w}"] = level_zscore(x, w)
        metric_features[f"{metric}_ratio_{SHORT}_{LONG}"] = safe_divide(
            rolling_mean(x, SHORT, _min_periods(SHORT)), typical
        )
        for name, feature in metric_features.items():
            full = np.full(values.shape, np.nan)
            full[:, covered] = feature
            columns[name] = full
    return feature_frame(columns, panel, BarClock.of(panel), compact=False)
