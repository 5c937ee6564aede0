"""Shared code of the penalised linear regressions (ridge, lasso, elastic net); not an
architecture.

All three fit ``y = X w + b`` on the flattened window with scikit-learn and one
objective, the elastic-net one on the standardised target ``z = y / std(y)``::

    1 / (2 n) * |z - X w - b|^2  +  alpha * l1_ratio * |w|_1
                                 +  alpha * (1 - l1_ratio) / 2 * |w|_2^2

ridge is ``l1_ratio = 0`` (solved in closed form by ``sklearn.linear_model.Ridge`` with
its penalty ``alpha * n``, which is the same objective), lasso ``l1_ratio = 1``
(``Lasso``), elastic net anything in between (``ElasticNet``). Dividing ``y`` by its
standard deviation makes ``alpha`` mean the same whatever the return scale (daily returns
have a standard deviation of about 1e-2); the engine's robust scaling of ``X`` does the
same for the columns. ``predict`` maps back to return units: ``std(y) * (X w + b)``.

Deterministic: closed form for ridge, cyclic coordinate descent for lasso and elastic
net (``selection="cyclic"``, no randomness); ``seed`` is unused. Saved state:
``linear.npz`` with ``w``, ``b`` and ``std(y)`` in float64, so a loaded model predicts
bit-identically (prediction is one matrix-vector product in numpy).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from architectures.base import Architecture, require
from architectures.classical._common import standardise_target

COEF_FILE = "linear.npz"
MAX_ITER = 5000  # coordinate-descent sweeps for lasso / elastic net
TOL = 1e-4


class PenalisedLinear(Architecture):
    """Base of `Ridge`, `Lasso` and `ElasticNet`: subclasses say their penalty."""

    def penalty(self) -> tuple[float, float]:
        """``(alpha, l1_ratio)`` of the objective above: l1_ratio 0 ridge, 1 lasso."""
        raise NotImplementedError

    def estimator(self, n_rows: int) -> Any:
        """The unfitted scikit-learn regressor for ``n_rows`` training rows."""
        linear = require("sklearn.linear_model", package="scikit-learn")
        alpha, ratio = self.penalty()
        if alpha <= 0:
            raise ValueError(f"{self.name} needs alpha > 0, got {alpha}")
        if ratio == 0.0:
            return linear.Ridge(alpha=alpha * n_rows, solver="cholesky")
        if ratio == 1.0:
            return linear.Lasso(alpha=alpha, max_iter=MAX_ITER, tol=TOL, selection="cyclic")
        return linear.ElasticNet(
            alpha=alpha, l1_ratio=ratio, max_iter=MAX_ITER, tol=TOL, selection="cyclic"
        )

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        z, self.y_scale_ = standardise_target(y)
        estimator = self.estimator(X.shape[0])
        exceptions = require("sklearn.exceptions", package="scikit-learn")
        with warnings.catch_warnings():
            # A coordinate descent stopped at MAX_ITER is still a usable, penalised fit.
            warnings.simplefilter("ignore", category=exceptions.ConvergenceWarning)
            estimator.fit(X.astype(np.float64), z)
        self.coef_ = np.asarray(estimator.coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(np.asarray(estimator.intercept_).reshape(-1)[0])

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return (X.astype(np.float64) @ self.coef_ + self.intercept_) * self.y_scale_

    def _save(self, path: Path) -> None:
        np.savez(
            path / COEF_FILE,
            coef=self.coef_,
            intercept=np.float64(self.intercept_),
            y_scale=np.float64(self.y_scale_),
        )

    def _load(self, path: Path) -> None:
        with np.load(path / COEF_FILE) as state:
            self.coef_ = np.asarray(state["coef"], dtype=np.float64)
            self.intercept_ = float(state["intercept"])
            self.y_scale_ = float(state["y_scale"])
