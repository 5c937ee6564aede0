"""The cumulative-sum window statistics against pandas' rolling implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.rolling import (
    PairedWindows,
    lag,
    rolling_corr,
    rolling_count,
    rolling_mean,
    rolling_std,
    rolling_sum,
    rolling_var,
    rolling_zscore,
    safe_divide,
)

values = st.one_of(
    st.just(np.nan), st.floats(-1e3, 1e3, allow_nan=False), st.sampled_from([0.0, 1.0, -2.5])
)
panels = arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 3)), elements=values)
windows = st.integers(1, 12)
SETTINGS = settings(max_examples=60, deadline=None)


def _min_periods(window: int, data: st.DataObject) -> int:
    return data.draw(st.integers(1, window))


@SETTINGS
@given(x=panels, window=windows, data=st.data())
def test_sum_mean_var_match_pandas(x: np.ndarray, window: int, data: st.DataObject) -> None:
    mp = _min_periods(window, data)
    roll = pd.DataFrame(x).rolling(window, min_periods=mp)
    np.testing.assert_allclose(
        rolling_sum(x, window, mp), roll.sum().to_numpy(), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        rolling_mean(x, window, mp), roll.mean().to_numpy(), rtol=1e-9, atol=1e-9
    )
    expected_var = roll.var(ddof=1).to_numpy()
    got_var = rolling_var(x, window, min_periods=mp)
    np.testing.assert_array_equal(np.isnan(got_var), np.isnan(expected_var))
    # cancellation error is of order eps * sum(x^2) over the prefix
    scale = 1e-9 * (1.0 + np.nancumsum(x * x, axis=0))
    ok = np.isfinite(expected_var)
    assert (np.abs(got_var[ok] - expected_var[ok]) <= scale[ok]).all()
    np.testing.assert_array_equal(
        rolling_count(x, window),
        pd.DataFrame(x).notna().rolling(window, min_periods=1).sum().to_numpy(),
    )


@SETTINGS
@given(x=panels, window=st.integers(2, 12), data=st.data())
def test_corr_and_cov_use_pairwise_complete_rows(
    x: np.ndarray, window: int, data: st.DataObject
) -> None:
    y = data.draw(arrays(np.float64, x.shape, elements=values))
    mp = data.draw(st.integers(2, window))
    fx, fy = pd.DataFrame(x), pd.DataFrame(y)
    paired = PairedWindows(x, y)
    expected_cov = fx.rolling(window, min_periods=mp).cov(fy).to_numpy()
    got_cov = paired.cov(window, mp)
    np.testing.assert_array_equal(np.isnan(got_cov), np.isnan(expected_cov))
    tol = 1e-9 * (1.0 + np.nancumsum(np.abs(x * y), axis=0) + np.nancumsum(x * x + y * y, axis=0))
    ok = np.isfinite(expected_cov)
    assert (np.abs(got_cov[ok] - expected_cov[ok]) <= tol[ok]).all()
    # correlation: where pandas finds both series varying clearly, we agree
    expected_corr = fx.rolling(window, min_periods=mp).corr(fy).to_numpy()
    got_corr = rolling_corr(x, y, window, mp)
    sx = fx.where(fy.notna()).rolling(window, min_periods=mp).std().to_numpy()
    sy = fy.where(fx.notna()).rolling(window, min_periods=mp).std().to_numpy()
    clear = np.isfinite(expected_corr) & (sx > 1e-3) & (sy > 1e-3)
    np.testing.assert_allclose(got_corr[clear], expected_corr[clear], atol=1e-6)
    assert (np.isnan(got_corr) | (np.abs(got_corr) <= 1.0)).all()


def test_constant_windows_have_exactly_zero_variance_and_zero_zscore() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 10, 50), np.full(30, 0.3), rng.normal(0, 1, 20)])[:, None]
    var = rolling_var(x, 10)
    assert (var[59:80] == 0.0).all()
    assert (rolling_zscore(x, 10)[59:80] == 0.0).all()
    assert np.isnan(rolling_corr(x, rng.normal(size=x.shape), 10)[59:80]).all()
    beta = PairedWindows(rng.normal(size=x.shape), x).beta(10)
    assert np.isnan(beta[59:80]).all()


def test_zscore_and_std_match_their_definition() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, (40, 2))
    z = rolling_zscore(x, 8)
    for t in range(7, 40):
        w = x[t - 7 : t + 1]
        np.testing.assert_allclose(z[t], (x[t] - w.mean(0)) / w.std(0, ddof=1), rtol=1e-9)
        np.testing.assert_allclose(rolling_std(x, 8)[t], w.std(0, ddof=1), rtol=1e-9)
    assert np.isnan(z[:7]).all()


def test_lag_shifts_down_and_refuses_to_look_ahead() -> None:
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(lag(x, 1), [[np.nan, np.nan], [0, 1], [2, 3]])
    np.testing.assert_array_equal(lag(x, 0), x)
    assert np.isnan(lag(x, 5)).all()
    with pytest.raises(ValueError, match="look ahead"):
        lag(x, -1)


def test_safe_divide_never_returns_inf() -> None:
    out = safe_divide(np.array([1.0, 0.0, -1.0, 2.0]), np.array([0.0, 0.0, 0.0, 4.0]))
    np.testing.assert_array_equal(out, [np.nan, np.nan, np.nan, 0.5])


def test_invalid_windows_are_rejected() -> None:
    x = np.zeros((5, 1))
    with pytest.raises(ValueError):
        rolling_mean(x, 0)
    with pytest.raises(ValueError):
        rolling_mean(x, 3, min_periods=4)
