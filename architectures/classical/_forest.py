"""Shared code of the tree ensembles (random forest, extra trees); not an architecture.

Both regress the forward return on the flattened window with scikit-learn's forests:
``n_jobs=1`` (a Ray worker owns one core) and ``random_state=seed``, so the same seed
gives bit-identical trees. Saved state is the fitted estimator (``estimator.joblib``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, require
from architectures.classical._common import load_estimator, save_estimator
from architectures.search import FloatRange, IntRange


class TreeEnsemble(Architecture):
    """Base of `RandomForest` and `ExtraTrees`: subclasses name the estimator class and say how
    each tree samples rows (`sampling_kwargs`)."""

    estimator_class: ClassVar[str]  # attribute of sklearn.ensemble

    param_grid: ClassVar = {"min_samples_leaf": (25, 100)}
    search_space: ClassVar = {
        "n_estimators": IntRange(20, 400, log=True),
        "max_depth": IntRange(2, 32),
        "min_samples_leaf": IntRange(5, 500, log=True),
        "max_features": FloatRange(0.05, 1.0),
    }
    test_params: ClassVar = {"n_estimators": 8, "min_samples_leaf": 10}

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 8,
        min_samples_leaf: int = 50,
        max_features: float = 0.1,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features

    def sampling_kwargs(self) -> dict[str, Any]:
        """How each tree samples rows (scikit-learn keyword arguments); none by default."""
        return {}

    def estimator(self, seed: int) -> Any:
        """The unfitted scikit-learn forest for these hyperparameters and ``seed``."""
        ensemble = require("sklearn.ensemble", package="scikit-learn")
        cls = getattr(ensemble, self.estimator_class)
        return cls(
            n_estimators=int(self.n_estimators),
            max_depth=int(self.max_depth),
            min_samples_leaf=int(self.min_samples_leaf),
            max_features=float(self.max_features),
            **self.sampling_kwargs(),
            n_jobs=1,
            random_state=seed,
        )

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        self.estimator_ = self.estimator(seed).fit(X, y)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def _save(self, path: Path) -> None:
        save_estimator(self.estimator_, path)

    def _load(self, path: Path) -> None:
        self.estimator_ = load_estimator(path)
