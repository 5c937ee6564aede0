"""``technical`` — classic technical indicators, computed with TA-Lib.

Every indicator is TA-Lib's own C implementation (``talib.<FUNCTION>``), run per asset on
the asset's own bars (`features.talib_util.per_asset`) with prices divided by the asset's
first close (`features.talib_util.relative_prices`; no indicator below depends on the
price scale), so the formulas are the reference ones rather than re-derivations. Only the final rescaling below is ours; it
makes every value scale-free (oscillators in units of 1 instead of 100, price-valued
outputs divided by the close) so that one pooled model can read every asset.

==========================  ==================================================================
``rsi_n``                   ``RSI(C, n) / 100`` — Wilder's relative strength index, n in
                            7, 14, 28. ``RSI = 100 - 100 / (1 + avg gain / avg loss)`` with
                            Wilder smoothing (``a_t = a_{t-1} + (x_t - a_{t-1}) / n``)
``macd_f_s``                ``MACD(C, f, s, g).macd / C_t`` = ``(EMA_f(C) - EMA_s(C)) / C_t``
``macd_signal_f_s``         ``EMA_g(macd) / C_t``
``macd_hist_f_s``           ``(macd - signal) / C_t``; (f, s, g) in (12, 26, 9), (24, 52, 18)
``bb_pctb_n``               Bollinger %B from ``BBANDS(C, n, 2, 2, SMA)``:
                            ``(C_t - lower) / (upper - lower)``; 0.5 when the band has zero
                            width; n in 10, 20, 50. Bands are ``SMA_n ± 2 sigma_n`` with the
                            population std (ddof=0)
``bb_width_n``              ``(upper - lower) / middle`` = ``4 sigma_n / SMA_n``
``stoch_k_n``, ``stoch_d_n``  slow stochastic ``STOCH(H, L, C, n, 3, SMA, 3, SMA) / 100``:
                            ``%K_fast = (C_t - LL_n) / (HH_n - LL_n)``, ``k`` = SMA_3 of
                            ``%K_fast``, ``d`` = SMA_3 of ``k``; n in 5, 14
``adx_n``                   ``ADX(H, L, C, n) / 100`` — average directional index, n in 14, 28
``di_n``                    ``(PLUS_DI(H, L, C, n) - MINUS_DI(H, L, C, n)) / 100``
``cci_n``                   ``CCI(H, L, C, n) / 100`` with ``CCI = (TP - SMA_n(TP)) /
                            (0.015 * meandev_n(TP))``, ``TP = (H + L + C) / 3``; n in 14, 28
``obv_k``                   on-balance volume, normalised:
                            ``(OBV_t - OBV_{t-k}) / sum(V_{t-k+1..t})`` =
                            ``sum(sign(C_s - C_{s-1}) V_s) / sum(V_s)`` over the last k bars,
                            in [-1, 1] (0 when no volume traded); k in 10, 21.
                            ``OBV`` from ``talib.OBV(C, V)``
``mfi_n``                   ``MFI(H, L, C, V, n) / 100`` — money flow index, n in 14, 28
``willr_n``                 ``WILLR(H, L, C, n) / 100`` = ``(HH_n - C_t) / (HH_n - LL_n) * -1``,
                            in [-1, 0]; n in 14, 28
==========================  ==================================================================

Degenerate windows follow TA-Lib's conventions: with no price movement at all RSI,
stochastic, %R, MFI, CCI and ADX are 0 (not a neutral value). Only %B is ours and is set
to 0.5 on a zero-width band.

Warm-up: 68 bars (MACD 24/52/18: 51 bars for the slow EMA plus 17 for the signal EMA).
"""

from __future__ import annotations

import numpy as np
import talib

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_sum, safe_divide
from features.talib_util import per_asset, relative_prices

RSI = (7, 14, 28)
MACD = ((12, 26, 9), (24, 52, 18))
BOLLINGER = (10, 20, 50)
STOCH = (5, 14)
ADX = (14, 28)
CCI = (14, 28)
OBV = (10, 21)
MFI = (14, 28)
WILLR = (14, 28)
WARMUP = 68


@feature_set(
    "technical",
    requires=("high", "low", "close", "volume"),
    description="TA-Lib RSI, MACD, Bollinger, stochastic, ADX, CCI, OBV, MFI, Williams %R",
)
def technical(panel: Panel) -> FeatureFrame:
    clock = BarClock.of(panel)
    # Prices relative to the asset's first close; Fortran order keeps each asset's series
    # contiguous, as TA-Lib needs it.
    c, h, low = relative_prices(*(clock.compact(panel[k]) for k in ("close", "high", "low")))
    v = np.asfortranarray(clock.compact(panel["volume"]))
    columns: dict[str, np.ndarray] = {}

    for n in RSI:
        (rsi,) = per_asset(talib.RSI, [c], timeperiod=n)
        columns[f"rsi_{n}"] = rsi / 100.0

    for fast, slow, signal in MACD:
        line, sig, hist = per_asset(
            talib.MACD,
            [c],
            outputs=3,
            fastperiod=fast,
            slowperiod=slow,
            signalperiod=signal,
        )
        columns[f"macd_{fast}_{slow}"] = safe_divide(line, c)
        columns[f"macd_signal_{fast}_{slow}"] = safe_divide(sig, c)
        columns[f"macd_hist_{fast}_{slow}"] = safe_divide(hist, c)

    for n in BOLLINGER:
        upper, middle, lower = per_asset(
            talib.BBANDS,
            [c],
            outputs=3,
            timeperiod=n,
            nbdevup=2.0,
            nbdevdn=2.0,
            matype=0,
        )
        width = upper - lower
        pctb = safe_divide(c - lower, width)
        pctb[width == 0] = 0.5
        columns[f"bb_pctb_{n}"] = pctb
        columns[f"bb_width_{n}"] = safe_divide(width, middle)

    for n in STOCH:
        slow_k, slow_d = per_asset(
            talib.STOCH,
            [h, low, c],
            outputs=2,
            fastk_period=n,
            slowk_period=3,
            slowk_matype=0,
            slowd_period=3,
            slowd_matype=0,
        )
        columns[f"stoch_k_{n}"] = slow_k / 100.0
        columns[f"stoch_d_{n}"] = slow_d / 100.0

    for n in ADX:
        (adx,) = per_asset(talib.ADX, [h, low, c], timeperiod=n)
        (plus,) = per_asset(talib.PLUS_DI, [h, low, c], timeperiod=n)
        (minus,) = per_asset(talib.MINUS_DI, [h, low, c], timeperiod=n)
        columns[f"adx_{n}"] = adx / 100.0
        columns[f"di_{n}"] = (plus - minus) / 100.0

    for n in CCI:
        (cci,) = per_asset(talib.CCI, [h, low, c], timeperiod=n)
        columns[f"cci_{n}"] = cci / 100.0

    (obv,) = per_asset(talib.OBV, [c, v])
    for k in OBV:
        traded = rolling_sum(v, k)
        change = obv - lag(obv, k)
        flow = safe_divide(change, traded)
        flow[(traded == 0) & np.isfinite(change)] = 0.0
        columns[f"obv_{k}"] = flow

    for n in MFI:
        (mfi,) = per_asset(talib.MFI, [h, low, c, v], timeperiod=n)
        columns[f"mfi_{n}"] = mfi / 100.0

    for n in WILLR:
        (willr,) = per_asset(talib.WILLR, [h, low, c], timeperiod=n)
        columns[f"willr_{n}"] = willr / 100.0

    return feature_frame(columns, panel, clock)
