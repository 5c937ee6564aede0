"""Ridge, lasso and elastic net solve the documented objective on the standardised
target: ridge's closed form, the lasso's optimality conditions, and scale invariance."""

from __future__ import annotations

import numpy as np
import pytest

from architectures.classical._linear import PenalisedLinear
from architectures.classical.elastic_net import ElasticNet
from architectures.classical.lasso import Lasso
from architectures.classical.ridge import Ridge


def data(n: int = 600, k: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, k)).astype(np.float32)
    y = 0.01 * (0.5 * X[:, -1] - 0.3 * X[:, 0] + rng.standard_normal(n))
    return X, y


def centred(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X64 = X.astype(np.float64)
    z = y / np.std(y)
    return X64 - X64.mean(axis=0), z - z.mean()


def test_ridge_is_the_closed_form_of_the_per_row_penalty() -> None:
    X, y = data()
    alpha = 3.0
    model = Ridge(alpha=alpha).fit(X, y, seed=0)
    Xc, zc = centred(X, y)
    n, k = Xc.shape
    w = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(k), Xc.T @ zc / n)
    np.testing.assert_allclose(model.coef_, w, rtol=1e-8, atol=1e-12)


def test_lasso_meets_its_optimality_conditions() -> None:
    X, y = data()
    alpha = 0.05
    model = Lasso(alpha=alpha).fit(X, y, seed=0)
    Xc, zc = centred(X, y)
    gradient = Xc.T @ (zc - Xc @ model.coef_) / len(zc)
    zero = model.coef_ == 0.0
    assert zero.sum() >= 8 and not zero[-1] and not zero[0]
    assert np.all(np.abs(gradient[zero]) <= alpha + 1e-4)
    np.testing.assert_allclose(gradient[~zero], alpha * np.sign(model.coef_[~zero]), atol=1e-4)


@pytest.mark.parametrize(
    "model", [Ridge(alpha=1.0), Lasso(alpha=0.01), ElasticNet(alpha=0.02, l1_ratio=0.5)]
)
def test_penalties_do_not_depend_on_the_return_scale(model: PenalisedLinear) -> None:
    X, y = data()
    small = model.fit(X, y, seed=0)
    coef, pred = small.coef_.copy(), small.predict(X)
    large = type(model)(**model.get_params()).fit(X, 1e4 * y, seed=0)
    np.testing.assert_allclose(large.coef_, coef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(large.predict(X), 1e4 * pred, rtol=1e-6)


def test_elastic_net_lies_between_ridge_and_lasso_in_sparsity() -> None:
    X, y = data()
    zeros = {
        ratio: int(np.sum(ElasticNet(alpha=0.05, l1_ratio=ratio).fit(X, y, seed=0).coef_ == 0))
        for ratio in (0.1, 0.9)
    }
    assert zeros[0.1] <= zeros[0.9]
    assert int(np.sum(Lasso(alpha=0.05).fit(X, y, seed=0).coef_ == 0)) >= zeros[0.9]
    with pytest.raises(ValueError, match="l1_ratio"):
        ElasticNet(l1_ratio=1.0).fit(X, y, seed=0)
