"""Small numpy-only architectures for the registry and contract-check tests.

`RidgeLast` follows every rule and must pass every check; each ``Broken*`` class
breaks exactly one rule so that the check guarding it can be seen to fail. None of them
is registered at import time (tests register them into an isolated registry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags


class RidgeLast(Architecture):
    """Ridge regression of y on the flattened window (closed form, no randomness).

    A warm start shrinks towards the previous coefficients instead of towards zero."""

    name = "dummy_ridge"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=20,
        supports_warm_start=True,
        lookback_use="flattened window",
    )
    param_grid: ClassVar = {"alpha": (0.1, 10.0)}
    test_params: ClassVar = {"alpha": 1.0}

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        self._solve(X, y, np.zeros(X.shape[1]))

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        self._solve(X, y, np.asarray(previous.coef_, dtype=np.float64))  # type: ignore[attr-defined]

    def _solve(self, X: np.ndarray, y: np.ndarray, prior: np.ndarray) -> None:
        A = X.astype(np.float64)
        self.x_mean_ = A.mean(axis=0)
        self.y_mean_ = float(y.mean())
        A = A - self.x_mean_
        gram = A.T @ A + float(self.alpha) * np.eye(A.shape[1])
        self.coef_ = np.linalg.solve(gram, A.T @ (y - self.y_mean_) + float(self.alpha) * prior)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.y_mean_ + (X.astype(np.float64) - self.x_mean_) @ self.coef_

    def _save(self, path: Path) -> None:
        state = {
            "x_mean": self.x_mean_.tolist(),
            "y_mean": self.y_mean_,
            "coef": self.coef_.tolist(),
        }
        (path / "ridge.json").write_text(json.dumps(state))

    def _load(self, path: Path) -> None:
        state = json.loads((path / "ridge.json").read_text())
        self.x_mean_ = np.asarray(state["x_mean"])
        self.y_mean_ = float(state["y_mean"])
        self.coef_ = np.asarray(state["coef"])


class RidgeLastV2(RidgeLast):
    """Version 2 of the same architecture name."""

    version = 2


class OtherRidge(RidgeLast):
    """A different class claiming the name ``dummy_ridge`` (a duplicate)."""


class PluginRidge(RidgeLast):
    """What an outside package would expose through an entry point."""

    name = "dummy_plugin"


NOT_AN_ARCHITECTURE = object()


# -- each class below breaks one rule -------------------------------------------


class BrokenTupleParam(RidgeLast):
    """A tuple default comes back from JSON as a list, so load() would change it."""

    name = "broken_tuple_param"

    def __init__(self, alpha: float = 1.0, layers: tuple[int, ...] = (8, 8)) -> None:
        self.alpha = alpha
        self.layers = layers


class BrokenNoDefault(RidgeLast):
    name = "broken_no_default"

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha


class BrokenConvertsParam(RidgeLast):
    """__init__ converts its parameter instead of storing it unchanged."""

    name = "broken_converts_param"
    test_params: ClassVar = {"alpha": 2}

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)


class BrokenInitState(RidgeLast):
    """__init__ does work besides storing its parameters."""

    name = "broken_init_state"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.history: list[float] = []


class BrokenConstant(RidgeLast):
    """Forecasts the training mean for every row."""

    name = "broken_constant"

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], self.y_mean_)


class BrokenBlockDemean(RidgeLast):
    """Subtracts the block's mean forecast: each prediction sees the other rows."""

    name = "broken_block_demean"

    def _predict(self, X: np.ndarray) -> np.ndarray:
        pred = super()._predict(X)
        return pred - pred.mean()


class BrokenPositionScale(RidgeLast):
    """Declares positions but returns unscaled scores."""

    name = "broken_position_scale"
    tags = Tags(
        family="classical",
        input="tabular",
        output="position",
        min_history=20,
        lookback_use="flattened window",
    )

    def _predict(self, X: np.ndarray) -> np.ndarray:
        pred = super()._predict(X)
        return 3.0 * pred / np.std(pred)


class BrokenOverridesPredict(RidgeLast):
    """Overrides the public predict, losing the base class's checks."""

    name = "broken_overrides_predict"

    def predict(self, X: np.ndarray, *, groups: np.ndarray | None = None) -> np.ndarray:
        return self._predict(np.asarray(X))


class BrokenUnseeded(RidgeLast):
    """Adds noise from an unseeded generator."""

    name = "broken_unseeded"

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        super()._fit(X, y, seed=seed, groups=groups)
        self.coef_ = self.coef_ + 1e-3 * np.random.default_rng().standard_normal(self.coef_.shape)


class BrokenLossySave(RidgeLast):
    """Saves its coefficients in float16."""

    name = "broken_lossy_save"

    def _load(self, path: Path) -> None:
        super()._load(path)
        self.coef_ = self.coef_.astype(np.float16).astype(np.float64)


class BrokenMutatesX(RidgeLast):
    """Centres X in place."""

    name = "broken_mutates_x"

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        X -= X.mean(axis=0)
        super()._fit(X, y, seed=seed, groups=groups)


class BrokenSignFlip(RidgeLast):
    """Fits well and then predicts the opposite."""

    name = "broken_sign_flip"

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return -super()._predict(X)


class BrokenWarmMutates(RidgeLast):
    """Warm start trains the previous model in place."""

    name = "broken_warm_mutates"

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        super()._fit_warm(X, y, seed=seed, groups=groups, previous=previous)
        previous.coef_ *= 0.5  # type: ignore[attr-defined]


class BrokenWarmIgnores(RidgeLast):
    """Declares warm starts but refits cold."""

    name = "broken_warm_ignores"

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        self._fit(X, y, seed=seed, groups=groups)


class BrokenNoLookbackUse(RidgeLast):
    """Does not say how it uses the lookback."""

    name = "broken_no_lookback_use"
    tags = Tags(family="classical", input="tabular", min_history=20)
