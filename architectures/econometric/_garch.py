"""Shared code of the AR-GARCH family (``arch`` package); not an architecture.

Model, on the asset's standardised one-bar return ``r`` (``arch`` names in brackets)::

    r_t      = mu + sum_{i=1..p} phi_i r_{t-i} + e_t              [Const, y[i]]
    e_t      = sigma_t z_t,  z_t ~ Normal or standardised Student t  [nu]
    sigma2_t = omega + (alpha + gamma * 1[e_{t-1} < 0]) e_{t-1}^2 + beta sigma2_{t-1}
                                                        [omega, alpha[1], gamma[1], beta[1]]

``gamma = 0`` is the symmetric GARCH(1, 1); GJR-GARCH estimates ``gamma`` (bad news
raises next bar's variance more than good news of the same size). The ``arch`` package
has no moving-average mean, so the mean is autoregressive (``mean="AR"``).

Fitting: ``arch.arch_model(..., rescale=False).fit(disp="off")`` (maximum likelihood,
SLSQP; deterministic) on the asset's training series, rebuilt from the windows by
`architectures.econometric._series.rebuild`. ``arch`` has no likelihood for missing
values and running the variance recursion across a gap would be wrong, so with gaps the
model is fitted on the newest contiguous stretch of at least ``min_history`` bars (a
ValueError if none is that long).

Prediction, row-wise and vectorised over rows: each window is filtered through the
fitted recursions. Residuals exist from the window's bar ``p`` on; the variance starts
at ``sigma2_start`` (the model's unconditional variance ``omega / (1 - alpha - gamma/2
- beta)`` when that persistence is below 1, else the mean squared training residual),
and is updated as ``arch`` does from its backcast::

    s2_p     = omega + (alpha + gamma/2) sigma2_start + beta sigma2_start
    s2_{k+1} = omega + (alpha + gamma 1[e_k < 0]) e_k^2 + beta s2_k     (k = p..L-1)

The forecast is the next bar's mean ``m = mu + sum phi_i r_{L-i}`` and variance
``s2_L``; the signal is ``m / sqrt(s2_L)``, the expected return per unit of risk.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, require
from architectures.econometric._series import rebuild
from architectures.search import Choice, IntRange

PARAMS_JSON = "garch.json"
DISTRIBUTIONS = ("normal", "t")  # arch's names


def garch_filter(
    windows: np.ndarray,
    *,
    mu: float,
    phi: np.ndarray,
    omega: float,
    alpha: float,
    gamma: float,
    beta: float,
    sigma2_start: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Next-bar mean and variance forecasts after each window (rows, oldest first).

    Returns ``(mean, variance)``, each ``(n,)``; see the module docstring.
    """
    x = np.asarray(windows, dtype=np.float64)
    n, L = x.shape
    p = len(phi)
    if L <= p:
        raise ValueError(f"an AR({p}) filter needs windows longer than {p} bars, got {L}")
    fitted = np.full((n, L + 1), float(mu))  # fitted[:, k] = mean forecast for bar k
    for i in range(p):
        fitted[:, i + 1 :] += phi[i] * x[:, : L - i]
    resid = x[:, p:] - fitted[:, p:L]
    s2 = np.full(n, omega + (alpha + 0.5 * gamma + beta) * sigma2_start)
    for k in range(resid.shape[1]):
        e = resid[:, k]
        s2 = omega + (alpha + gamma * (e < 0.0)) * e * e + beta * s2
    return fitted[:, L], s2


@dataclass(frozen=True)
class GarchParams:
    """Fitted parameters (see the module docstring); ``nu`` is None for normal innovations."""

    mu: float
    phi: tuple[float, ...]
    omega: float
    alpha: float
    gamma: float
    beta: float
    nu: float | None
    sigma2_start: float

    def forecast(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Next-bar mean and variance after each window (`garch_filter`)."""
        return garch_filter(
            windows,
            mu=self.mu,
            phi=np.asarray(self.phi, dtype=np.float64),
            omega=self.omega,
            alpha=self.alpha,
            gamma=self.gamma,
            beta=self.beta,
            sigma2_start=self.sigma2_start,
        )


class GarchFamily(Architecture):
    """Base of `ArGarch` and `GjrGarch`; subclasses set ``asymmetric`` (estimate gamma)."""

    asymmetric: ClassVar[bool]

    param_grid: ClassVar = {"dist": ("normal", "t")}
    search_space: ClassVar = {"p": IntRange(1, 3), "dist": Choice(("normal", "t"))}
    test_params: ClassVar = {}

    def __init__(self, p: int = 1, dist: str = "normal") -> None:
        self.p = p
        self.dist = dist

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        p = int(self.p)
        if p < 1:
            raise ValueError(f"{self.name} needs an AR order p >= 1, got {p}")
        if self.dist not in DISTRIBUTIONS:
            raise ValueError(f"dist must be one of {DISTRIBUTIONS}, got {self.dist!r}")
        if groups is not None and np.unique(groups).size > 1:
            raise ValueError(
                f"{self.name} is fitted per asset (tags.per_asset=True); got rows of "
                f"{np.unique(groups).size} assets — fit one asset at a time"
            )
        series = rebuild(X)
        self.gaps_ = series.breaks
        values = series.newest_segment(self.tags.min_history) if series.breaks else series.values
        self.params_ = fit_garch(values, p, self.dist, asymmetric=self.asymmetric)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        mean, var = self.params_.forecast(X)
        return mean / np.sqrt(var)

    def _save(self, path: Path) -> None:
        state = {**asdict(self.params_), "gaps": self.gaps_}
        (path / PARAMS_JSON).write_text(json.dumps(state, indent=2))

    def _load(self, path: Path) -> None:
        state = json.loads((path / PARAMS_JSON).read_text())
        self.gaps_ = int(state.pop("gaps"))
        state["phi"] = tuple(float(v) for v in state["phi"])
        self.params_ = GarchParams(**state)


def fit_garch(values: np.ndarray, p: int, dist: str, *, asymmetric: bool) -> GarchParams:
    """Fit the AR(p)-(GJR-)GARCH(1, 1) with ``arch`` on a consecutive series."""
    arch = require("arch")
    model = arch.arch_model(
        values,
        mean="AR",
        lags=p,
        vol="GARCH",
        p=1,
        o=1 if asymmetric else 0,
        q=1,
        dist=dist,
        rescale=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and data-scale notes
        result = model.fit(disp="off", show_warning=False)
    params = result.params
    if not np.isfinite(np.asarray(params, dtype=np.float64)).all():
        raise FloatingPointError("arch returned non-finite parameters")
    omega, alpha, beta = (float(params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    gamma = float(params["gamma[1]"]) if asymmetric else 0.0
    persistence = alpha + 0.5 * gamma + beta
    if persistence < 1.0 and omega > 0.0:
        sigma2_start = omega / (1.0 - persistence)
    else:
        resid = np.asarray(result.resid, dtype=np.float64)
        sigma2_start = float(np.mean(resid[np.isfinite(resid)] ** 2))
    return GarchParams(
        mu=float(params["Const"]),
        phi=tuple(float(params[f"y[{i}]"]) for i in range(1, p + 1)),
        omega=omega,
        alpha=alpha,
        gamma=gamma,
        beta=beta,
        nu=float(params["nu"]) if "nu" in params else None,
        sigma2_start=sigma2_start,
    )
