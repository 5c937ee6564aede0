"""XGBoost architecture: hyperparameters reach the booster, the seed drives subsampling,
and a warm start adds warm_rounds trees on top of the previous model's."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from architectures.classical.xgboost import XGBoost


def data(seed: int = 0, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 12)).astype(np.float32)
    y = 0.01 * (X[:, -1] + rng.standard_normal(n))
    return X, y


def depth(node: dict[str, Any]) -> int:
    children = node.get("children", [])
    return 0 if not children else 1 + max(depth(c) for c in children)


def trees(model: XGBoost) -> list[str]:
    return list(model.booster_.get_dump(dump_format="json"))


def test_trees_follow_the_hyperparameters() -> None:
    X, y = data()
    model = XGBoost(n_estimators=7, max_depth=2, min_child_weight=5.0).fit(X, y, seed=0)
    dumped = trees(model)
    assert len(dumped) == 7
    assert max(depth(json.loads(t)) for t in dumped) <= 2
    assert model.xgboost_params(0)["nthread"] == 1


def test_the_seed_drives_subsampling() -> None:
    X, y = data()
    params: dict[str, Any] = {"n_estimators": 20, "subsample": 0.5, "min_child_weight": 5.0}
    a = XGBoost(**params).fit(X, y, seed=0).predict(X)
    b = XGBoost(**params).fit(X, y, seed=1).predict(X)
    c = XGBoost(**params).fit(X, y, seed=0).predict(X)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_warm_start_adds_rounds_on_top_of_the_previous_trees() -> None:
    X, y = data()
    params: dict[str, Any] = {"n_estimators": 10, "warm_rounds": 4, "min_child_weight": 5.0}
    previous = XGBoost(**params).fit(X[:300], y[:300], seed=0)
    before = trees(previous)
    warm = XGBoost(**params).fit(X, y, seed=1, warm_start=previous)
    after = trees(warm)
    assert len(after) == 14
    assert after[:10] == before
    assert trees(previous) == before  # the previous model is untouched
