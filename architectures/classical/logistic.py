"""Logistic regression direction classifier on the flattened window -> a position.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`). The label is the direction of the
forward return, ``up = y > 0`` (a return of exactly zero counts as down); the model
estimates ``p = P(up | window)`` and ``predict`` returns the position ``2p - 1`` in
[-1, 1] (``output="position"``: the engine uses it as it is, without rescaling). On
daily returns ``p`` stays near 0.5, so positions are small; their size is proportional
to the model's confidence.

Penalty (the platform's regularisation axis): ``penalty`` "l2", "l1" or "elasticnet"
(equal L1 and L2 shares) with strength ``1 / C``. scikit-learn >= 1.8 expresses it as
``l1_ratio`` (0, 1 or 0.5); "l2" is solved with L-BFGS, "l1" and "elasticnet" with SAGA
(seeded from ``seed``; its row order is random). Solvers that stop at ``max_iter``
without meeting the tolerance still return a penalised fit; the convergence warning is
silenced.

Saved state: ``logistic.npz`` with the weights and intercept in float64, so a loaded
model predicts bit-identically (prediction is one matrix-vector product and a logistic
function in numpy).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.registry import register
from architectures.search import Choice, FloatRange, IntRange

COEF_FILE = "logistic.npz"
L1_RATIO = {"l2": 0.0, "l1": 1.0, "elasticnet": 0.5}


@register
class LogisticRegression(Architecture):
    """Penalised logistic regression of the return's direction; position ``2 P(up) - 1``.

    Parameters:
        C          inverse penalty strength (scikit-learn's ``C``; the loss is summed over
                   rows, so the penalty weighs less as the training window grows)
        penalty    "l2", "l1" or "elasticnet" (L1 share 0.5)
        max_iter   solver iterations (L-BFGS steps or SAGA epochs)

    Grid: ``penalty`` in {"l1", "l2", "elasticnet"} (the regularisation axis).
    Every lookback fits.
    """

    name = "logistic"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="position",
        min_history=100,
        cost_hint=0.25,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"penalty": ("l1", "l2", "elasticnet")}
    search_space: ClassVar = {
        "C": FloatRange(1e-4, 10.0, log=True),
        "penalty": Choice(("l1", "l2", "elasticnet")),
        "max_iter": IntRange(50, 1000, log=True),
    }
    test_params: ClassVar = {"max_iter": 50}

    def __init__(self, C: float = 0.01, penalty: str = "l2", max_iter: int = 200) -> None:
        self.C = C
        self.penalty = penalty
        self.max_iter = max_iter

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        if self.penalty not in L1_RATIO:
            raise ValueError(f"penalty must be one of {tuple(L1_RATIO)}, got {self.penalty!r}")
        linear = require("sklearn.linear_model", package="scikit-learn")
        exceptions = require("sklearn.exceptions", package="scikit-learn")
        up = (y > 0).astype(np.int64)
        if np.unique(up).size < 2:
            # One class only: the best estimate of P(up) is that class; no direction signal.
            self.coef_ = np.zeros(X.shape[1])
            self.intercept_ = 0.0
            return
        ratio = L1_RATIO[self.penalty]
        model = linear.LogisticRegression(
            C=float(self.C),
            l1_ratio=ratio,
            solver="lbfgs" if ratio == 0.0 else "saga",
            max_iter=int(self.max_iter),
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=exceptions.ConvergenceWarning)
            model.fit(X.astype(np.float64), up)
        self.coef_ = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
        self.intercept_ = float(np.asarray(model.intercept_).reshape(-1)[0])

    def probability_up(self, X: np.ndarray) -> np.ndarray:
        """``P(up | window)`` for each row of the validated ``X``."""
        logit = X.astype(np.float64) @ self.coef_ + self.intercept_
        return 0.5 * (1.0 + np.tanh(0.5 * logit))  # the logistic function, overflow-free

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return 2.0 * self.probability_up(X) - 1.0

    def _save(self, path: Path) -> None:
        np.savez(path / COEF_FILE, coef=self.coef_, intercept=np.float64(self.intercept_))

    def _load(self, path: Path) -> None:
        with np.load(path / COEF_FILE) as state:
            self.coef_ = np.asarray(state["coef"], dtype=np.float64)
            self.intercept_ = float(state["intercept"])
