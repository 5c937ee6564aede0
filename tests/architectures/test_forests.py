"""Random forest and extra trees: the scikit-learn estimator they build (one thread, the
seed, how rows are sampled) and that min_samples_leaf bounds every leaf."""

from __future__ import annotations

import numpy as np
import pytest

from architectures.classical._forest import TreeEnsemble
from architectures.classical.extra_trees import ExtraTrees
from architectures.classical.random_forest import RandomForest


def data(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 10)).astype(np.float32)
    return X, 0.01 * (X[:, -1] + rng.standard_normal(n))


def test_random_forest_bootstraps_a_fraction_of_the_rows() -> None:
    est = RandomForest(max_samples=0.4).estimator(seed=11)
    assert (est.n_jobs, est.random_state, est.bootstrap, est.max_samples) == (1, 11, True, 0.4)
    assert type(est).__name__ == "RandomForestRegressor"


def test_extra_trees_grow_every_tree_on_all_rows() -> None:
    est = ExtraTrees().estimator(seed=3)
    assert (est.n_jobs, est.random_state, est.bootstrap) == (1, 3, False)
    assert type(est).__name__ == "ExtraTreesRegressor"
    assert "max_samples" not in ExtraTrees.param_names()


@pytest.mark.parametrize("cls", [RandomForest, ExtraTrees])
def test_min_samples_leaf_bounds_every_leaf_and_the_seed_matters(
    cls: type[TreeEnsemble],
) -> None:
    X, y = data()
    model = cls(n_estimators=5, min_samples_leaf=40).fit(X, y, seed=0)
    for tree in model.estimator_.estimators_:
        leaves = tree.tree_.children_left == -1
        assert tree.tree_.n_node_samples[leaves].min() >= 40
    other = cls(n_estimators=5, min_samples_leaf=40).fit(X, y, seed=1)
    assert not np.array_equal(model.predict(X), other.predict(X))
