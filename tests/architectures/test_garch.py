"""AR-GARCH and GJR-GARCH: the row-wise filter follows arch's recursion exactly, the
asymmetry term is estimated only by GJR, parameters are recovered, and gaps are handled
by fitting the newest contiguous stretch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from arch import arch_model

from architectures.econometric._garch import fit_garch, garch_filter
from architectures.econometric.ar_garch import ArGarch
from architectures.econometric.gjr_garch import GjrGarch


def simulate_gjr(n: int, seed: int, gamma: float = 0.1) -> np.ndarray:
    """AR(1) mean (mu 0.05, phi -0.2) with GJR-GARCH(1,1,1) errors, unit-ish variance."""
    rng = np.random.default_rng(seed)
    r, e, h = np.zeros(n), np.zeros(n), np.ones(n)
    for t in range(1, n):
        h[t] = 0.05 + (0.05 + gamma * (e[t - 1] < 0)) * e[t - 1] ** 2 + 0.85 * h[t - 1]
        e[t] = np.sqrt(h[t]) * rng.standard_normal()
        r[t] = 0.05 - 0.2 * r[t - 1] + e[t]
    return r


def windows_of(series: np.ndarray, lookback: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(series, lookback).astype(np.float32)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_filter_reproduces_arch_forecast(asymmetric: bool) -> None:
    """Started from arch's backcast, the filter over the whole series gives arch's own
    one-step mean and variance forecasts."""
    r = simulate_gjr(1500, seed=4)
    model = arch_model(
        r, mean="AR", lags=1, vol="GARCH", p=1, o=int(asymmetric), q=1, rescale=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp="off")
    params = result.params
    backcast = float(model.volatility.backcast(np.asarray(result.resid)[1:]))
    mean, var = garch_filter(
        r[None, :],
        mu=params["Const"],
        phi=np.array([params["y[1]"]]),
        omega=params["omega"],
        alpha=params["alpha[1]"],
        gamma=params["gamma[1]"] if asymmetric else 0.0,
        beta=params["beta[1]"],
        sigma2_start=backcast,
    )
    forecast = result.forecast(horizon=1)
    assert mean[0] == pytest.approx(forecast.mean.iloc[-1, 0], rel=1e-10)
    assert var[0] == pytest.approx(forecast.variance.iloc[-1, 0], rel=1e-10)


def test_filter_rows_are_independent_windows() -> None:
    X = np.random.default_rng(1).standard_normal((5, 40))

    def run(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return garch_filter(
            windows,
            mu=0.1,
            phi=np.array([0.3, -0.1]),
            omega=0.1,
            alpha=0.1,
            gamma=0.05,
            beta=0.8,
            sigma2_start=1.0,
        )

    mean, var = run(X)
    for i in range(5):
        m, v = run(X[i : i + 1])
        assert (m[0], v[0]) == (mean[i], var[i])
    assert mean == pytest.approx(0.1 + 0.3 * X[:, -1] - 0.1 * X[:, -2])


def test_gjr_estimates_the_leverage_term_and_garch_does_not() -> None:
    r = simulate_gjr(3000, seed=5, gamma=0.2)
    X = windows_of(r, 30)
    gjr = GjrGarch().fit(X, np.zeros(len(X)), seed=0)
    sym = ArGarch().fit(X, np.zeros(len(X)), seed=0)
    assert gjr.params_.gamma == pytest.approx(0.2, abs=0.08)
    assert sym.params_.gamma == 0.0
    for fitted in (gjr, sym):
        assert fitted.params_.phi[0] == pytest.approx(-0.2, abs=0.05)
    # Same window, mirrored last shock: GJR's variance reacts more to the bad news.
    up, down = X[-1:].copy(), X[-1:].copy()
    up[0, -1], down[0, -1] = 2.5, -2.5
    var_up = gjr.params_.forecast(up)[1][0]
    var_down = gjr.params_.forecast(down)[1][0]
    assert var_down > var_up


def test_signal_is_the_mean_per_unit_of_forecast_volatility() -> None:
    r = simulate_gjr(1200, seed=6)
    X = windows_of(r, 30)
    model = GjrGarch(dist="t").fit(X, np.zeros(len(X)), seed=0)
    assert model.params_.nu is not None and model.params_.nu > 2
    mean, var = model.params_.forecast(X[-50:])
    np.testing.assert_allclose(model.predict(X[-50:]), mean / np.sqrt(var), rtol=1e-12)


def test_a_gap_makes_the_model_fit_the_newest_contiguous_stretch() -> None:
    r = simulate_gjr(1400, seed=7)
    X = windows_of(r, 30)
    keep = np.r_[0:500, 600 : len(X)]  # row 499 ends at bar 528; row 600 starts at bar 600
    model = ArGarch().fit(X[keep], np.zeros(keep.size), seed=0)
    assert model.gaps_ == 1
    newest = r[600:].astype(np.float32).astype(np.float64)
    assert model.params_ == fit_garch(newest, 1, "normal", asymmetric=False)
    short = np.r_[0:500, len(X) - 100 : len(X)]  # newest stretch 129 bars < 250: older one
    older = ArGarch().fit(X[short], np.zeros(short.size), seed=0)
    first = r[:529].astype(np.float32).astype(np.float64)
    assert older.params_ == fit_garch(first, 1, "normal", asymmetric=False)
    with pytest.raises(ValueError, match="no contiguous stretch of 250 bars"):
        ArGarch().fit(X[np.r_[0:150, 300:450]], np.zeros(300), seed=0)
