"""TA-Lib-based indicators against direct textbook implementations (plain loops)."""

from __future__ import annotations

import numpy as np
import pytest

from features import get_feature_set
from tests.features.helpers import column, dense_panel

PANEL = dense_panel(n_bars=260, n_assets=3, seed=21)
TECH = get_feature_set("technical")(PANEL)
VOL = get_feature_set("volatility")(PANEL)
ASSETS = range(3)


def bars(a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(column(PANEL, k, a) for k in ("high", "low", "close", "volume"))  # type: ignore[return-value]


def wilder_rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Wilder (1978): averages seeded with the mean of the first n changes, then
    ``avg = (avg * (n - 1) + x) / n``; RSI = 100 - 100 / (1 + gain / loss)."""
    out = np.full(len(close), np.nan)
    change = np.diff(close)
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    g, lo = gain[:n].mean(), loss[:n].mean()
    for t in range(n, len(close)):
        if t > n:
            g = (g * (n - 1) + gain[t - 1]) / n
            lo = (lo * (n - 1) + loss[t - 1]) / n
        out[t] = 100.0 * g / (g + lo)
    return out


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("n", [7, 14, 28])
def test_rsi_matches_wilders_recursion(a: int, n: int) -> None:
    _, _, c, _ = bars(a)
    expected = wilder_rsi(c, n) / 100.0
    np.testing.assert_allclose(TECH.feature(f"rsi_{n}").to_numpy()[:, a], expected, rtol=1e-9)


@pytest.mark.parametrize("a", ASSETS)
def test_williams_r_and_stochastic_match_their_definitions(a: int) -> None:
    h, low, c, _ = bars(a)
    T = len(c)
    for n in (14, 28):
        expected = np.full(T, np.nan)
        for t in range(n - 1, T):
            hh, ll = h[t - n + 1 : t + 1].max(), low[t - n + 1 : t + 1].min()
            expected[t] = -(hh - c[t]) / (hh - ll)
        np.testing.assert_allclose(TECH.feature(f"willr_{n}").to_numpy()[:, a], expected, rtol=1e-9)
    n = 14
    fast = np.full(T, np.nan)
    for t in range(n - 1, T):
        hh, ll = h[t - n + 1 : t + 1].max(), low[t - n + 1 : t + 1].min()
        fast[t] = (c[t] - ll) / (hh - ll)
    slow_k = np.full(T, np.nan)
    slow_d = np.full(T, np.nan)
    for t in range(n + 1, T):
        slow_k[t] = fast[t - 2 : t + 1].mean()
    for t in range(n + 3, T):
        slow_d[t] = slow_k[t - 2 : t + 1].mean()
    # TA-Lib starts both outputs at the first bar where %D exists
    slow_k[: n + 3] = np.nan
    np.testing.assert_allclose(TECH.feature("stoch_k_14").to_numpy()[:, a], slow_k, rtol=1e-9)
    np.testing.assert_allclose(TECH.feature("stoch_d_14").to_numpy()[:, a], slow_d, rtol=1e-9)


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("n", [14, 28])
def test_cci_matches_lamberts_formula(a: int, n: int) -> None:
    h, low, c, _ = bars(a)
    tp = (h + low + c) / 3.0
    expected = np.full(len(c), np.nan)
    for t in range(n - 1, len(c)):
        w = tp[t - n + 1 : t + 1]
        expected[t] = (tp[t] - w.mean()) / (0.015 * np.abs(w - w.mean()).mean()) / 100.0
    np.testing.assert_allclose(
        TECH.feature(f"cci_{n}").to_numpy()[:, a], expected, rtol=1e-7, atol=1e-10
    )


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("n", [10, 20, 50])
def test_bollinger_percent_b_and_width(a: int, n: int) -> None:
    _, _, c, _ = bars(a)
    pctb = np.full(len(c), np.nan)
    width = np.full(len(c), np.nan)
    for t in range(n - 1, len(c)):
        w = c[t - n + 1 : t + 1]
        mid, sd = w.mean(), w.std(ddof=0)
        pctb[t] = (c[t] - (mid - 2 * sd)) / (4 * sd)
        width[t] = 4 * sd / mid
    np.testing.assert_allclose(TECH.feature(f"bb_pctb_{n}").to_numpy()[:, a], pctb, rtol=1e-6)
    np.testing.assert_allclose(TECH.feature(f"bb_width_{n}").to_numpy()[:, a], width, rtol=1e-6)


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("k", [10, 21])
def test_normalised_obv_is_the_signed_volume_share(a: int, k: int) -> None:
    _, _, c, v = bars(a)
    expected = np.full(len(c), np.nan)
    for t in range(k, len(c)):
        s = range(t - k + 1, t + 1)
        expected[t] = sum(np.sign(c[i] - c[i - 1]) * v[i] for i in s) / sum(v[i] for i in s)
    np.testing.assert_allclose(TECH.feature(f"obv_{k}").to_numpy()[:, a], expected, rtol=1e-9)


@pytest.mark.parametrize("a", ASSETS)
def test_mfi_matches_the_money_flow_ratio(a: int) -> None:
    h, low, c, v = bars(a)
    n = 14
    tp = (h + low + c) / 3.0
    flow = tp * v
    expected = np.full(len(c), np.nan)
    for t in range(n, len(c)):
        pos = sum(flow[i] for i in range(t - n + 1, t + 1) if tp[i] > tp[i - 1])
        neg = sum(flow[i] for i in range(t - n + 1, t + 1) if tp[i] < tp[i - 1])
        expected[t] = pos / (pos + neg)
    np.testing.assert_allclose(TECH.feature("mfi_14").to_numpy()[:, a], expected, rtol=1e-9)


@pytest.mark.parametrize("a", ASSETS)
def test_natr_is_wilders_average_true_range_over_the_close(a: int) -> None:
    h, low, c, _ = bars(a)
    n = 14
    tr = np.full(len(c), np.nan)
    for t in range(1, len(c)):
        tr[t] = max(h[t] - low[t], abs(h[t] - c[t - 1]), abs(low[t] - c[t - 1]))
    expected = np.full(len(c), np.nan)
    atr = tr[1 : n + 1].mean()
    expected[n] = atr / c[n]
    for t in range(n + 1, len(c)):
        atr = (atr * (n - 1) + tr[t]) / n
        expected[t] = atr / c[t]
    np.testing.assert_allclose(VOL.feature("natr_14").to_numpy()[:, a], expected, rtol=1e-9)


def test_macd_identities_and_scale() -> None:
    """Histogram = line - signal, and the line is the EMA difference over the close: for
    a geometric series with constant growth the EMAs converge to fixed ratios of C_t."""
    line = TECH.feature("macd_12_26").to_numpy()
    signal = TECH.feature("macd_signal_12_26").to_numpy()
    hist = TECH.feature("macd_hist_12_26").to_numpy()
    np.testing.assert_allclose(hist, line - signal, rtol=1e-9, atol=1e-15)

    from features import Panel
    from tests.strategies import AssetShape, PanelSpec, synthetic_panel

    panel = synthetic_panel(PanelSpec(300, 1, (AssetShape(),)))
    g = 1.001
    close = 50.0 * g ** np.arange(300)
    bars_ = {k: panel[k].copy() for k in ("open", "high", "low", "volume")}
    for k in ("open", "high", "low"):
        bars_[k].iloc[:, 0] = close
    bars_["close"] = panel["close"].copy()
    bars_["close"].iloc[:, 0] = close
    macd = get_feature_set("technical")(Panel(bars_)).feature("macd_12_26").to_numpy()[-1, 0]

    # EMA_n of C_t = c g^t converges to C_t * a / (1 - (1 - a) / g), a = 2 / (n + 1)
    def ema_ratio(n: int) -> float:
        alpha = 2.0 / (n + 1)
        return alpha / (1.0 - (1.0 - alpha) / g)

    assert macd == pytest.approx(ema_ratio(12) - ema_ratio(26), rel=1e-6)
