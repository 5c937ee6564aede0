"""``momentum`` — trailing returns over several horizons, their acceleration, and
time-series momentum scaled by volatility.

Every value at bar t uses the asset's closes up to and including t (its own bar clock,
see `features.bar_clock`).

================  ==========================================================================
``mom_k``         ``C_t / C_{t-k} - 1`` for k in 1, 5, 10, 21, 63, 126
``accel_k``       change of momentum over its own horizon: ``mom_k(t) - mom_k(t-k)``
                  for k in 5, 21, 63
``tsmom_k``       time-series momentum scaled by volatility (Moskowitz, Ooi & Pedersen
                  2012): ``log(C_t / C_{t-k}) / (sigma_t * sqrt(k))`` with ``sigma_t`` the
                  sample std (ddof=1) of the last 63 one-bar log returns, for k in
                  5, 21, 63, 126; NaN when ``sigma_t = 0``
================  ==========================================================================

Warm-up: 126 bars (``mom_126``, ``accel_63`` and ``tsmom_126`` need 126 earlier closes).
"""

from __future__ import annotations

import numpy as np

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_std, safe_divide

HORIZONS = (1, 5, 10, 21, 63, 126)
ACCEL = (5, 21, 63)
TSMOM = (5, 21, 63, 126)
VOL_WINDOW = 63
WARMUP = 126


@feature_set(
    "momentum",
    requires=("close",),
    description="returns over 1-126 bars, acceleration, volatility-scaled time-series momentum",
)
def momentum(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    close = clock.compact(panel["close"])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
    columns: dict[str, np.ndarray] = {}
    for k in HORIZONS:
        columns[f"mom_{k}"] = safe_divide(close, lag(close, k)) - 1.0
    for k in ACCEL:
        mom = columns[f"mom_{k}"]
        columns[f"accel_{k}"] = mom - lag(mom, k)
    sigma = rolling_std(log_close - lag(log_close, 1), VOL_WINDOW)
    for k in TSMOM:
        columns[f"tsmom_{k}"] = safe_divide(log_close - lag(log_close, k), sigma * np.sqrt(k))
    return feature_frame(columns, panel, clock)
