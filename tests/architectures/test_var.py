"""VAR across assets: recovers a planted cross-asset lead-lag, forecasts what statsmodels
forecasts for each row's own column, chooses the lag order by the criterion within the
lookback, and fits the newest contiguous stretch when rows are missing."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.api import VAR as StatsmodelsVAR

from architectures.base import Tags
from architectures.econometric.var import VAR, max_lag_order
from architectures.testing import synthetic_dataset

PANEL_TAGS = Tags(family="econometric", input="panel", lookback_use="test")


def cross_lagged(n: int, k: int, signal: float, seed: int) -> np.ndarray:
    """Asset g's next return is ``signal`` times asset g+1's last one (cyclically)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, k))
    for t in range(1, n):
        out[t] = signal * np.roll(out[t - 1], -1) + rng.standard_normal(k) * 0.8
    return out


def panel_rows(values: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """The engine's layout: one row per (asset, bar), ordered by asset then time."""
    w = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)[:-1]
    w = w.transpose(0, 2, 1).astype(np.float32)  # (T', L, N)
    k = values.shape[1]
    X = np.concatenate([w] * k)
    groups = np.repeat(np.arange(k), len(w))
    return X, groups


def test_recovers_the_planted_lead_lag() -> None:
    data = synthetic_dataset(PANEL_TAGS, n_train=600, n_test=200, signal=0.6, seed=3)
    model = VAR().fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    assert model.coefs_.shape[0] == 1  # BIC picks one lag on a VAR(1)
    expected = 0.6 * np.roll(np.eye(3), 1, axis=1)  # row g loads on column g+1
    # OLS standard error here is about sqrt(0.64 / 600) ~ 0.033: allow 3.5 of them.
    np.testing.assert_allclose(model.coefs_[0], expected, atol=0.12)
    pred = model.predict(data.X_test, groups=data.groups_test)
    assert np.corrcoef(pred, data.y_test)[0, 1] > 0.45


def test_each_row_gets_its_own_columns_statsmodels_forecast() -> None:
    values = cross_lagged(500, 4, 0.4, seed=1)
    X, groups = panel_rows(values, 7)
    model = VAR(ic="aic").fit(X, np.zeros(len(X)), seed=0, groups=groups)
    series = values[:-1].astype(np.float32).astype(np.float64)  # the last bar has no row
    result = StatsmodelsVAR(series).fit(model.coefs_.shape[0], trend="c")
    np.testing.assert_allclose(model.coefs_, result.coefs, rtol=1e-8, atol=1e-12)
    rows = [3, 600, 1200, len(X) - 1]
    got = model.predict(X[rows], groups=groups[rows])
    for row, value in zip(rows, got, strict=True):
        expected = result.forecast(X[row].astype(np.float64), 1)[0, groups[row]]
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # The same window forecasts a different asset when the row names another column.
    other = model.predict(X[[3, 3]], groups=np.array([0, 1]))
    assert other[0] != other[1]


def test_lag_order_is_bounded_by_the_lookback_and_the_data() -> None:
    assert max_lag_order(7, 1000, 8) == 7
    assert max_lag_order(14, 100, 8) == 5  # 99 // 18: about two bars per coefficient
    assert max_lag_order(7, 10, 8) == 1
    values = cross_lagged(400, 3, 0.4, seed=2)
    X, groups = panel_rows(values, 2)
    model = VAR(ic="aic").fit(X, np.zeros(len(X)), seed=0, groups=groups)
    assert model.coefs_.shape[0] <= 2


def test_a_gap_makes_the_model_fit_the_newest_contiguous_stretch() -> None:
    values = cross_lagged(700, 3, 0.4, seed=4)
    X, groups = panel_rows(values, 7)
    n = len(X) // 3
    keep_bar = np.r_[0:300, 360:n]  # row 299 ends at bar 305, row 360 starts at bar 360
    rows = np.concatenate([keep_bar + g * n for g in range(3)])
    model = VAR().fit(X[rows], np.zeros(rows.size), seed=0, groups=groups[rows])
    assert model.gaps_ == 1
    newest = values[360 : n + 6].astype(np.float32).astype(np.float64)
    expected = StatsmodelsVAR(newest).fit(model.coefs_.shape[0], trend="c")
    np.testing.assert_allclose(model.coefs_, expected.coefs, rtol=1e-8, atol=1e-12)


def test_groups_must_name_asset_columns() -> None:
    values = cross_lagged(300, 3, 0.4, seed=5)
    X, groups = panel_rows(values, 7)
    model = VAR().fit(X, np.zeros(len(X)), seed=0, groups=groups)
    with pytest.raises(ValueError, match="asset columns"):
        model.predict(X[:2], groups=np.array([0, 3]))
