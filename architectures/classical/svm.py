"""Support-vector regression (scikit-learn ``SVR``, RBF kernel) on the flattened window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`). ``predict`` is an expected return
(``output="return"``).

Cost: a kernel SVM's fit grows like ``n^2`` to ``n^3`` in the training rows (libsvm keeps
a kernel cache and iterates over all pairs), so the training rows are capped at
``max_train_rows``: the newest ``max_train_rows / n_assets`` rows of every asset are kept
(rows reach ``fit`` ordered by asset, then time), the rest dropped. Prediction costs
``n_support_vectors x width`` per row.

Target scale: ``y`` is divided by its standard deviation on the (kept) training rows
before fitting, so ``epsilon`` (the width of the loss's dead zone) is in units of that
standard deviation; predictions are mapped back to return units.

Deterministic (libsvm's SVR uses no randomness); ``seed`` is unused. Saved state: the
fitted estimator (``estimator.joblib``) and the target scale inside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.classical._common import (
    load_estimator,
    newest_rows,
    save_estimator,
    standardise_target,
)
from architectures.registry import register
from architectures.search import FloatRange, IntRange

# libsvm's kernel cache in MB (scikit-learn's default is 200). The whole kernel matrix of
# the default 3,000 capped rows takes 3,000^2 x 4 bytes = 36 MB, so it is never recomputed.
CACHE_MB = 200.0


@register
class SVM(Architecture):
    """Epsilon-support-vector regression with an RBF kernel on the flattened window.

    Parameters:
        C               inverse regularisation strength (scikit-learn's ``C``): larger
                        values fit the training rows more closely
        epsilon         half-width of the insensitive zone of the loss, in standard
                        deviations of the training target
        gamma_scale     RBF width as a multiple of scikit-learn's ``gamma="scale"``
                        (``1 / (n_columns * X.var())``): the kernel is
                        ``exp(-gamma_scale * |x - x'|^2 / (n_columns * var(X)))``
        max_train_rows  cap on the training rows (newest kept per asset), see the module
                        docstring

    Grid: ``C`` in {0.1, 1.0}.

    Lookbacks 7, 14 and 30 only: at 60 or 90 bars the flattened window has hundreds to
    thousands of columns, where RBF distances between windows concentrate (every pair
    looks equally far apart, so the kernel carries little information) and the kernel
    cost grows with the width.
    """

    name = "svm"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=4.0,
        lookbacks=(7, 14, 30),
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"C": (0.1, 1.0)}
    search_space: ClassVar = {
        "C": FloatRange(0.01, 100.0, log=True),
        "epsilon": FloatRange(0.01, 1.0, log=True),
        "gamma_scale": FloatRange(0.1, 10.0, log=True),
        "max_train_rows": IntRange(500, 10_000, log=True),
    }
    test_params: ClassVar = {"max_train_rows": 200}

    def __init__(
        self,
        C: float = 1.0,
        epsilon: float = 0.1,
        gamma_scale: float = 1.0,
        max_train_rows: int = 3000,
    ) -> None:
        self.C = C
        self.epsilon = epsilon
        self.gamma_scale = gamma_scale
        self.max_train_rows = max_train_rows

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        svm = require("sklearn.svm", package="scikit-learn")
        keep = newest_rows(groups, X.shape[0], int(self.max_train_rows))
        X, y = X[keep], y[keep]
        z, self.y_scale_ = standardise_target(y)
        variance = float(np.var(X, dtype=np.float64))
        gamma = float(self.gamma_scale) / (X.shape[1] * (variance if variance > 0 else 1.0))
        self.estimator_ = svm.SVR(
            kernel="rbf",
            C=float(self.C),
            epsilon=float(self.epsilon),
            gamma=gamma,
            cache_size=CACHE_MB,
        ).fit(X, z)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X), dtype=np.float64) * self.y_scale_

    def _save(self, path: Path) -> None:
        save_estimator((self.estimator_, self.y_scale_), path)

    def _load(self, path: Path) -> None:
        self.estimator_, self.y_scale_ = load_estimator(path)
