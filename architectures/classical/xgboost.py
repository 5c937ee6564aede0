"""Gradient-boosted regression trees (XGBoost, histogram method) on the flattened window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`). The booster regresses the forward
return ``y`` with the squared error (``reg:squarederror``), so ``predict`` is an
expected return (``output="return"``).

Reproducibility: ``tree_method="hist"`` on one thread (``nthread=1``, a Ray worker owns
one core) with row and column subsampling seeded from ``seed``; the same seed gives
bit-identical trees.

Warm start (``fit(..., warm_start=previous)``): training continues from the previous
block's booster and adds ``warm_rounds`` rounds fitted on the new training rows
(``xgboost.train(..., xgb_model=...)``; the new rounds start from the previous model's
margin). The previous booster is rebuilt from its UBJSON serialisation (exactly what
``_save`` writes), so a warm start from a loaded model and from the in-memory one give
the same trees; ``previous`` is never modified. A cold fit ignores ``warm_rounds``.

Saved state: ``model.ubj``, XGBoost's binary JSON model format (full-precision
thresholds and leaf values; a loaded booster predicts bit-identically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.registry import register
from architectures.search import FloatRange, IntRange

MODEL_FILE = "model.ubj"


@register
class XGBoost(Architecture):
    """Gradient-boosted trees (XGBoost, squared error) on the flattened lookback window.

    Parameters (XGBoost names in brackets):
        max_depth          depth of each tree; the capacity knob [max_depth]
        n_estimators       boosting rounds of a cold fit [num_boost_round]
        learning_rate      shrinkage per round [eta]
        min_child_weight   smallest hessian sum in a leaf; with the squared error every row
                           weighs 1, so this is the fewest rows per leaf, a guard against
                           fitting noise in daily returns [min_child_weight]
        subsample          fraction of rows drawn for each tree [subsample]
        colsample_bytree   fraction of columns (window cells) drawn for each tree
                           [colsample_bytree]
        reg_lambda         L2 penalty on leaf values [lambda]
        max_bin            histogram bins per feature [max_bin]
        warm_rounds        rounds added by a warm start (see the module docstring)

    Grid: ``max_depth`` in {3, 6}. Every lookback fits (the window is flattened).
    """

    name = "xgboost"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        supports_warm_start=True,
        cost_hint=2.0,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"max_depth": (3, 6)}
    search_space: ClassVar = {
        "max_depth": IntRange(2, 10),
        "n_estimators": IntRange(20, 600, log=True),
        "learning_rate": FloatRange(0.005, 0.3, log=True),
        "min_child_weight": FloatRange(1.0, 500.0, log=True),
        "subsample": FloatRange(0.5, 1.0),
        "colsample_bytree": FloatRange(0.1, 1.0),
        "reg_lambda": FloatRange(1e-3, 100.0, log=True),
        "warm_rounds": IntRange(5, 100, log=True),
    }
    test_params: ClassVar = {
        "n_estimators": 8,
        "max_depth": 3,
        "min_child_weight": 10.0,
        "warm_rounds": 4,
    }

    def __init__(
        self,
        max_depth: int = 4,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        min_child_weight: float = 100.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.3,
        reg_lambda: float = 1.0,
        max_bin: int = 32,
        warm_rounds: int = 25,
    ) -> None:
        self.max_depth = max_depth
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.warm_rounds = warm_rounds

    def xgboost_params(self, seed: int) -> dict[str, Any]:
        """The ``xgboost.train`` parameter dict for these hyperparameters and ``seed``."""
        return {
            "objective": "reg:squarederror",
            "tree_method": "hist",
            "max_depth": int(self.max_depth),
            "eta": float(self.learning_rate),
            "min_child_weight": float(self.min_child_weight),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "lambda": float(self.reg_lambda),
            "max_bin": int(self.max_bin),
            "seed": int(seed),
            "nthread": 1,
            "verbosity": 0,
        }

    def _dmatrix(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        xgb = require("xgboost", package="xgboost-cpu")
        return xgb.DMatrix(X, label=y, nthread=1)

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        xgb = require("xgboost", package="xgboost-cpu")
        self.booster_ = xgb.train(
            self.xgboost_params(seed), self._dmatrix(X, y), num_boost_round=int(self.n_estimators)
        )

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        xgb = require("xgboost", package="xgboost-cpu")
        assert isinstance(previous, XGBoost)
        # Rebuild from the saved form (what _save writes): same start from memory or disk,
        # and the previous booster is left untouched.
        start = xgb.Booster()
        start.load_model(bytearray(previous.booster_.save_raw(raw_format="ubj")))
        self.booster_ = xgb.train(
            self.xgboost_params(seed),
            self._dmatrix(X, y),
            num_boost_round=int(self.warm_rounds),
            xgb_model=start,
        )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(self._dmatrix(X)), dtype=np.float64)

    def _save(self, path: Path) -> None:
        self.booster_.save_model(str(path / MODEL_FILE))

    def _load(self, path: Path) -> None:
        xgb = require("xgboost", package="xgboost-cpu")
        booster = xgb.Booster()
        booster.load_model(str(path / MODEL_FILE))
        booster.set_param({"nthread": 1})
        self.booster_ = booster
