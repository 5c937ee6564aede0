"""Architectures that misbehave on purpose, importable by Ray workers by entry point."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from architectures.base import Architecture, Tags


class Raising(Architecture):
    """Raises in fit."""

    name = "raising_test_arch"
    tags = Tags(family="classical", input="tabular", min_history=10)

    def __init__(self, k: int = 0) -> None:
        self.k = k

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        raise ArithmeticError("deliberate failure in fit")

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X))

    def _save(self, path: Path) -> None:
        pass

    def _load(self, path: Path) -> None:
        pass


class Crashing(Raising):
    """Kills its worker process in fit (as a segfault or the OOM killer would)."""

    name = "crashing_test_arch"

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        os._exit(13)
