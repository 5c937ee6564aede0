"""A model without skill, for pools that look like the factory's (most configs find
nothing): it predicts random returns with the spread of its training labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags


class CoinFlip(Architecture):
    """Random predictions, deterministic in the fit seed, ``k`` and the inputs."""

    name = "coin_flip_test_arch"
    tags = Tags(family="classical", input="tabular", output="return", min_history=20)
    param_grid: ClassVar = {"k": (0,)}
    test_params: ClassVar = {"k": 0}

    def __init__(self, k: int = 0) -> None:
        self.k = k

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        self.scale_ = float(np.std(y)) or 1.0
        self.seed_ = int(seed)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        salt = int(np.nan_to_num(np.abs(X)).sum() * 1e6) % (2**32)
        rng = np.random.default_rng([self.seed_, int(self.k), salt])
        return rng.normal(0.0, self.scale_, len(X))

    def _save(self, path: Path) -> None:
        (path / "coin.json").write_text(json.dumps({"scale": self.scale_, "seed": self.seed_}))

    def _load(self, path: Path) -> None:
        state = json.loads((path / "coin.json").read_text())
        self.scale_, self.seed_ = float(state["scale"]), int(state["seed"])
