"""Holt's exponential smoothing of the asset's log-price path (statsmodels), per asset.

Input is ``"series"``: ``X`` of shape ``(n, lookback)``, row i the window of the asset's
standardised one-bar return ending at bar t_i, oldest first.

What is smoothed: the (standardised) cumulative log-price path rebuilt from the returns,
``P_0 = 0, P_k = r_1 + ... + r_k``. Exponential smoothing is a model of a level (and a
trend) observed with noise, which is what a price path is; smoothing the returns
themselves would only give their moving average. Holt's method in error-correction form
(statsmodels' parameterisation: ``alpha`` level, ``beta`` trend, ``phi`` damping)::

    f_k = l_{k-1} + phi b_{k-1}            one-step forecast of P_k
    e_k = P_k - f_k
    l_k = f_k + alpha e_k
    b_k = phi b_{k-1} + beta e_k

and the forecast of the next return is ``l_L + phi b_L - P_L``: the gap between the
smoothed path's next value and the last price. Without a trend that is
``-(1 - alpha) x`` the recent deviation from the level (mean reversion); a trend adds
the smoothed drift (momentum), damped by ``phi``. This is the non-seasonal member of the
Holt-Winters family: returns have no stable seasonal cycle at the plan's lookbacks.

Fitting: ``statsmodels.tsa.statespace.exponential_smoothing.ExponentialSmoothing`` (the
Kalman-filter form, maximum likelihood with the initial state estimated) on the path of
the whole training series. Training rows can skip bars; the series is rebuilt by
`architectures.econometric._series.rebuild` and a gap whose bars are unknown becomes a
missing price (NaN), which the Kalman filter skips; the path after it continues from the
last known price (the gap's own return is unknown and taken as zero, and the missing
observation tells the filter not to learn from that step).

Prediction (row-wise, vectorised over rows): the lookback is the smoothing window. Each
window's path is filtered from ``l_0 = P_0 = 0`` and ``b_0 = 0`` (no drift assumed at
the start of the window) with the fitted ``alpha, beta, phi``. Every lookback fits: the
fitted level adapts within a few bars (``alpha`` is typically 0.7-1 on price paths), and
longer windows give the trend more bars to settle.

Saved state: ``smoothing.json`` with ``alpha``, ``beta``, ``phi`` and the gap count.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.econometric._series import rebuild
from architectures.registry import register
from architectures.search import Choice

PARAMS_JSON = "smoothing.json"
TRENDS = ("none", "additive", "damped")


def price_path(returns: np.ndarray) -> np.ndarray:
    """``P_0 = 0, P_k = cumulative sum of returns``; a NaN return makes its price NaN
    (missing) and the path goes on from the last known price."""
    r = np.asarray(returns, dtype=np.float64)
    path = np.concatenate([[0.0], np.cumsum(np.nan_to_num(r, nan=0.0))])
    path[1:][np.isnan(r)] = np.nan
    return path


def smoothed_return_forecast(
    windows: np.ndarray, alpha: float, beta: float, phi: float
) -> np.ndarray:
    """Holt's forecast of the next return after each window (rows, oldest first), filtered
    from ``l_0 = 0, b_0 = 0``; see the module docstring."""
    x = np.asarray(windows, dtype=np.float64)
    n, L = x.shape
    level = np.zeros(n)
    trend = np.zeros(n)
    price = np.zeros(n)
    for k in range(L):
        price = price + x[:, k]
        forecast = level + phi * trend
        error = price - forecast
        level = forecast + alpha * error
        trend = phi * trend + beta * error
    return level + phi * trend - price


@register
class HoltWinters(Architecture):
    """Holt's (damped) trend exponential smoothing of the log-price path; the forecast is
    the next return implied by the smoothed path.

    Parameters:
        trend   "none" (simple exponential smoothing of the level: mean reversion toward
                the smoothed price), "additive" (Holt's linear trend) or "damped"
                (Holt's trend damped by a fitted ``phi`` in [0.8, 0.98], the usually
                better-forecasting form)

    Grid: ``trend`` in {"none", "damped"}. The lookback is the smoothing window; every
    lookback fits (see the module docstring).
    """

    name = "holt_winters"
    version = 1
    tags = Tags(
        family="econometric",
        input="series",
        output="return",
        per_asset=True,
        min_history=100,
        feature_sets=("ohlcv",),
        cost_hint=5.0,
        lookback_use="smoothing window (Holt's recursions run over the last lookback bars)",
    )
    param_grid: ClassVar = {"trend": ("none", "damped")}
    search_space: ClassVar = {"trend": Choice(TRENDS)}
    test_params: ClassVar = {}

    def __init__(self, trend: str = "damped") -> None:
        self.trend = trend

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        if self.trend not in TRENDS:
            raise ValueError(f"trend must be one of {TRENDS}, got {self.trend!r}")
        if groups is not None and np.unique(groups).size > 1:
            raise ValueError(
                "holt_winters is fitted per asset (tags.per_asset=True); got rows of "
                f"{np.unique(groups).size} assets — fit one asset at a time"
            )
        es = require("statsmodels.tsa.statespace.exponential_smoothing", package="statsmodels")
        series = rebuild(X)
        with_trend = self.trend != "none"
        model = es.ExponentialSmoothing(
            price_path(series.values), trend=with_trend, damped_trend=self.trend == "damped"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes from the optimiser
            result = model.fit(disp=0)
        params = dict(
            zip(model.param_names, np.asarray(result.params, dtype=np.float64), strict=True)
        )
        if not all(np.isfinite(v) for v in params.values()):
            raise FloatingPointError("exponential smoothing returned non-finite parameters")
        self.alpha_ = float(params["smoothing_level"])
        self.beta_ = float(params.get("smoothing_trend", 0.0))
        self.phi_ = float(params.get("damping_trend", 1.0 if with_trend else 0.0))
        self.gaps_ = series.breaks

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return smoothed_return_forecast(X, self.alpha_, self.beta_, self.phi_)

    def _save(self, path: Path) -> None:
        state = {"alpha": self.alpha_, "beta": self.beta_, "phi": self.phi_, "gaps": self.gaps_}
        (path / PARAMS_JSON).write_text(json.dumps(state, indent=2))

    def _load(self, path: Path) -> None:
        state = json.loads((path / PARAMS_JSON).read_text())
        self.alpha_ = float(state["alpha"])
        self.beta_ = float(state["beta"])
        self.phi_ = float(state["phi"])
        self.gaps_ = int(state["gaps"])
