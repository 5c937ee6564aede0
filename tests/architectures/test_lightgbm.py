"""LightGBM architecture: hyperparameters reach the booster, and the seed is used."""

from __future__ import annotations

from typing import Any

import numpy as np

from architectures.classical.lightgbm import LightGBM


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 12)).astype(np.float32)
    y = 0.01 * (X[:, -1] + rng.standard_normal(400))
    return X, y


def test_trees_follow_the_hyperparameters() -> None:
    X, y = data()
    model = LightGBM(n_estimators=9, num_leaves=5, min_child_samples=10)
    model.fit(X, y, seed=0)
    dump = model.booster_.dump_model()
    assert len(dump["tree_info"]) == 9
    assert max(tree["num_leaves"] for tree in dump["tree_info"]) == 5
    assert model.lightgbm_params(0)["num_threads"] == 1


def test_min_child_samples_bounds_the_leaves() -> None:
    X, y = data()
    model = LightGBM(n_estimators=3, num_leaves=31, min_child_samples=150)
    model.fit(X, y, seed=0)

    def leaf_counts(node: dict[str, Any]) -> list[int]:
        if "leaf_count" in node:
            return [node["leaf_count"]]
        return leaf_counts(node["left_child"]) + leaf_counts(node["right_child"])

    for tree in model.booster_.dump_model()["tree_info"]:
        assert min(leaf_counts(tree["tree_structure"])) >= 150


def test_the_seed_drives_bagging() -> None:
    X, y = data()
    params: dict[str, Any] = {"n_estimators": 20, "subsample": 0.5, "colsample_bytree": 0.5}
    a = LightGBM(**params, min_child_samples=10).fit(X, y, seed=0).predict(X)
    b = LightGBM(**params, min_child_samples=10).fit(X, y, seed=1).predict(X)
    assert not np.array_equal(a, b)


def test_warm_start_adds_rounds_on_top_of_the_previous_trees() -> None:
    X, y = data()
    params: dict[str, Any] = {"n_estimators": 10, "warm_rounds": 4, "min_child_samples": 10}
    previous = LightGBM(**params).fit(X[:250], y[:250], seed=0)
    before = previous.booster_.dump_model()["tree_info"]
    warm = LightGBM(**params).fit(X, y, seed=1, warm_start=previous)
    after = warm.booster_.dump_model()["tree_info"]
    assert len(after) == 14
    assert [t["tree_structure"] for t in after[:10]] == [t["tree_structure"] for t in before]
    assert previous.booster_.dump_model()["tree_info"] == before  # previous untouched


def test_a_cold_fit_ignores_warm_rounds() -> None:
    X, y = data()
    a = LightGBM(n_estimators=10, warm_rounds=3).fit(X, y, seed=0)
    b = LightGBM(n_estimators=10, warm_rounds=60).fit(X, y, seed=0)
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
