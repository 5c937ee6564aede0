"""Holt's smoothing of the price path: the row-wise forecast is statsmodels' own filter
from a known zero state, the fitted parameters are statsmodels' maximum likelihood, and
a gap is a missing price."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing

from architectures.econometric.holt_winters import (
    HoltWinters,
    price_path,
    smoothed_return_forecast,
)


@pytest.mark.parametrize(
    ("trend", "damped", "params"),
    [(False, False, [0.6]), (True, False, [0.7, 0.1]), (True, True, [0.7, 0.1, 0.9])],
)
def test_forecast_is_statsmodels_filter_from_a_zero_state(
    trend: bool, damped: bool, params: list[float]
) -> None:
    windows = np.random.default_rng(3).standard_normal((4, 12))
    beta = params[1] if trend else 0.0
    phi = params[2] if damped else (1.0 if trend else 0.0)
    ours = smoothed_return_forecast(windows, params[0], beta, phi)
    for row, got in zip(windows, ours, strict=True):
        path = np.cumsum(row)
        initial = {"initial_level": 0.0, **({"initial_trend": 0.0} if trend else {})}
        model = ExponentialSmoothing(
            path, trend=trend, damped_trend=damped, initialization_method="known", **initial
        )
        expected = model.smooth(params).forecast(1)[0] - path[-1]
        assert got == pytest.approx(expected, abs=1e-12)


def test_price_path_marks_a_missing_return_as_a_missing_price() -> None:
    path = price_path(np.array([1.0, 2.0, np.nan, 0.5]))
    np.testing.assert_array_equal(path, [0.0, 1.0, 3.0, np.nan, 3.5])


def _mean_reverting(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = np.zeros(n)
    for t in range(1, n):
        r[t] = -0.3 * r[t - 1] + rng.standard_normal()
    return r


def test_fit_is_statsmodels_mle_and_finds_mean_reversion() -> None:
    r = _mean_reverting(1000, seed=1)
    X = np.lib.stride_tricks.sliding_window_view(r, 10).astype(np.float32)
    model = HoltWinters(trend="none").fit(X, np.zeros(len(X)), seed=0)
    sm = ExponentialSmoothing(price_path(r.astype(np.float32).astype(np.float64)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sm.fit(disp=0).params[0]
    assert model.alpha_ == pytest.approx(expected, rel=1e-9)
    # AR(1) -0.3 returns are an ARIMA(0,1,1)-like path: the level lags the price, so the
    # forecast leans against the last return.
    assert model.alpha_ < 0.95
    corr = np.corrcoef(model.predict(X[:-1]), r[10:])[0, 1]
    assert corr > 0.15


def test_a_gap_is_a_missing_price_in_the_fit() -> None:
    r = _mean_reverting(800, seed=2)
    X = np.lib.stride_tricks.sliding_window_view(r, 10).astype(np.float32)
    keep = np.r_[0:300, 340 : len(X)]  # row 299 ends at bar 308, row 340 starts at 340
    model = HoltWinters(trend="damped").fit(X[keep], np.zeros(keep.size), seed=0)
    r32 = r.astype(np.float32).astype(np.float64)
    with_gap = np.concatenate([r32[:309], [np.nan], r32[340:]])
    sm = ExponentialSmoothing(price_path(with_gap), trend=True, damped_trend=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = sm.fit(disp=0).params
    assert model.gaps_ == 1
    assert [model.alpha_, model.beta_, model.phi_] == pytest.approx(list(expected[:3]), rel=1e-9)
