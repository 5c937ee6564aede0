"""cross_asset, sentiment and onchain features against row-by-row loops (np.corrcoef,
np.polyfit, scipy's zscore, explicit carry-forward)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import zscore

from features import Panel, get_feature_set
from tests.features.helpers import dense_panel
from tests.strategies import AssetShape, PanelSpec, synthetic_panel

T, N = 200, 4


def _with_late_listing(panel: Panel, asset: int, first_row: int) -> Panel:
    fields = {}
    for k, v in panel.fields.items():
        frame = v.copy()
        frame.iloc[:first_row, asset] = np.nan
        fields[k] = frame
    return Panel(fields)


CROSS_PANEL = _with_late_listing(dense_panel(n_bars=T, n_assets=N, seed=17), asset=3, first_row=40)
CROSS = get_feature_set("cross_asset")(CROSS_PANEL)


def window_stat(x: np.ndarray, y: np.ndarray, t: int, w: int, stat: str) -> float:
    rows = slice(max(0, t - w + 1), t + 1)
    xs, ys = x[rows], y[rows]
    ok = np.isfinite(xs) & np.isfinite(ys)
    if ok.sum() < math.ceil(0.8 * w):
        return math.nan
    if stat == "corr":
        return float(np.corrcoef(xs[ok], ys[ok])[0, 1])
    return float(np.polyfit(ys[ok], xs[ok], 1)[0])  # slope of x on y


def test_cross_asset_against_loops() -> None:
    close = CROSS_PANEL["close"].to_numpy()
    ret = np.full_like(close, np.nan)
    ret[1:] = close[1:] / close[:-1] - 1
    index = np.array([np.nanmean(row) if np.isfinite(row).any() else np.nan for row in ret])
    others = np.full_like(ret, np.nan)
    for t in range(T):
        for i in range(N):
            rest = [ret[t, j] for j in range(N) if j != i and np.isfinite(ret[t, j])]
            others[t, i] = np.mean(rest) if rest else np.nan
    present = np.isfinite(close)
    np.testing.assert_allclose(
        CROSS.feature("others_ret_1").to_numpy()[1:],
        np.where(present, others, np.nan)[1:],
        rtol=1e-12,
    )

    lagged_others = np.vstack([np.full((1, N), np.nan), others[:-1]])
    lagged_ret = np.vstack([np.full((1, N), np.nan), ret[:-1]])
    checks = {
        "corr_ew_21": (lambda i: (ret[:, i], index), 21, "corr"),
        "beta_ew_63": (lambda i: (ret[:, i], index), 63, "beta"),
        "corr_others_63": (lambda i: (ret[:, i], others[:, i]), 63, "corr"),
        "beta_others_63": (lambda i: (ret[:, i], others[:, i]), 63, "beta"),
        "lead_corr_63": (lambda i: (ret[:, i], lagged_others[:, i]), 63, "corr"),
        "lag_corr_63": (lambda i: (lagged_ret[:, i], others[:, i]), 63, "corr"),
    }
    for name, (pair, w, stat) in checks.items():
        expected = np.full((T, N), np.nan)
        for i in range(N):
            x, y = pair(i)
            for t in range(T):
                if present[t, i]:
                    expected[t, i] = window_stat(x, y, t, w, stat)
        np.testing.assert_allclose(
            CROSS.feature(name).to_numpy(), expected, rtol=1e-7, err_msg=name
        )

    corr63 = CROSS.feature("corr_others_63").to_numpy()
    avg = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in corr63])
    np.testing.assert_allclose(CROSS.feature("avg_corr_63").to_numpy()[:, 0], avg, rtol=1e-12)
    assert np.isnan(CROSS.feature("avg_corr_63").to_numpy()[:40, 3]).all()  # no bar, no feature

    dispersion = np.array(
        [np.std(r[np.isfinite(r)], ddof=1) if np.isfinite(r).sum() > 1 else np.nan for r in ret]
    )
    np.testing.assert_allclose(
        CROSS.feature("dispersion_1").to_numpy()[:, 0], dispersion, rtol=1e-9
    )

    k_ret = np.full_like(close, np.nan)
    k_ret[21:] = close[21:] / close[:-21] - 1
    expected_z = np.full_like(close, np.nan)
    for t in range(T):
        ok = np.isfinite(k_ret[t])
        if ok.sum() > 1:
            expected_z[t, ok] = zscore(k_ret[t, ok], ddof=1)
    np.testing.assert_allclose(CROSS.feature("xs_z_21").to_numpy(), expected_z, rtol=1e-9)


SENT_PANEL = synthetic_panel(
    PanelSpec(
        T, 23, tuple(AssetShape() for _ in range(3)), extras=("sentiment",), sentiment_density=0.3
    )
)
SENT = get_feature_set("sentiment")(SENT_PANEL)


@pytest.mark.parametrize("a", range(3))
def test_sentiment_against_an_explicit_carry_forward(a: int) -> None:
    score = SENT_PANEL["sentiment_score"].to_numpy()[:, a]
    items = SENT_PANEL["sentiment_volume"].to_numpy()[:, a]
    level, age = np.full(T, np.nan), np.full(T, np.nan)
    last, last_row = math.nan, None
    for t in range(T):
        if math.isfinite(score[t]):
            last, last_row = score[t], t
        if last_row is not None:
            level[t], age[t] = last, t - last_row

    def trailing(x: np.ndarray, t: int, w: int) -> np.ndarray | None:
        window = x[t - w + 1 : t + 1] if t >= w - 1 else None
        return window if window is not None and np.isfinite(window).all() else None

    expected: dict[str, np.ndarray] = {k: np.full(T, np.nan) for k in SENT.names}
    n_items = np.where(np.isfinite(items), items, np.where(np.isfinite(level), 0.0, np.nan))
    for t in range(T):
        expected["sent_level"][t] = level[t]
        expected["sent_age"][t] = math.log1p(age[t])
        if t > 0:
            expected["sent_change"][t] = level[t] - level[t - 1]
        for k in (5, 21):
            w = trailing(level, t, k)
            if w is not None:
                expected[f"sent_mean_{k}"][t] = w.mean()
        w = trailing(level, t, 63)
        if w is not None:
            sd = w.std(ddof=1)
            expected["sent_z_63"][t] = 0.0 if sd == 0 else (level[t] - w.mean()) / sd
        prev = trailing(level, t - 1, 21) if t > 0 else None
        if prev is not None:
            expected["sent_surprise"][t] = (
                score[t] - prev.mean() if math.isfinite(score[t]) else 0.0
            )
        w = trailing(n_items, t, 21)
        if w is not None:
            expected["sent_items"][t] = math.log1p(n_items[t]) - math.log1p(w.mean())
    for name, values in expected.items():
        np.testing.assert_allclose(
            SENT.feature(name).to_numpy()[:, a], values, rtol=1e-9, atol=1e-12, err_msg=name
        )


CHAIN_PANEL = synthetic_panel(
    PanelSpec(
        T, 29, tuple(AssetShape() for _ in range(2)), extras=("onchain",), onchain_assets=(0, 1)
    )
)
CHAIN = get_feature_set("onchain")(CHAIN_PANEL)


@pytest.mark.parametrize("metric", ["onchain_active_addresses", "onchain_exchange_netflow"])
@pytest.mark.parametrize("a", range(2))
def test_onchain_against_per_window_numpy(metric: str, a: int) -> None:
    x = CHAIN_PANEL[metric].to_numpy()[:, a]

    def window(t: int, w: int) -> np.ndarray | None:
        vals = x[max(0, t - w + 1) : t + 1]
        vals = vals[np.isfinite(vals)]
        return vals if len(vals) >= math.ceil(0.8 * w) else None

    expected: dict[str, np.ndarray] = {
        f"{metric}_{s}": np.full(T, np.nan)
        for s in ("chg_7", "chg_30", "z_30", "z_90", "ratio_7_30")
    }
    for t in range(T):
        long = window(t, 30)
        typical = np.abs(long).mean() if long is not None else math.nan
        for k in (7, 30):
            if t >= k:
                expected[f"{metric}_chg_{k}"][t] = (x[t] - x[t - k]) / typical
        for w in (30, 90):
            vals = window(t, w)
            if vals is not None and math.isfinite(x[t]):
                sd = vals.std(ddof=1)
                expected[f"{metric}_z_{w}"][t] = 0.0 if sd == 0 else (x[t] - vals.mean()) / sd
        short = window(t, 7)
        if short is not None:
            expected[f"{metric}_ratio_7_30"][t] = short.mean() / typical
    for name, values in expected.items():
        np.testing.assert_allclose(
            CHAIN.feature(name).to_numpy()[:, a], values, rtol=1e-8, atol=1e-12, err_msg=name
        )
