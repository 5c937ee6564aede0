"""Gradient-boosted regression trees (LightGBM) on the flattened lookback window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`). The model regresses the forward return
``y`` with the L2 loss, so ``predict`` is an expected return (``output="return"``).

Reproducibility: LightGBM runs with ``num_threads=1`` (a Ray worker owns one core),
``deterministic=True`` and ``force_col_wise=True``, and every random source (bagging,
feature subsampling) is seeded from ``seed``; the same seed gives bit-identical trees.

Warm start (``fit(..., warm_start=previous)``): the booster continues from the previous
block's trees and adds ``warm_rounds`` rounds fitted on the new training rows (LightGBM's
``init_model``; the new rounds start from the previous model's predictions). Each warm
block therefore grows the ensemble by ``warm_rounds`` trees. The previous booster is
rebuilt from its model text (exactly what ``_save`` writes), so a warm start from a
loaded model and from the in-memory one give the same trees, and ``previous`` is never
modified. A cold fit ignores ``warm_rounds`` and is unchanged by it.

Saved state is LightGBM's own model text file (``model.txt``), which stores thresholds
and leaf values at full precision, so a loaded booster predicts exactly what the fitted
one did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.registry import register
from architectures.search import FloatRange, IntRange

MODEL_FILE = "model.txt"
# Rows sampled to find the histogram bin edges (LightGBM's default is 200,000). 31-63
# quantile bins are estimated well from 2,000 rows, and binning then costs a third.
BIN_SAMPLE_ROWS = 2000


@register
class LightGBM(Architecture):
    """Gradient-boosted trees (LightGBM, L2 loss) on the flattened lookback window.

    Parameters (LightGBM names in brackets):
        num_leaves         leaves per tree; the main capacity knob [num_leaves]
        n_estimators       boosting rounds [num_iterations]
        learning_rate      shrinkage per round [learning_rate]
        min_child_samples  fewest samples in a leaf; large values guard against fitting
                           noise in daily returns [min_data_in_leaf]
        subsample          fraction of rows drawn (without replacement) for each tree;
                           1.0 disables bagging [bagging_fraction, bagging_freq=1]
        colsample_bytree   fraction of columns (window cells) drawn for each tree
                           [feature_fraction]
        reg_lambda         L2 penalty on leaf values [lambda_l2]
        max_bin            histogram bins per feature [max_bin]
        warm_rounds        rounds added by a warm start (see the module docstring)

    Grid: ``num_leaves`` in {7, 31}. Every lookback fits (the window is flattened).
    """

    name = "lightgbm"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        supports_warm_start=True,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"num_leaves": (7, 31)}
    search_space: ClassVar = {
        "num_leaves": IntRange(4, 128, log=True),
        "n_estimators": IntRange(20, 400, log=True),
        "learning_rate": FloatRange(0.005, 0.3, log=True),
        "min_child_samples": IntRange(10, 500, log=True),
        "subsample": FloatRange(0.5, 1.0),
        "colsample_bytree": FloatRange(0.1, 1.0),
        "reg_lambda": FloatRange(1e-3, 100.0, log=True),
        "warm_rounds": IntRange(5, 100, log=True),
    }
    test_params: ClassVar = {
        "n_estimators": 8,
        "num_leaves": 7,
        "min_child_samples": 10,
        "warm_rounds": 4,
    }

    def __init__(
        self,
        num_leaves: int = 15,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.3,
        reg_lambda: float = 1.0,
        max_bin: int = 31,
        warm_rounds: int = 25,
    ) -> None:
        self.num_leaves = num_leaves
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.warm_rounds = warm_rounds

    def lightgbm_params(self, seed: int) -> dict[str, Any]:
        """The ``lightgbm.train`` parameter dict for these hyperparameters and ``seed``."""
        bagging = float(self.subsample) < 1.0
        return {
            "objective": "regression",
            "num_leaves": int(self.num_leaves),
            "learning_rate": float(self.learning_rate),
            "min_data_in_leaf": int(self.min_child_samples),
            "bagging_fraction": float(self.subsample),
            "bagging_freq": 1 if bagging else 0,
            "feature_fraction": float(self.colsample_bytree),
            "lambda_l2": float(self.reg_lambda),
            "max_bin": int(self.max_bin),
            "bin_construct_sample_cnt": BIN_SAMPLE_ROWS,
            "seed": seed,
            "bagging_seed": seed,
            "feature_fraction_seed": seed,
            "data_random_seed": seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        lgb = require("lightgbm")
        params = self.lightgbm_params(seed)
        # Binning and data seeds are Dataset parameters: the Dataset gets the same dict.
        data = lgb.Dataset(X, label=y, params=params, free_raw_data=True)
        self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators))

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        lgb = require("lightgbm")
        assert isinstance(previous, LightGBM)
        params = self.lightgbm_params(seed)
        # Rebuild from the model text (what _save writes): same trees from memory or disk,
        # and the previous booster is left untouched.
        start = lgb.Booster(model_str=previous.booster_.model_to_string())
        data = lgb.Dataset(X, label=y, params=params, free_raw_data=True)
        self.booster_ = lgb.train(
            params, data, num_boost_round=int(self.warm_rounds), init_model=start
        )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster_.predict(X, num_threads=1), dtype=np.float64)

    def _save(self, path: Path) -> None:
        self.booster_.save_model(str(path / MODEL_FILE))

    def _load(self, path: Path) -> None:
        lgb = require("lightgbm")
        self.booster_ = lgb.Booster(model_file=str(path / MODEL_FILE))
