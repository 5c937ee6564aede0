"""``ohlcv`` — the raw bar, made comparable across assets and time.

Every value at bar t uses the asset's bars up to and including t (its own bar clock,
see `features.bar_clock`). Prices enter only as ratios and volume only relative to its
own trailing mean, so one pooled model can read every asset.

================  ==========================================================================
``ret_1``         close-to-close return ``C_t / C_{t-1} - 1``
``gap``           opening gap ``O_t / C_{t-1} - 1``
``body``          ``(C_t - O_t) / C_t``
``range``         ``(H_t - L_t) / C_t``
``upper``         upper shadow ``(H_t - max(O_t, C_t)) / C_t``
``lower``         lower shadow ``(min(O_t, C_t) - L_t) / C_t``
``close_pos``     where the close sits in the bar's range ``(C_t - L_t) / (H_t - L_t)``;
                  0.5 when ``H_t = L_t``
``volume``        ``log(max(V_t, 0.05 m_t) / m_t)`` with ``m_t`` the mean volume of bars
                  ``t-19 .. t``: volume relative to its trailing 20-bar mean, floored at
                  5 % of it (a zero-volume bar gives ``log 0.05 = -3.0``, not −∞); 0 when
                  ``m_t = 0``
``volume_trend``  ``log(max(s_t, 0.05 m_t) / m_t)`` with ``s_t`` the mean volume of bars
                  ``t-4 .. t``; 0 when ``m_t = 0``
================  ==========================================================================

Warm-up: 19 bars (the 20-bar volume mean); ``WARMUP`` is the number of leading bars of a
gap-free asset that have at least one NaN feature.
"""

from __future__ import annotations

import numpy as np

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_mean, safe_divide

VOLUME_WINDOW = 20
VOLUME_SHORT = 5
VOLUME_FLOOR = 0.05
WARMUP = VOLUME_WINDOW - 1


@feature_set(
    "ohlcv",
    requires=("open", "high", "low", "close", "volume"),
    description="bar returns, ranges relative to close, volume relative to its trailing mean",
)
def ohlcv(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    o, h, low, c, v = (clock.compact(panel[k]) for k in ("open", "high", "low", "close", "volume"))
    prev_close = lag(c, 1)
    top = np.maximum(o, c)
    bottom = np.minimum(o, c)
    mean_volume = rolling_mean(v, VOLUME_WINDOW)
    short_volume = rolling_mean(v, VOLUME_SHORT)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_volume = np.log(np.maximum(v, VOLUME_FLOOR * mean_volume) / mean_volume)
        trend = np.log(np.maximum(short_volume, VOLUME_FLOOR * mean_volume) / mean_volume)
    rel_volume[mean_volume == 0] = 0.0
    trend[mean_volume == 0] = 0.0
    bar_range = h - low
    close_pos = safe_divide(c - low, bar_range)
    close_pos[bar_range == 0] = 0.5
    columns = {
        "ret_1": safe_divide(c, prev_close) - 1.0,
        "gap": safe_divide(o, prev_close) - 1.0,
        "body": safe_divide(c - o, c),
        "range": safe_divide(bar_range, c),
        "upper": safe_divide(h - top, c),
        "lower": safe_divide(bottom - low, c),
        "close_pos": close_pos,
        "volume": rel_volume,
        "volume_trend": trend,
    }
    return feature_frame(columns, panel, clock)
