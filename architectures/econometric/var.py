"""Vector autoregression across the universe's assets (statsmodels ``VAR``), one pooled model.

Input is ``"panel"``: ``X`` of shape ``(n, lookback, N)``, row i the window of every
asset's standardised one-bar return ending at the row's bar (columns in universe order,
oldest bar first), and ``groups`` (given to ``fit`` and ``predict``) the column of the
asset the row forecasts. Rows reach ``fit`` ordered by asset, then time; rows of
different assets at the same bar share the same window.

Model, with ``y_t`` the vector of the N assets' returns at bar t::

    y_t = c + A_1 y_{t-1} + ... + A_p y_{t-p} + e_t

so every asset's next return is forecast from the recent returns of all assets (lead-lag
effects between assets that single-series models cannot see). The forecast for row i
is component ``g_i`` of ``c + sum_k A_k y_{L-k}`` from the row's own window.

Fitting: the N-dimensional training series is rebuilt from the windows of the asset with
the most training rows by `architectures.econometric._series.rebuild`. Equation-by-
equation OLS (``statsmodels.tsa.api.VAR(...).fit(p, trend="c")``) has no way to skip
missing bars, so with gaps the model is fitted on the newest contiguous stretch of at
least ``MIN_BARS`` bars (a ValueError if there is none). The lag order ``p`` is chosen by
the information criterion ``ic`` (``VAR.select_order``) among ``1..max_p`` with ``max_p =
min(lookback, (T - 1) // (2 N + 2))`` for T bars: the lookback bounds the order, the
second term keeps at least about two observations per coefficient of each equation.
An order of 0 (no predictability found) is raised to 1 so that forecasts still vary.

Saved state: ``var.npz`` with ``c``, ``A`` (``p x N x N``) and the gap count.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.econometric._series import rebuild
from architectures.registry import register
from architectures.search import Choice

STATE_FILE = "var.npz"
MIN_BARS = 50
CRITERIA = ("aic", "bic", "hqic", "fpe")


def max_lag_order(lookback: int, n_bars: int, n_assets: int) -> int:
    """The largest lag order considered (see the module docstring), at least 1."""
    return max(1, min(lookback, (n_bars - 1) // (2 * n_assets + 2)))


def var_forecast(
    windows: np.ndarray, columns: np.ndarray, intercept: np.ndarray, coefs: np.ndarray
) -> np.ndarray:
    """Component ``columns[i]`` of the one-step VAR forecast after window ``i``.

    ``windows`` is ``(n, L, N)`` oldest first, ``intercept`` ``(N,)``, ``coefs``
    ``(p, N, N)`` with ``coefs[k-1][g, j]`` the effect of asset j at lag k on asset g.
    """
    x = np.asarray(windows, dtype=np.float64)
    p = coefs.shape[0]
    if x.shape[1] < p:
        raise ValueError(f"a VAR({p}) forecast needs windows of at least {p} bars")
    lags = x[:, ::-1][:, :p]  # (n, p, N): lag 1 first
    rows = coefs[:, columns, :]  # (p, n, N): each row's equation
    return intercept[columns] + np.einsum("npj,pnj->n", lags, rows)


@register
class VAR(Architecture):
    """Vector autoregression of all assets' returns (OLS, lag order by information
    criterion); each row gets its own asset's component of the one-step forecast.

    Parameters:
        ic   the information criterion choosing the lag order: "bic" (parsimonious:
             usually 1-2 lags on daily returns), "aic", "hqic" or "fpe"

    Grid: ``ic`` in {"aic", "bic"}.

    The lookback is the largest lag order the criterion may choose. Lookbacks 7 and 14
    only: a VAR(p) has ``N^2 p`` coefficients, so at 30+ lags a universe of N assets
    would need far more bars than a training window holds, and the criterion does not
    choose such orders on returns anyway.
    """

    name = "var"
    version = 1
    tags = Tags(
        family="econometric",
        input="panel",
        output="return",
        per_asset=False,
        min_history=200,
        feature_sets=("ohlcv",),
        cost_hint=0.15,
        lookbacks=(7, 14),
        lookback_use="largest lag order the information criterion may choose",
    )
    param_grid: ClassVar = {"ic": ("aic", "bic")}
    search_space: ClassVar = {"ic": Choice(CRITERIA)}
    test_params: ClassVar = {}

    def __init__(self, ic: str = "bic") -> None:
        self.ic = ic

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        if self.ic not in CRITERIA:
            raise ValueError(f"ic must be one of {CRITERIA}, got {self.ic!r}")
        assert groups is not None  # the base class requires groups for panel input
        n_assets = X.shape[2]
        codes, counts = np.unique(groups, return_counts=True)
        rows = np.flatnonzero(groups == codes[np.argmax(counts)])
        series = rebuild(X[rows])
        values = series.newest_segment(MIN_BARS) if series.breaks else series.values
        if len(values) < MIN_BARS:
            raise ValueError(f"var needs at least {MIN_BARS} consecutive bars, got {len(values)}")
        tsa = require("statsmodels.tsa.api", package="statsmodels")
        model = tsa.VAR(values)
        max_p = max_lag_order(X.shape[1], len(values), n_assets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chosen = model.select_order(max_p, trend="c").selected_orders[self.ic]
            result = model.fit(max(1, int(chosen)), trend="c")
        self.intercept_ = np.asarray(result.intercept, dtype=np.float64)
        self.coefs_ = np.asarray(result.coefs, dtype=np.float64)
        self.gaps_ = series.breaks

    def _predict(self, X: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
        assert groups is not None  # the base class requires groups for panel input
        columns = np.asarray(groups, dtype=np.int64)
        if columns.size and (columns.min() < 0 or columns.max() >= X.shape[2]):
            raise ValueError(f"groups must be asset columns in [0, {X.shape[2]})")
        return var_forecast(X, columns, self.intercept_, self.coefs_)

    def _save(self, path: Path) -> None:
        np.savez(path / STATE_FILE, intercept=self.intercept_, coefs=self.coefs_, gaps=self.gaps_)

    def _load(self, path: Path) -> None:
        with np.load(path / STATE_FILE) as state:
            self.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
            self.coefs_ = np.asarray(state["coefs"], dtype=np.float64)
            self.gaps_ = int(state["gaps"])
