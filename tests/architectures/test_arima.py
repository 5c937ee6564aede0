"""ARMA architecture: the vectorised window forecast against statsmodels and against a
plain loop, parameter recovery, quiet fitting and the fallback between fit methods."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.tsa.arima.model import ARIMA as StatsmodelsARIMA

from architectures.econometric.arima import ARIMA, FIT_METHODS, conditional_forecast, fit_arma


def simulate_arma(n: int, mu: float, ar: list[float], ma: list[float], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burn = 500
    e = rng.standard_normal(n + burn)
    z = np.zeros(n + burn)
    for t in range(n + burn):
        z[t] = e[t]
        z[t] += sum(a * z[t - 1 - i] for i, a in enumerate(ar) if t - 1 - i >= 0)
        z[t] += sum(b * e[t - 1 - j] for j, b in enumerate(ma) if t - 1 - j >= 0)
    return mu + z[burn:]


def windows_of(series: np.ndarray, lookback: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(series, lookback).astype(np.float32)


def statsmodels_forecast(
    window: np.ndarray, order: tuple[int, int, int], params: list[float]
) -> float:
    """statsmodels' own one-step forecast (Kalman filter) after ``window``, given params."""
    model = StatsmodelsARIMA(window.astype(np.float64), order=order, trend="c")
    return float(model.smooth(np.asarray(params)).forecast(1)[0])


def test_ar_forecast_equals_statsmodels() -> None:
    series = simulate_arma(1500, mu=0.2, ar=[0.5, -0.2], ma=[], seed=1)
    X = windows_of(series, 12)
    model = ARIMA(p=2, q=0).fit(X[:-1], X[1:, -1], seed=0)
    assert model.ar_ == pytest.approx([0.5, -0.2], abs=0.07)
    rows = [0, 100, 700, X.shape[0] - 1]
    ours = model.predict(X[rows])
    params = [model.mu_, *model.ar_, model.sigma2_]
    theirs = [statsmodels_forecast(X[r], (2, 0, 0), params) for r in rows]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_arma_forecast_converges_to_statsmodels_on_long_windows() -> None:
    # With MA terms the window recursion starts its innovations at zero; the Kalman
    # filter does not. The difference decays like |theta|^L, so for L=80 it vanishes.
    mu, ar, ma, sigma2 = 0.1, [0.4], [0.5], 1.0
    series = simulate_arma(400, mu, ar, ma, seed=2)
    X = windows_of(series, 80)
    rows = [0, 150, X.shape[0] - 1]
    ours = conditional_forecast(X[rows], mu, np.array(ar), np.array(ma))
    theirs = [statsmodels_forecast(X[r], (1, 0, 1), [mu, *ar, *ma, sigma2]) for r in rows]
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def loop_forecast(window: np.ndarray, mu: float, ar: list[float], ma: list[float]) -> float:
    """The conditional-sum-of-squares recursion written out for one window."""
    p, q = len(ar), len(ma)
    z = [float(v) - mu for v in window]
    e = [0.0] * len(z)
    for k in range(p, len(z)):
        fitted = sum(ar[i] * z[k - 1 - i] for i in range(p))
        fitted += sum(ma[j] * e[k - 1 - j] for j in range(q) if k - 1 - j >= 0)
        e[k] = z[k] - fitted
    L = len(z)
    out = mu + sum(ar[i] * z[L - 1 - i] for i in range(p))
    return out + sum(ma[j] * e[L - 1 - j] for j in range(q) if L - 1 - j >= 0)


@pytest.mark.parametrize(
    ("ar", "ma", "lookback"),
    [([0.3, 0.2], [0.4, -0.3], 7), ([], [0.6], 5), ([0.5], [], 3), ([0.1, 0.1], [0.2], 2)],
)
def test_vectorised_forecast_equals_a_plain_loop(
    ar: list[float], ma: list[float], lookback: int
) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((25, lookback))
    ours = conditional_forecast(X, 0.05, np.array(ar), np.array(ma))
    expected = [loop_forecast(row, 0.05, ar, ma) for row in X]
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_forecast_rejects_windows_shorter_than_p() -> None:
    with pytest.raises(ValueError, match="at least 3 bars"):
        conditional_forecast(np.zeros((2, 2)), 0.0, np.array([0.1, 0.1, 0.1]), np.array([]))


def test_fit_recovers_mean_and_coefficients() -> None:
    series = simulate_arma(3000, mu=0.3, ar=[0.5], ma=[0.3], seed=4)
    X = windows_of(series, 10)
    model = ARIMA(p=1, q=1).fit(X, np.zeros(X.shape[0]), seed=0)
    assert model.mu_ == pytest.approx(0.3, abs=0.1)
    assert model.ar_[0] == pytest.approx(0.5, abs=0.08)
    assert model.ma_[0] == pytest.approx(0.3, abs=0.08)
    assert model.sigma2_ == pytest.approx(1.0, abs=0.1)
    assert model.fit_method_ in FIT_METHODS


def _without_innovations_mle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the first fit method fail so that fit falls back to the Kalman filter."""
    original = StatsmodelsARIMA.fit

    def failing_first(
        self: StatsmodelsARIMA, *args: object, method: str | None = None, **kw: object
    ) -> object:
        if method == "innovations_mle":
            raise np.linalg.LinAlgError("simulated failure")
        return original(self, *args, method=method, **kw)

    monkeypatch.setattr(StatsmodelsARIMA, "fit", failing_first)


def test_fit_is_quiet_when_statsmodels_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever statsmodels warns during a fit (convergence, starting parameters, value
    warnings), the architecture's fit stays silent. The warnings are caused on purpose
    by a wrapped ``fit``, so the test does not depend on whether a given series happens
    to trip statsmodels' numerics with this version of the library and this CPU."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, EstimationWarning

    original = StatsmodelsARIMA.fit
    emitted: list[str] = []

    def warning_fit(self: StatsmodelsARIMA, *args: object, **kw: object) -> object:
        for category in (ConvergenceWarning, EstimationWarning, UserWarning, RuntimeWarning):
            message = f"simulated {category.__name__}"
            emitted.append(message)
            warnings.warn(message, category, stacklevel=2)
        return original(self, *args, **kw)

    monkeypatch.setattr(StatsmodelsARIMA, "fit", warning_fit)
    series = np.random.default_rng(5).standard_normal(600)
    X = windows_of(series, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ARIMA(p=2, q=1).fit(X, np.zeros(X.shape[0]), seed=0)
    assert len(emitted) >= 4  # statsmodels' fit ran and warned
    assert [str(w.message) for w in caught] == []
    assert np.isfinite(model.predict(X)).all()


def test_falls_back_when_a_method_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_innovations_mle(monkeypatch)
    series = simulate_arma(400, mu=0.0, ar=[0.5], ma=[], seed=6)
    params, method = fit_arma(series, 1, 0)
    assert method == "statespace"
    assert params["ar"][0] == pytest.approx(0.5, abs=0.15)


def test_raises_when_every_method_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def always_fails(self: StatsmodelsARIMA, *args: object, **kw: object) -> object:
        raise ValueError("simulated failure")

    monkeypatch.setattr(StatsmodelsARIMA, "fit", always_fails)
    with pytest.raises(RuntimeError, match="could not be fitted") as info:
        fit_arma(np.random.default_rng(0).standard_normal(200), 1, 1)
    assert "simulated failure" in str(info.value.__cause__)


def test_rejects_rows_of_several_assets() -> None:
    X = windows_of(np.random.default_rng(0).standard_normal(300), 5)
    groups = np.repeat([0, 1], [150, X.shape[0] - 150])
    with pytest.raises(ValueError, match="per asset"):
        ARIMA().fit(X, np.zeros(X.shape[0]), seed=0, groups=groups)


def test_a_gap_in_the_training_rows_is_fitted_as_missing_bars() -> None:
    """Rows 400-429 are missing: the model fits the series with a missing value between
    the two stretches (what statsmodels' Kalman filter does with NaN), not the two sides
    of the gap joined as consecutive bars."""
    series = simulate_arma(900, mu=0.0, ar=[0.6], ma=[], seed=8)
    series[500:] += 3.0  # a level shift the gap hides: joining across it is visible
    X = windows_of(series, 10)
    keep = np.r_[0:400, 430 : X.shape[0]]  # row 399 ends at bar 408, row 430 starts at 430
    model = ARIMA(p=1, q=0).fit(X[keep], np.zeros(keep.size), seed=0)
    with_gap = np.concatenate([series[:409], [np.nan], series[430:]]).astype(np.float32)
    expected, method = fit_arma(with_gap.astype(np.float64), 1, 0)
    assert model.gaps_ == 1
    assert model.fit_method_ == method == "statespace"
    assert model.ar_[0] == pytest.approx(expected["ar"][0], rel=1e-9)
    assert model.mu_ == pytest.approx(expected["mu"], rel=1e-9)
    joined, _ = fit_arma(X[keep][:, -1].astype(np.float64), 1, 0)
    assert model.ar_[0] != pytest.approx(joined["ar"][0], rel=1e-6)
