"""Shared helpers of the classical architectures (not an architecture itself).

* `newest_rows`: cap the training rows, keeping the newest of every asset (rows reach
  ``fit`` ordered by asset, then time).
* `save_estimator` / `load_estimator`: a fitted scikit-learn estimator written with
  ``joblib`` (pickle protocol 5, numpy arrays stored raw). The artifact store only ever
  loads files the platform wrote itself, which is the case pickling is made for;
  predictions after a load are bit-identical.
* `standardise_target`: divide ``y`` by its standard deviation so that penalties and
  tolerances mean the same thing whatever the return scale (daily returns have a
  standard deviation of about 1e-2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from architectures.base import require

ESTIMATOR_FILE = "estimator.joblib"


def newest_rows(groups: np.ndarray | None, n: int, cap: int) -> np.ndarray:
    """Indices (ascending) of at most ``cap`` rows: the newest ``cap // n_groups`` rows of
    every group (the remainder goes to the groups listed first), or the last ``cap`` rows
    when ``groups`` is None. All rows when ``n <= cap``."""
    if cap < 1:
        raise ValueError(f"the row cap must be at least 1, got {cap}")
    if n <= cap:
        return np.arange(n)
    if groups is None:
        return np.arange(n - cap, n)
    codes = np.unique(groups)
    base, extra = divmod(cap, codes.size)
    keep: list[np.ndarray] = []
    for i, code in enumerate(codes):
        rows = np.flatnonzero(groups == code)
        k = base + (1 if i < extra else 0)
        keep.append(rows[max(0, rows.size - k) :])
    return np.sort(np.concatenate(keep))


def standardise_target(y: np.ndarray) -> tuple[np.ndarray, float]:
    """``(y / s, s)`` with ``s`` the standard deviation of ``y`` (1.0 if it is zero)."""
    scale = float(np.std(y))
    if not np.isfinite(scale) or scale <= 0.0:
        scale = 1.0
    return np.asarray(y, dtype=np.float64) / scale, scale


def save_estimator(estimator: Any, path: Path) -> None:
    """Write a fitted scikit-learn estimator into directory ``path``."""
    joblib = require("joblib", package="scikit-learn")
    joblib.dump(estimator, path / ESTIMATOR_FILE)


def load_estimator(path: Path) -> Any:
    """Read the estimator `save_estimator` wrote into ``path``."""
    joblib = require("joblib", package="scikit-learn")
    return joblib.load(path / ESTIMATOR_FILE)
