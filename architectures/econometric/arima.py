"""ARMA(p, q) with a constant on the asset's one-bar return (statsmodels), one model per asset.

Input is ``"series"``: ``X`` of shape ``(n, lookback)``, row i the window of the asset's
one-bar return ``ret_1`` ending at bar t_i, oldest first (the engine standardises it on
the training rows).

Training series: rebuilt from the windows by `architectures.econometric._series.rebuild`
— the first row's whole window, then each later row's new bars. Training rows can skip
bars (a row whose window or label had a NaN is missing); where two rows' windows still
overlap the skipped bars are recovered exactly, and where they do not the series gets a
missing value (NaN) at the gap, so the model never treats the two sides of a gap as
consecutive bars. (Version 1 fitted ``X[:, -1]`` as if all rows were consecutive.)

Model (statsmodels' parameterisation: ``mu`` is the process mean, MA terms enter with a
plus sign)::

    r_t - mu = sum_i phi_i (r_{t-i} - mu) + e_t + sum_j theta_j e_{t-j}

Fitting: the exact Gaussian likelihood is maximised with
``statsmodels.tsa.arima.model.ARIMA(series, order=(p, 0, q), trend="c")``, first with
``method="innovations_mle"`` (the innovations algorithm inside a GLS loop for the
constant; about twice as fast as the Kalman filter on long series), falling back to
``method="statespace"`` (Kalman-filter MLE) and then to ``"hannan_rissanen"`` if a
method raises or returns non-finite parameters. A series with gaps is fitted with
``"statespace"`` only: the Kalman filter skips the missing values in the likelihood (the
other two methods refuse them). Stationarity and invertibility are enforced. statsmodels' convergence and estimation warnings are silenced inside ``fit``;
which method produced the parameters is kept in ``fit_method_``. If every method fails
the last error propagates (the engine then records the config as failed).

Prediction: the one-step-ahead conditional forecast of the next return given each
row's window, computed for all rows at once with the fitted parameters. Within a window
``z_k = x_k - mu`` (k = 0..L-1, oldest first), innovations start at zero and are
filtered forward (conditional sum of squares, truncated to the window)::

    e_k = 0                                                         for k < p
    e_k = z_k - sum_i phi_i z_{k-i} - sum_j theta_j e_{k-j}         for p <= k < L
    forecast = mu + sum_i phi_i z_{L-i} + sum_j theta_j e_{L-j}     (e_{<0} = 0)

For a pure AR model (q = 0) this is exactly the Kalman-filter forecast given the window;
with MA terms it differs from it by a term that shrinks like ``|theta|^L`` (invertible
MA). A per-row Kalman filter would cost one statsmodels call per bar; this is one numpy
pass over the L window columns. The forecast is the next bar's (standardised) return:
for horizons h > 1 it is used as a one-step signal (the engine rescales predictions, so
only their ordering and sign matter).

Saved state: ``arma.json`` with ``mu``, the AR and MA coefficients, ``sigma2``, the
fitting method and the number of gaps in the training series.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.econometric._series import rebuild
from architectures.registry import register
from architectures.search import IntRange

PARAMS_JSON = "arma.json"
FIT_METHODS = ("innovations_mle", "statespace", "hannan_rissanen")
GAP_FIT_METHODS = ("statespace",)  # the methods that accept missing values


def conditional_forecast(
    windows: np.ndarray, mu: float, ar: np.ndarray, ma: np.ndarray
) -> np.ndarray:
    """One-step ARMA forecast after each window (rows), innovations started at zero.

    ``windows`` is ``(n, L)`` oldest first; ``ar`` = (phi_1..phi_p), ``ma`` =
    (theta_1..theta_q). See the module docstring for the recursion.
    """
    z = np.asarray(windows, dtype=np.float64) - mu
    n, L = z.shape
    p, q = len(ar), len(ma)
    if L < p:
        raise ValueError(f"an AR({p}) forecast needs windows of at least {p} bars, got {L}")
    e = np.zeros((n, L))
    if q:
        for k in range(p, L):
            pred = np.zeros(n)
            for i in range(p):
                pred += ar[i] * z[:, k - 1 - i]
            for j in range(min(q, k)):
                pred += ma[j] * e[:, k - 1 - j]
            e[:, k] = z[:, k] - pred
    forecast = np.full(n, float(mu))
    for i in range(p):
        forecast += ar[i] * z[:, L - 1 - i]
    for j in range(min(q, L)):
        forecast += ma[j] * e[:, L - 1 - j]
    return forecast


def fit_arma(series: np.ndarray, p: int, q: int) -> tuple[dict[str, Any], str]:
    """Fit ARMA(p, q) with a constant; return (parameters, method that succeeded).
    NaN entries of ``series`` are missing bars (only the Kalman filter is tried then)."""
    arima_model = require("statsmodels.tsa.arima.model", package="statsmodels")
    last_error: Exception | None = None
    methods = GAP_FIT_METHODS if np.isnan(series).any() else FIT_METHODS
    for method in methods:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = arima_model.ARIMA(series, order=(p, 0, q), trend="c")
                result = model.fit(method=method)
            names = list(model.param_names)
            values = np.asarray(result.params, dtype=np.float64)
        except Exception as exc:  # statsmodels raises many types; try the next method
            last_error = exc
            continue
        if not np.isfinite(values).all():
            last_error = FloatingPointError(f"{method} returned non-finite parameters")
            continue
        by_name = dict(zip(names, values.tolist(), strict=True))
        params = {
            "mu": by_name["const"],
            "ar": [by_name[f"ar.L{i}"] for i in range(1, p + 1)],
            "ma": [by_name[f"ma.L{j}"] for j in range(1, q + 1)],
            "sigma2": by_name.get("sigma2", float("nan")),
        }
        return params, method
    assert last_error is not None
    raise RuntimeError(f"ARMA({p}, {q}) could not be fitted by any of {methods}") from (last_error)


@register
class ARIMA(Architecture):
    """ARMA(p, q) with a constant on the asset's return series; one-step forecast per window.

    The model is fitted on the return series rebuilt from the windows, gaps marked as
    missing values (see the module docstring); the labels ``y`` are validated by the
    base class but not used.

    Parameters:
        p   autoregressive order
        q   moving-average order
    """

    name = "arima"
    version = 2
    tags = Tags(
        family="econometric",
        input="series",
        output="return",
        per_asset=True,
        min_history=100,
        feature_sets=("ohlcv",),
        cost_hint=4.5,
        lookback_use="forecast window (innovations filtered over the last lookback returns)",
    )
    param_grid: ClassVar = {"p": (1, 2), "q": (0, 1)}
    search_space: ClassVar = {"p": IntRange(1, 3), "q": IntRange(0, 2)}
    test_params: ClassVar = {"p": 1, "q": 1}

    def __init__(self, p: int = 1, q: int = 1) -> None:
        self.p = p
        self.q = q

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        p, q = int(self.p), int(self.q)
        if p < 0 or q < 0 or p + q == 0:
            raise ValueError(f"arima needs p, q >= 0 and p + q >= 1, got p={p}, q={q}")
        if X.shape[1] < p:
            raise ValueError(f"arima with p={p} needs a lookback of at least {p}, got {X.shape[1]}")
        if groups is not None and np.unique(groups).size > 1:
            raise ValueError(
                "arima is fitted per asset (tags.per_asset=True); got rows of "
                f"{np.unique(groups).size} assets — fit one asset at a time"
            )
        series = rebuild(X)
        params, method = fit_arma(series.values, p, q)
        self.gaps_ = series.breaks
        self.mu_ = float(params["mu"])
        self.ar_ = np.asarray(params["ar"], dtype=np.float64)
        self.ma_ = np.asarray(params["ma"], dtype=np.float64)
        self.sigma2_ = float(params["sigma2"])
        self.fit_method_ = method

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return conditional_forecast(X, self.mu_, self.ar_, self.ma_)

    def _save(self, path: Path) -> None:
        state = {
            "mu": self.mu_,
            "ar": self.ar_.tolist(),
            "ma": self.ma_.tolist(),
            "sigma2": self.sigma2_,
            "fit_method": self.fit_method_,
            "gaps": self.gaps_,
        }
        (path / PARAMS_JSON).write_text(json.dumps(state, indent=2))

    def _load(self, path: Path) -> None:
        state = json.loads((path / PARAMS_JSON).read_text())
        self.mu_ = float(state["mu"])
        self.ar_ = np.asarray(state["ar"], dtype=np.float64)
        self.ma_ = np.asarray(state["ma"], dtype=np.float64)
        self.sigma2_ = float(state["sigma2"])
        self.fit_method_ = str(state["fit_method"])
        self.gaps_ = int(state["gaps"])
