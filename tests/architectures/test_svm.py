"""SVM: the row cap keeps the newest rows of every asset, and the target is standardised
so that epsilon means the same at any return scale."""

from __future__ import annotations

import numpy as np
import pytest

from architectures.classical._common import newest_rows
from architectures.classical.svm import SVM


def test_newest_rows_keeps_the_latest_of_every_group() -> None:
    groups = np.repeat([0, 1, 2], [5, 3, 4])
    kept = newest_rows(groups, 12, 7)  # 7 = 3 + 2 + 2: the first group gets the extra row
    np.testing.assert_array_equal(kept, [2, 3, 4, 6, 7, 10, 11])
    np.testing.assert_array_equal(newest_rows(None, 12, 4), [8, 9, 10, 11])
    np.testing.assert_array_equal(newest_rows(groups, 12, 50), np.arange(12))
    with pytest.raises(ValueError):
        newest_rows(groups, 12, 0)


def data(n_per_asset: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * n_per_asset, 6)).astype(np.float32)
    y = 0.01 * (X[:, -1] + rng.standard_normal(2 * n_per_asset))
    return X, y, np.repeat([0, 1], n_per_asset)


def test_the_fit_sees_only_the_newest_capped_rows() -> None:
    X, y, groups = data()
    capped = SVM(max_train_rows=200).fit(X, y, seed=0, groups=groups)
    newest = np.r_[200:300, 500:600]
    direct = SVM(max_train_rows=10_000).fit(X[newest], y[newest], seed=0, groups=groups[newest])
    assert capped.estimator_.support_.size <= 200
    np.testing.assert_array_equal(capped.predict(X), direct.predict(X))


def test_predictions_follow_the_scale_of_the_target() -> None:
    X, y, groups = data()
    small = SVM(max_train_rows=400).fit(X, y, seed=0, groups=groups).predict(X)
    large = SVM(max_train_rows=400).fit(X, 100.0 * y, seed=0, groups=groups).predict(X)
    np.testing.assert_allclose(large, 100.0 * small, rtol=1e-6, atol=1e-9)
    assert np.corrcoef(small, y)[0, 1] > 0.3
