"""``volatility`` — range-based and close-to-close volatility estimators, their dynamics.

Every value at bar t uses the asset's bars up to and including t (its own bar clock).
Volatilities are per bar (not annualised) so they are comparable across bar lengths
through the preprocessor; multiply by ``sqrt(252)`` for annual units on daily bars. A
window of n bars ending at t uses bars ``t-n+1 .. t``; variance estimates that come out
negative (possible for Garman-Klass on inconsistent bars) are clipped to 0.

With ``o_t = ln(O_t / C_{t-1})`` (overnight), ``c_t = ln(C_t / O_t)`` (open to close),
``r_t = ln(C_t / C_{t-1})``, ``u_t = ln(H_t / O_t)``, ``d_t = ln(L_t / O_t)``:

====================  ==============================================================================
``natr_n``            ``NATR(H, L, C, n) / 100`` = Wilder ATR / close (TA-Lib, on prices relative
                      to the first close), n in 14, 28
``vol_cc_n``          close-to-close: ``std(r)`` over n bars (ddof=1), n in 10, 21, 63
``vol_parkinson_n``   Parkinson (1980): ``sqrt(mean(ln(H/L)^2) / (4 ln 2))``, n in 21, 63
``vol_gk_n``          Garman & Klass (1980):
                      ``sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) c^2))``, n in 21, 63
``vol_yz_n``          Yang & Zhang (2000): ``sqrt(s_o^2 + k s_c^2 + (1 - k) s_rs^2)`` with
                      ``s_o^2 = var(o)``, ``s_c^2 = var(c)`` (ddof=1),
                      ``s_rs^2 = mean(u (u - c) + d (d - c))`` (Rogers & Satchell 1991) and
                      ``k = 0.34 / (1.34 + (n + 1) / (n - 1))``; n in 21, 63
``vol_of_vol``        volatility of volatility: coefficient of variation ``std / mean`` (ddof=1)
                      of ``vol_cc_21`` over the last 63 bars
``vol_ratio_10_63``   realised-volatility term structure ``vol_cc_10 / vol_cc_63``
``vol_ratio_21_63``   ``vol_cc_21 / vol_cc_63``
====================  ==============================================================================

(``u (u - c) + d (d - c) = ln(H/C) ln(H/O) + ln(L/C) ln(L/O)``, the Rogers-Satchell term.)

On close-only data (no open, high or low: adjusted-close universes such as ``sp500-20``)
the pipeline computes the close-to-close rows only (``vol_cc_n``, ``vol_of_vol``,
``vol_ratio_*``); nothing range-based is approximated from closes. On OHLC data the output
is unchanged.

Warm-up: 83 bars (``vol_of_vol``: 21 bars for the first ``vol_cc_21``, then 63 of them).
"""

from __future__ import annotations

import numpy as np
import talib

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_mean, rolling_std, rolling_var, safe_divide
from features.talib_util import per_asset, relative_prices

ATR = (14, 28)
CLOSE_TO_CLOSE = (10, 21, 63)
RANGE_BASED = (21, 63)
VOL_OF_VOL = (21, 63)
RANGE_INPUTS = ("open", "high", "low")
WARMUP = 83

_LN2 = float(np.log(2.0))


def yang_zhang_k(n: int) -> float:
    """Yang-Zhang's weight ``k = 0.34 / (1.34 + (n + 1) / (n - 1))``."""
    return 0.34 / (1.34 + (n + 1) / (n - 1))


def _sqrt_clipped(variance: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(variance, 0.0))


@feature_set(
    "volatility",
    requires=("close",),
    optional=RANGE_INPUTS,
    description="ATR, close-to-close, Parkinson, Garman-Klass, Yang-Zhang, vol of vol, ratios "
    "(close-to-close only on close-only data)",
)
def volatility(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    c = clock.compact(panel["close"])
    columns: dict[str, np.ndarray] = {}
    if not all(k in panel for k in RANGE_INPUTS):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c = np.log(c)
            r = log_c - lag(log_c, 1)
        cc = {n: rolling_std(r, n) for n in CLOSE_TO_CLOSE}
        for n in CLOSE_TO_CLOSE:
            columns[f"vol_cc_{n}"] = cc[n]
        _dynamics(columns, cc)
        return feature_frame(columns, panel, clock)
    o, h, low = (clock.compact(panel[k]) for k in RANGE_INPUTS)

    rel_c, rel_h, rel_l = relative_prices(c, h, low)
    for n in ATR:
        (natr,) = per_asset(talib.NATR, [rel_h, rel_l, rel_c], timeperiod=n)
        columns[f"natr_{n}"] = natr / 100.0

    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(c)
        log_o = np.log(o)
        r = log_c - lag(log_c, 1)
        overnight = log_o - lag(log_c, 1)
        open_close = log_c - log_o
        hl = np.log(h / low)
        u = np.log(h) - log_o
        d = np.log(low) - log_o
    rs_term = u * (u - open_close) + d * (d - open_close)
    gk_term = 0.5 * hl * hl - (2.0 * _LN2 - 1.0) * open_close * open_close

    cc = {n: rolling_std(r, n) for n in CLOSE_TO_CLOSE}
    for n in CLOSE_TO_CLOSE:
        columns[f"vol_cc_{n}"] = cc[n]
    for n in RANGE_BASED:
        columns[f"vol_parkinson_{n}"] = _sqrt_clipped(rolling_mean(hl * hl, n) / (4.0 * _LN2))
    for n in RANGE_BASED:
        columns[f"vol_gk_{n}"] = _sqrt_clipped(rolling_mean(gk_term, n))
    for n in RANGE_BASED:
        k = yang_zhang_k(n)
        variance = (
            rolling_var(overnight, n)
            + k * rolling_var(open_close, n)
            + (1.0 - k) * rolling_mean(rs_term, n)
        )
        columns[f"vol_yz_{n}"] = _sqrt_clipped(variance)

    _dynamics(columns, cc)
    return feature_frame(columns, panel, clock)


def _dynamics(columns: dict[str, np.ndarray], cc: dict[int, np.ndarray]) -> None:
    """Volatility of volatility and the term-structure ratios, from close-to-close vols."""
    inner, outer = VOL_OF_VOL
    columns["vol_of_vol"] = safe_divide(
        rolling_std(cc[inner], outer), rolling_mean(cc[inner], outer)
    )
    columns["vol_ratio_10_63"] = safe_divide(cc[10], cc[63])
    columns["vol_ratio_21_63"] = safe_divide(cc[21], cc[63])
