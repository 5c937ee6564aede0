"""ohlcv, momentum and volatility features against per-window numpy/pandas formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import get_feature_set
from tests.features.helpers import column, dense_panel

PANEL = dense_panel(n_bars=240, n_assets=3, seed=5)
OHLCV = get_feature_set("ohlcv")(PANEL)
MOM = get_feature_set("momentum")(PANEL)
VOL = get_feature_set("volatility")(PANEL)
ASSETS = range(3)


def ohlc(a: int) -> tuple[np.ndarray, ...]:
    return tuple(column(PANEL, k, a) for k in ("open", "high", "low", "close", "volume"))


@pytest.mark.parametrize("a", ASSETS)
def test_ohlcv_bar_shapes(a: int) -> None:
    o, h, low, c, v = ohlc(a)
    f = {n: OHLCV.feature(n).to_numpy()[:, a] for n in OHLCV.names}
    np.testing.assert_allclose(f["ret_1"][1:], c[1:] / c[:-1] - 1, rtol=1e-12)
    np.testing.assert_allclose(f["gap"][1:], o[1:] / c[:-1] - 1, rtol=1e-12)
    np.testing.assert_allclose(f["body"], (c - o) / c, rtol=1e-12)
    np.testing.assert_allclose(f["range"], (h - low) / c, rtol=1e-12)
    np.testing.assert_allclose(f["upper"], (h - np.maximum(o, c)) / c, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(f["lower"], (np.minimum(o, c) - low) / c, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(f["close_pos"], (c - low) / (h - low), rtol=1e-12)
    m20 = pd.Series(v).rolling(20).mean().to_numpy()
    m5 = pd.Series(v).rolling(5).mean().to_numpy()
    np.testing.assert_allclose(f["volume"], np.log(np.maximum(v, 0.05 * m20) / m20), rtol=1e-9)
    np.testing.assert_allclose(
        f["volume_trend"], np.log(np.maximum(m5, 0.05 * m20) / m20), rtol=1e-9
    )


@pytest.mark.parametrize("a", ASSETS)
def test_momentum_matches_pandas(a: int) -> None:
    c = pd.Series(ohlc(a)[3])
    for k in (1, 5, 10, 21, 63, 126):
        np.testing.assert_allclose(
            MOM.feature(f"mom_{k}").to_numpy()[:, a], (c / c.shift(k) - 1).to_numpy(), rtol=1e-12
        )
    for k in (5, 21, 63):
        mom = c / c.shift(k) - 1
        np.testing.assert_allclose(
            MOM.feature(f"accel_{k}").to_numpy()[:, a], (mom - mom.shift(k)).to_numpy(), rtol=1e-9
        )
    log_c = pd.Series(np.log(c.to_numpy()))
    sigma = log_c.diff().rolling(63).std(ddof=1)
    for k in (5, 21, 63, 126):
        expected = (log_c - log_c.shift(k)) / (sigma * math.sqrt(k))
        np.testing.assert_allclose(
            MOM.feature(f"tsmom_{k}").to_numpy()[:, a], expected.to_numpy(), rtol=1e-7
        )


def _windows(x: np.ndarray, n: int) -> list[tuple[int, np.ndarray]]:
    return [(t, x[t - n + 1 : t + 1]) for t in range(n - 1, len(x))]


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("n", [21, 63])
def test_range_based_estimators_follow_their_papers(a: int, n: int) -> None:
    o, h, low, c, _ = ohlc(a)
    T = len(c)
    prev_c = np.concatenate(([np.nan], c[:-1]))
    parkinson, gk, yz = (np.full(T, np.nan) for _ in range(3))
    for t, idx in _windows(np.arange(T), n):
        hh, ll, oo, cc = h[idx], low[idx], o[idx], c[idx]
        # Parkinson (1980)
        parkinson[t] = math.sqrt(np.sum(np.log(hh / ll) ** 2) / (4 * n * math.log(2)))
        # Garman-Klass (1980)
        gk_var = np.mean(0.5 * np.log(hh / ll) ** 2 - (2 * math.log(2) - 1) * np.log(cc / oo) ** 2)
        gk[t] = math.sqrt(max(gk_var, 0.0))
        if t >= n:  # Yang-Zhang (2000) needs the previous close of every bar
            overnight = np.log(oo / prev_c[idx])
            open_close = np.log(cc / oo)
            rs = np.mean(np.log(hh / cc) * np.log(hh / oo) + np.log(ll / cc) * np.log(ll / oo))
            k = 0.34 / (1.34 + (n + 1) / (n - 1))
            yz[t] = math.sqrt(overnight.var(ddof=1) + k * open_close.var(ddof=1) + (1 - k) * rs)
    np.testing.assert_allclose(
        VOL.feature(f"vol_parkinson_{n}").to_numpy()[:, a], parkinson, rtol=1e-9
    )
    np.testing.assert_allclose(VOL.feature(f"vol_gk_{n}").to_numpy()[:, a], gk, rtol=1e-9)
    np.testing.assert_allclose(VOL.feature(f"vol_yz_{n}").to_numpy()[:, a], yz, rtol=1e-9)


@pytest.mark.parametrize("a", ASSETS)
def test_close_to_close_volatility_and_its_dynamics(a: int) -> None:
    c = ohlc(a)[3]
    r = np.concatenate(([np.nan], np.diff(np.log(c))))
    cc = {}
    for n in (10, 21, 63):
        cc[n] = np.full(len(c), np.nan)
        for t in range(n, len(c)):
            cc[n][t] = np.std(r[t - n + 1 : t + 1], ddof=1)
        np.testing.assert_allclose(VOL.feature(f"vol_cc_{n}").to_numpy()[:, a], cc[n], rtol=1e-9)
    vov = np.full(len(c), np.nan)
    for t in range(21 + 62, len(c)):
        w = cc[21][t - 62 : t + 1]
        vov[t] = w.std(ddof=1) / w.mean()
    np.testing.assert_allclose(VOL.feature("vol_of_vol").to_numpy()[:, a], vov, rtol=1e-7)
    np.testing.assert_allclose(
        VOL.feature("vol_ratio_10_63").to_numpy()[:, a], cc[10] / cc[63], rtol=1e-9
    )
