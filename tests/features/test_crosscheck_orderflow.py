"""Order-flow features against direct implementations: BVC with scipy's normal CDF, VPIN
by filling volume buckets bar by bar, OFI by the Cont-Kukanov-Stoikov case analysis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from features import Panel, get_feature_set
from tests.features.helpers import column, dense_panel

PANEL = dense_panel(n_bars=220, n_assets=3, seed=13)
FLOW = get_feature_set("orderflow")(PANEL)
ASSETS = range(3)


def buy_fraction(close: np.ndarray) -> np.ndarray:
    r = pd.Series(np.log(close)).diff()
    sigma = r.rolling(63).std(ddof=1).shift(1)
    return np.asarray(norm.cdf((r / sigma).to_numpy()))


def naive_vpin(volume: np.ndarray, buy: np.ndarray, t: int, n: int, size: float) -> float:
    """Fill n buckets of ``size`` walking back from bar t; NaN if history runs out."""
    s, left, total = t, volume[t], 0.0
    for _ in range(n):
        need, bought = size, 0.0
        while need > 1e-9 * size:
            if s < 0 or not math.isfinite(buy[s]):
                return math.nan
            take = min(need, left)
            bought += take * buy[s]
            need -= take
            left -= take
            if left <= 1e-9 * size:
                s -= 1
                left = volume[s] if s >= 0 else 0.0
        total += abs(2.0 * bought - size)
    return total / (n * size)


@pytest.mark.parametrize("a", ASSETS)
def test_bulk_volume_classification(a: int) -> None:
    c, v = column(PANEL, "close", a), column(PANEL, "volume", a)
    b = buy_fraction(c)
    signed = v * (2 * b - 1)
    for k in (1, 5, 21):
        expected = pd.Series(signed).rolling(k).sum() / pd.Series(v).rolling(k).sum()
        np.testing.assert_allclose(
            FLOW.feature(f"bvc_imb_{k}").to_numpy()[:, a], expected.to_numpy(), rtol=1e-8
        )


@pytest.mark.parametrize("a", ASSETS)
@pytest.mark.parametrize("n", [10, 50])
def test_vpin_matches_bucket_filling(a: int, n: int) -> None:
    c, v = column(PANEL, "close", a), column(PANEL, "volume", a)
    b = buy_fraction(c)
    size = pd.Series(v).rolling(21).mean().to_numpy()
    expected = np.array(
        [
            naive_vpin(v, b, t, n, size[t]) if math.isfinite(size[t]) else math.nan
            for t in range(len(c))
        ]
    )
    assert np.isfinite(expected).sum() > 50
    np.testing.assert_allclose(FLOW.feature(f"vpin_{n}").to_numpy()[:, a], expected, rtol=1e-9)


def cks_ofi(bid: np.ndarray, ask: np.ndarray, qb: np.ndarray, qa: np.ndarray) -> np.ndarray:
    e = np.full(len(bid), np.nan)
    for t in range(1, len(bid)):
        flow = 0.0
        if bid[t] > bid[t - 1]:
            flow += qb[t]
        elif bid[t] == bid[t - 1]:
            flow += qb[t] - qb[t - 1]
        else:
            flow -= qb[t - 1]
        if ask[t] < ask[t - 1]:
            flow -= qa[t]
        elif ask[t] == ask[t - 1]:
            flow -= qa[t] - qa[t - 1]
        else:
            flow += qa[t - 1]
        e[t] = flow
    return e


@pytest.mark.parametrize("a", ASSETS)
def test_order_flow_imbalance_follows_cont_kukanov_stoikov(a: int) -> None:
    bid, ask = column(PANEL, "bid", a), column(PANEL, "ask", a)
    qb, qa = column(PANEL, "bid_size", a), column(PANEL, "ask_size", a)
    bid[::7] = np.roll(bid, 1)[::7]  # unchanged prices exercise the queue-change branch
    ask[::5] = np.roll(ask, 1)[::5]
    fields = {k: v.copy() for k, v in PANEL.fields.items()}
    fields["bid"].iloc[:, a] = bid
    fields["ask"].iloc[:, a] = ask
    flow = get_feature_set("orderflow")(Panel(fields))
    e = cks_ofi(bid, ask, qb, qa)
    depth = 0.5 * (qb + qa)
    for k in (1, 5, 21):
        expected = pd.Series(e).rolling(k).sum() / pd.Series(depth).rolling(k).mean()
        np.testing.assert_allclose(
            flow.feature(f"ofi_{k}").to_numpy()[:, a], expected.to_numpy(), rtol=1e-9
        )
    np.testing.assert_allclose(
        flow.feature("depth_imb").to_numpy()[:, a], (qb - qa) / (qb + qa), rtol=1e-12
    )
    np.testing.assert_allclose(
        flow.feature("spread").to_numpy()[:, a], (ask - bid) / ((ask + bid) / 2), rtol=1e-12
    )
