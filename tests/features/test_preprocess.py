"""Fitted preprocessing: robust scaling, feature selection, serialisation, and fitting on
the training window only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features import get_feature_set
from features.preprocess import Preprocessor, fit_preprocessor
from features.windows import forward_returns
from tests.features.helpers import dense_panel


def test_scaling_is_median_and_normal_consistent_iqr() -> None:
    x = np.arange(1.0, 102.0)  # 1 .. 101: median 51, quartiles 26 and 76
    X = np.column_stack([x, np.full(101, 7.0), (x % 10 == 0).astype(float)])
    p = fit_preprocessor(X, x, ["a", "const", "rare"])
    assert p.center[0] == 51.0
    assert p.scale[0] == pytest.approx(50.0 / 1.349)
    assert p.center[1] == 7.0 and p.scale[1] == 1.0  # constant: identity scale, maps to 0
    rare = X[:, 2]
    assert p.scale[2] == pytest.approx(rare.std())  # IQR is 0: falls back to the std
    out = p.transform(X)
    np.testing.assert_allclose(out[:, 0], (x - 51.0) / (50.0 / 1.349))
    assert (out[:, 1] == 0.0).all()


def test_one_outlier_neither_moves_the_scale_nor_escapes_the_clip() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 1))
    spiked = x.copy()
    spiked[10] = 1e6
    a = fit_preprocessor(x, x[:, 0], ["f"])
    b = fit_preprocessor(spiked, x[:, 0], ["f"])
    assert b.scale[0] == pytest.approx(a.scale[0], rel=0.01)
    assert b.transform(spiked)[10, 0] == 5.0


def test_transform_keeps_nan_dtype_and_leading_axes() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    p = fit_preprocessor(X, X[:, 0], ["a", "b", "c"])
    cube = rng.normal(size=(5, 4, 3)).astype(np.float32)
    cube[2, 1, 0] = np.nan
    out = p.transform(cube)
    assert out.shape == (5, 4, 3) and out.dtype == np.float32
    assert np.isnan(out[2, 1, 0]) and np.isfinite(np.delete(out.ravel(), 2 * 12 + 1 * 3)).all()
    with pytest.raises(ValueError, match="features on the last axis"):
        p.transform(np.zeros((2, 4)))


def test_round_trip_through_json() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    y = X[:, 1] + 0.1 * rng.normal(size=300)
    p = fit_preprocessor(X, y, ["a", "b", "c", "d"], selection="rfe", max_features=2)
    restored = Preprocessor.from_dict(json.loads(json.dumps(p.to_dict())))
    assert restored == p
    np.testing.assert_array_equal(restored.transform(X), p.transform(X))


def _data(
    seed: int = 3, n: int = 4000, twin: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """y = 2 x0 - x3 + noise; with ``twin`` x1 is a near copy of x0 (rho ~ 0.97); the rest
    is independent noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    if twin:
        X[:, 1] = X[:, 0] + 0.25 * rng.normal(size=n)
    y = 2.0 * X[:, 0] - X[:, 3] + 0.5 * rng.normal(size=n)
    return X, y, [f"x{i}" for i in range(8)]


def test_correlation_filter_drops_the_redundant_twin() -> None:
    X, y, names = _data()
    p = fit_preprocessor(X, y, names, selection="correlation")
    assert "x0" in p.names and "x1" not in p.names and "x3" in p.names
    assert len(p.names) == 7
    top = fit_preprocessor(X, y, names, selection="correlation", max_features=2)
    assert top.names == ("x0", "x3")
    assert top.selected == (0, 3)


def test_l1_keeps_the_true_predictors() -> None:
    X, y, names = _data(twin=False)
    assert fit_preprocessor(X, y, names, selection="l1").names == ("x0", "x3")
    assert fit_preprocessor(X, y, names, selection="l1", max_features=1).names == ("x0",)


def test_rfe_keeps_the_true_predictors() -> None:
    X, y, names = _data(twin=False)
    assert fit_preprocessor(X, y, names, selection="rfe", max_features=2).names == ("x0", "x3")
    assert len(fit_preprocessor(X, y, names, selection="rfe").names) == 4  # default: half


@pytest.mark.parametrize("selection", ["correlation", "l1", "rfe"])
def test_selection_is_deterministic_for_a_seed(selection: str) -> None:
    X, y, names = _data(n=3000)
    a = fit_preprocessor(X, y, names, selection=selection, seed=5, max_rows=500)
    b = fit_preprocessor(X, y, names, selection=selection, seed=5, max_rows=500)
    assert a == b


def test_invalid_arguments_are_rejected() -> None:
    X, y, names = _data(n=50)
    with pytest.raises(ValueError, match="unknown feature selection"):
        fit_preprocessor(X, y, names, selection="pca")
    with pytest.raises(ValueError, match="needs a selection"):
        fit_preprocessor(X, y, names, max_features=3)
    with pytest.raises(ValueError, match="one column per name"):
        fit_preprocessor(X, y, names[:-1])
    X_nan = X.copy()
    X_nan[5:, 0] = np.nan
    with pytest.raises(ValueError, match="complete training rows"):
        fit_preprocessor(X_nan, y, names, selection="l1")
    # scaling alone works with missing values
    assert fit_preprocessor(X_nan, y, names).center[0] == pytest.approx(np.median(X[:5, 0]))


@pytest.mark.parametrize("selection", ["none", "correlation", "l1", "rfe"])
def test_changing_the_test_window_does_not_change_training_features(selection: str) -> None:
    """What the walk-forward engine does: fit on the samples of rows [0, k), transform the
    whole T x N x F array. Rewriting every row >= k (features and labels) must leave the
    fitted preprocessor and the transformed training rows identical."""
    panel = dense_panel(n_bars=300, n_assets=4, seed=31)
    frame = get_feature_set("volatility")(panel)
    labels = forward_returns(panel["close"].to_numpy(), 5)
    k = 200

    def fit_and_transform(values: np.ndarray, y: np.ndarray) -> tuple[Preprocessor, np.ndarray]:
        train_hi = k - 5  # labels of rows >= k - 5 look into the test window: purged
        tt, aa = np.nonzero(np.isfinite(values[:train_hi]).all(axis=2) & np.isfinite(y[:train_hi]))
        fitted = fit_preprocessor(
            values[tt, aa],
            y[tt, aa],
            frame.names,
            selection=selection,
            max_features=None if selection == "none" else 5,
            seed=1,
        )
        return fitted, fitted.transform(values)

    before, transformed = fit_and_transform(frame.values, labels)
    rng = np.random.default_rng(0)
    values = frame.values.copy()
    values[k:] = rng.normal(size=values[k:].shape) * 100
    y = labels.copy()
    y[k - 5 :] = rng.normal(size=y[k - 5 :].shape)
    after, transformed_after = fit_and_transform(values, y)
    assert after == before
    np.testing.assert_array_equal(transformed_after[:k], transformed[:k])
    assert not np.array_equal(transformed_after[k:], transformed[k:], equal_nan=True)
