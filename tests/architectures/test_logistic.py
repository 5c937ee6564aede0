"""Logistic direction classifier: positions are 2 P(up) - 1 of the fitted scikit-learn
model, the penalty axis reaches the solver (L1 zeroes weights, L2 does not), and one
class only gives no position."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic

from architectures.classical.logistic import LogisticRegression


def data(n: int = 800) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 20)).astype(np.float32)
    y = 0.01 * (0.8 * X[:, -1] + rng.standard_normal(n))
    return X, y


def test_position_is_twice_the_probability_of_up_minus_one() -> None:
    X, y = data()
    model = LogisticRegression(C=0.05, penalty="l2").fit(X, y, seed=0)
    reference = SkLogistic(C=0.05, l1_ratio=0.0, solver="lbfgs", max_iter=200)
    reference.fit(X.astype(np.float64), (y > 0).astype(int))
    expected = 2.0 * reference.predict_proba(X.astype(np.float64))[:, 1] - 1.0
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-7, atol=1e-10)
    assert np.corrcoef(model.predict(X), y)[0, 1] > 0.4


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_an_l1_share_zeroes_weights_that_l2_keeps(penalty: str) -> None:
    X, y = data()
    sparse = LogisticRegression(C=0.01, penalty=penalty, max_iter=500).fit(X, y, seed=0)
    dense = LogisticRegression(C=0.01, penalty="l2").fit(X, y, seed=0)
    assert np.sum(sparse.coef_ == 0.0) >= 10
    assert np.sum(dense.coef_ == 0.0) == 0
    assert sparse.coef_[-1] > 0  # the informative column survives


def test_one_class_only_gives_flat_positions() -> None:
    X, _ = data(200)
    model = LogisticRegression().fit(X, np.full(200, 0.01), seed=0)
    np.testing.assert_array_equal(model.predict(X), np.zeros(200))


def test_an_unknown_penalty_is_refused() -> None:
    X, y = data(200)
    with pytest.raises(ValueError, match="penalty"):
        LogisticRegression(penalty="l3").fit(X, y, seed=0)
