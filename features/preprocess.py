"""The fitted part of the feature path: robust scaling and optional feature selection.

Pipelines are stateless; anything *fitted* lives here and is fitted by the walk-forward
engine on the training samples of each block only, then applied to every row it
predicts. Nothing here sees a row outside the ``X`` it is given.

Scaling (always): for feature f, fitted on its finite training values,

* ``center_f = median(x_f)``;
* ``scale_f = IQR(x_f) / 1.349`` (the normal-consistent interquartile range), falling back
  to the standard deviation when the IQR is 0 (e.g. a mostly-constant indicator), and to
  1 when that is 0 too (a constant feature then maps to 0);
* ``transform(x) = clip((x - center) / scale, -5, 5)``.

Median/IQR and the clip keep one outlier bar (a 300 % crypto day, a stale volume spike)
from setting the scale or dominating a linear model. NaN stays NaN.

Selection (``selection=``, a config parameter the plan can expand; recorded in the
artifact's feature schema through `Preprocessor.to_dict`). All methods work on the
scaled training rows where every feature and the label are finite, on at most
``max_rows`` of them (a seeded, order-preserving subsample):

``"none"``          keep every feature.
``"correlation"``   correlation filter: visit features by decreasing ``|corr(x_f, y)|`` and
                    keep one unless its ``|corr|`` with an already kept feature exceeds
                    ``corr_threshold`` (0.9): of each highly correlated pair the one more
                    correlated with the label stays. Then at most ``max_features``.
``"l1"``            LASSO: the LARS-lasso path of the standardised label on the features
                    (`sklearn.linear_model.lars_path`); the point of the path with the
                    lowest BIC ``n log(RSS / n) + k log n`` among those with 1 to
                    ``max_features`` non-zero coefficients; keep the non-zero ones. BIC
                    rather than cross-validation because training rows are ordered by
                    asset, not time, and shuffled folds would leak overlapping labels.
``"rfe"``           recursive feature elimination (`sklearn.feature_selection.RFE`) with a
                    ridge regression (alpha 1), dropping 10 % of the features per round
                    down to ``max_features`` (default: half, rounded up).

Selected features keep their original order. The result is deterministic for a given
``(X, y, seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SELECTIONS = ("none", "correlation", "l1", "rfe")
CLIP = 5.0
CORR_THRESHOLD = 0.9
MAX_ROWS = 200_000
_IQR_TO_SIGMA = 1.349
_FORMAT = 1


@dataclass(frozen=True)
class Preprocessor:
    """A fitted scaler + feature selection. ``center``/``scale`` are per input feature;
    ``selected`` indexes ``input_names``; ``names`` are the selected names, in order."""

    input_names: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    selected: tuple[int, ...]
    names: tuple[str, ...]
    selection: str = "none"
    clip: float = CLIP

    def __post_init__(self) -> None:
        f = len(self.input_names)
        if len(self.center) != f or len(self.scale) != f:
            raise ValueError("center and scale need one value per input feature")
        if not self.selected or any(not 0 <= i < f for i in self.selected):
            raise ValueError("selected must be a non-empty set of input feature indices")
        if list(self.selected) != sorted(set(self.selected)):
            raise ValueError("selected indices must be increasing and unique")
        if self.names != tuple(self.input_names[i] for i in self.selected):
            raise ValueError("names must be the selected input names")
        if any(not s > 0 or not math.isfinite(s) for s in self.scale):
            raise ValueError("scales must be positive and finite")

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale and select along the last axis of ``values`` (``[..., F] -> [...,
        F_selected]``); NaN stays NaN. Float32 input gives float32 output."""
        values = np.asarray(values)
        if values.shape[-1] != len(self.input_names):
            raise ValueError(
                f"expected {len(self.input_names)} features on the last axis, got {values.shape[-1]}"
            )
        dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        idx = np.asarray(self.selected, dtype=np.int64)
        center = np.asarray(self.center, dtype=dtype)[idx]
        scale = np.asarray(self.scale, dtype=dtype)[idx]
        out = values[..., idx].astype(dtype, copy=False)
        out = (out - center) / scale
        return np.clip(out, -self.clip, self.clip, out=out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (goes into the model artifact's feature schema)."""
        return {
            "format": _FORMAT,
            "input_names": list(self.input_names),
            "center": list(self.center),
            "scale": list(self.scale),
            "selected": list(self.selected),
            "names": list(self.names),
            "selection": self.selection,
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        if data.get("format", _FORMAT) != _FORMAT:
            raise ValueError(f"unsupported preprocessor format {data.get('format')!r}")
        return cls(
            input_names=tuple(str(n) for n in data["input_names"]),
            center=tuple(float(v) for v in data["center"]),
            scale=tuple(float(v) for v in data["scale"]),
            selected=tuple(int(i) for i in data["selected"]),
            names=tuple(str(n) for n in data["names"]),
            selection=str(data["selection"]),
            clip=float(data["clip"]),
        )


def robust_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (center, scale) as described in the module docstring."""
    X = np.asarray(X, dtype=np.float64)
    f = X.shape[1]
    center = np.zeros(f)
    scale = np.ones(f)
    if X.shape[0] and np.isfinite(X).all():
        q25, q50, q75 = np.percentile(X, [25.0, 50.0, 75.0], axis=0)
        std = X.std(axis=0)
    else:
        q25, q50, q75, std = (np.full(f, np.nan) for _ in range(4))
        for j in range(f):
            col = X[np.isfinite(X[:, j]), j]
            if col.size:
                q25[j], q50[j], q75[j] = np.percentile(col, [25.0, 50.0, 75.0])
                std[j] = col.std()
    for j in range(f):
        if not math.isfinite(q50[j]):
            continue  # no finite training value: identity scaling
        center[j] = q50[j]
        s = (q75[j] - q25[j]) / _IQR_TO_SIGMA
        if not s > 0:
            s = std[j]
        scale[j] = s if s > 0 and math.isfinite(s) else 1.0
    return center, scale


def fit_preprocessor(
    X: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    *,
    selection: str = "none",
    max_features: int | None = None,
    seed: int = 0,
    corr_threshold: float = CORR_THRESHOLD,
    max_rows: int = MAX_ROWS,
) -> Preprocessor:
    """Fit scaling and selection on training rows ``X`` (``n_train x F``) with labels
    ``y`` (``n_train``). See the module docstring for the methods."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    names = tuple(str(n) for n in names)
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"X must be n x {len(names)} (one column per name), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have {X.shape[0]} values, got shape {y.shape}")
    if selection not in SELECTIONS:
        raise ValueError(f"unknown feature selection {selection!r}; choose from {SELECTIONS}")
    if max_features is not None and max_features < 1:
        raise ValueError("max_features must be at least 1")
    if selection == "none" and max_features is not None:
        raise ValueError("max_features needs a selection method")

    center, scale = robust_scaling(X)
    if selection == "none":
        selected = tuple(range(len(names)))
    else:
        Z, target = _selection_rows(X, y, center, scale, seed, max_rows)
        limit = len(names) if max_features is None else min(max_features, len(names))
        if selection == "correlation":
            chosen = _correlation_filter(Z, target, corr_threshold, limit)
        elif selection == "l1":
            chosen = _lasso_bic(Z, target, limit)
        else:
            default = math.ceil(len(names) / 2)
            chosen = _rfe(Z, target, limit if max_features is not None else default)
        selected = tuple(sorted(int(i) for i in chosen))
    return Preprocessor(
        input_names=names,
        center=tuple(float(c) for c in center),
        scale=tuple(float(s) for s in scale),
        selected=selected,
        names=tuple(names[i] for i in selected),
        selection=selection,
    )


def _selection_rows(
    X: np.ndarray, y: np.ndarray, center: np.ndarray, scale: np.ndarray, seed: int, max_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled, clipped complete rows (at most ``max_rows``, seeded) and the standardised
    label."""
    complete = np.isfinite(X).all(axis=1) & np.isfinite(y)
    rows = np.flatnonzero(complete)
    if rows.size < 10:
        raise ValueError(
            f"feature selection needs at least 10 complete training rows, got {rows.size}"
        )
    if rows.size > max_rows:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    Z = np.clip((X[rows] - center) / scale, -CLIP, CLIP)
    target = y[rows]
    sd = target.std()
    target = (target - target.mean()) / (sd if sd > 0 else 1.0)
    return Z, target


def _abs_corr_with(Z: np.ndarray, target: np.ndarray) -> np.ndarray:
    zc = Z - Z.mean(axis=0)
    tc = target - target.mean()
    denom = np.sqrt((zc * zc).sum(axis=0) * (tc * tc).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(zc.T @ tc) / denom
    return np.where(np.isfinite(r), r, 0.0)


def _correlation_filter(
    Z: np.ndarray, target: np.ndarray, threshold: float, limit: int
) -> list[int]:
    relevance = _abs_corr_with(Z, target)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.abs(np.corrcoef(Z, rowvar=False))
    between = np.where(np.isfinite(between), between, 0.0)
    order = sorted(range(Z.shape[1]), key=lambda j: (-relevance[j], j))
    kept: list[int] = []
    for j in order:
        if all(between[j, k] <= threshold for k in kept):
            kept.append(j)
        if len(kept) == limit:
            break
    return kept


def _lasso_bic(Z: np.ndarray, target: np.ndarray, limit: int) -> list[int]:
    from sklearn.linear_model import lars_path

    n = Z.shape[0]
    zc = Z - Z.mean(axis=0)
    _, _, coefs = lars_path(zc, target, method="lasso")
    gram = zc.T @ zc
    xty = zc.T @ target
    yty = float(target @ target)
    best: tuple[float, int] | None = None
    for k in range(coefs.shape[1]):
        beta = coefs[:, k]
        nonzero = int(np.count_nonzero(beta))
        if not 1 <= nonzero <= limit:
            continue
        rss = max(yty - 2.0 * float(beta @ xty) + float(beta @ gram @ beta), 1e-300)
        bic = n * math.log(rss / n) + nonzero * math.log(n)
        if best is None or bic < best[0]:
            best = (bic, k)
    if best is None:  # X'y = 0: no feature enters the path; keep the most correlated one
        return [int(np.argmax(_abs_corr_with(Z, target)))]
    return [int(i) for i in np.flatnonzero(coefs[:, best[1]])]


def _rfe(Z: np.ndarray, target: np.ndarray, keep: int) -> list[int]:
    from sklearn.feature_selection import RFE
    from sklearn.linear_model import Ridge

    if keep >= Z.shape[1]:
        return list(range(Z.shape[1]))
    rfe = RFE(Ridge(alpha=1.0), n_features_to_select=keep, step=0.1).fit(Z, target)
    return [int(i) for i in np.flatnonzero(rfe.support_)]
