"""Kaufman's adaptive moving average (KAMA) as a trend model.

Input ``series``: each row is the window of the asset's one-bar returns, oldest first. The
log-price path is rebuilt from it; KAMA follows the path with a smoothing constant that
adapts to the efficiency ratio (net move / sum of absolute moves, since the window's start)
between ``2 / (fast + 1)`` (a clean trend) and ``2 / (slow + 1)`` (noise). The feature is
the distance of the last price from its KAMA in units of the window's volatility,
``d = (p - kama) / (std(r) x sqrt(lookback))``; the forecast is ``beta x d`` with ``beta``
the least-squares slope of the forward return on ``d`` over the training rows (positive:
trend following; negative: the market mean-reverts around its KAMA).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags
from architectures.search import IntRange


def kama_distance(X: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """``d`` for every row of ``X`` (n x lookback returns); row-wise, no row sees another."""
    r = np.asarray(X, dtype=np.float64)
    path = np.cumsum(np.log1p(np.clip(r, -0.99, None)), axis=1)
    fast_sc, slow_sc = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    kama = path[:, 0].copy()
    travelled = np.zeros(len(r))
    for t in range(1, path.shape[1]):
        travelled += np.abs(path[:, t] - path[:, t - 1])
        net = np.abs(path[:, t] - path[:, 0])
        er = np.divide(net, travelled, out=np.zeros_like(net), where=travelled > 0)
        sc = (er * (fast_sc - slow_sc) + slow_sc) ** 2
        kama = kama + sc * (path[:, t] - kama)
    scale = r.std(axis=1) * np.sqrt(r.shape[1])
    return np.divide(path[:, -1] - kama, scale, out=np.zeros(len(r)), where=scale > 0)


class Kama(Architecture):
    """Kaufman adaptive moving average: trend (or reversal) around an adaptive mean.

    Parameters:
        fast   period of the fastest smoothing (clean trend), bars
        slow   period of the slowest smoothing (noise), bars

    Grid: ``slow`` in {10, 30}. Every lookback fits (the window is the KAMA's history).
    """

    name = "kama"
    version = 1
    tags = Tags(
        family="econometric",
        input="series",
        output="return",
        min_history=50,
        cost_hint=0.05,
        lookback_use="window of returns the KAMA runs over",
    )
    param_grid: ClassVar = {"slow": (10, 30)}
    search_space: ClassVar = {"fast": IntRange(2, 10), "slow": IntRange(5, 60)}
    test_params: ClassVar = {}

    def __init__(self, fast: int = 2, slow: int = 30) -> None:
        self.fast = fast
        self.slow = slow

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        d = kama_distance(X, self.fast, self.slow)
        denom = float(d @ d)
        self.beta_ = float(d @ np.asarray(y, dtype=np.float64)) / denom if denom > 0 else 0.0

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.beta_ * kama_distance(X, self.fast, self.slow)

    def _save(self, path: Path) -> None:
        (path / "kama.json").write_text(json.dumps({"beta": self.beta_}))

    def _load(self, path: Path) -> None:
        self.beta_ = float(json.loads((path / "kama.json").read_text())["beta"])
