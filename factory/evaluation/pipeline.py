"""`FittedPipeline`: everything one retrain produces — the fitted preprocessor, the fitted
model(s) and the signal scale — with the code that turns lookback windows of raw
features into signals.

The engine fits one per block; the artifact store saves it; `load` rebuilds it and
predicts exactly what the in-memory object did.

Windows reach `predict_windows` *raw* (untransformed) as ``(n, lookback, F)`` — for the
``"panel"`` input kind ``(n, lookback, N)``: every asset's first feature (the one-bar
return) — and are scaled here, so the same code serves the walk-forward engine,
incremental evaluation and online inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from architectures.base import Architecture
from architectures.registry import ArchitectureSpec
from features.preprocess import Preprocessor

POOLED = "*"
SCALE_SAMPLE = 2_000  # training rows used to measure the prediction scale


def model_input(windows: np.ndarray, kind: str) -> np.ndarray:
    """Scaled windows ``(n, L, F)`` shaped for the architecture's input kind (see
    `architectures.base`): sequence and panel as they are, tabular flattened lag-major,
    series the first feature."""
    if kind == "series":
        return np.ascontiguousarray(windows[:, :, 0])
    if kind == "tabular":
        return windows.reshape(windows.shape[0], -1)
    return windows


def scale_windows(preprocessor: Preprocessor, windows: np.ndarray, kind: str) -> np.ndarray:
    """Apply the fitted scaling (and selection) to raw windows. Panel windows hold one
    feature of every asset, so the one fitted feature scales every column."""
    if kind == "panel":
        return preprocessor.transform(windows[..., None])[..., 0]
    return preprocessor.transform(windows)


def to_signal(pred: np.ndarray, output: str, scale: float) -> np.ndarray:
    """Predictions to signals in [-1, 1]: positions are clipped; expected returns are
    squashed with ``tanh(pred / scale)``, ``scale`` = RMS of the model's predictions on its
    own training rows (so a typical prediction maps to about ±0.76)."""
    if output == "position":
        return np.clip(pred, -1.0, 1.0)
    if scale <= 0 or not np.isfinite(scale):
        return np.zeros_like(pred)
    return np.tanh(pred / scale)


def prediction_scale(model: Architecture, X: np.ndarray, groups: np.ndarray | None) -> float:
    if model.tags.output == "position" or len(X) == 0:
        return 1.0
    idx = np.linspace(0, len(X) - 1, min(len(X), SCALE_SAMPLE)).astype(np.int64)
    pred = model.predict(X[idx], groups=None if groups is None else groups[idx])
    return float(np.sqrt(np.mean(pred**2)))


@dataclass
class FittedPipeline:
    spec: ArchitectureSpec
    preprocessor: Preprocessor
    models: dict[str, Architecture]  # POOLED, or one per asset name
    scales: dict[str, float]
    lookback: int

    @property
    def kind(self) -> str:
        return self.spec.input

    def covers(self, assets: tuple[str, ...]) -> np.ndarray:
        """Which assets have a model (all for a pooled model)."""
        if POOLED in self.models:
            return np.ones(len(assets), dtype=bool)
        return np.array([a in self.models for a in assets], dtype=bool)

    def predict_windows(
        self, windows: np.ndarray, a: np.ndarray, assets: tuple[str, ...]
    ) -> np.ndarray:
        """Signals for samples with raw windows ``windows`` (see the module docstring) of
        assets ``a`` (codes into ``assets``); NaN where no model covers the asset."""
        out = np.full(len(a), np.nan)
        if len(a) == 0:
            return out
        X = model_input(scale_windows(self.preprocessor, windows, self.kind), self.kind)
        if POOLED in self.models:
            model = self.models[POOLED]
            out[:] = to_signal(model.predict(X, groups=a), model.tags.output, self.scales[POOLED])
            return out
        for code in np.unique(a):
            name = assets[code]
            if name not in self.models:
                continue
            rows = np.flatnonzero(a == code)
            model = self.models[name]
            out[rows] = to_signal(
                model.predict(X[rows], groups=a[rows]), model.tags.output, self.scales[name]
            )
        return out

    def save(self, directory: Path) -> None:
        for key, model in self.models.items():
            model.save(directory / _subdir(key))
        meta = {"models": sorted(self.models), "scales": self.scales}
        (directory / "pipeline.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(
        cls, directory: Path, spec: ArchitectureSpec, schema: dict[str, Any]
    ) -> FittedPipeline:
        meta = json.loads((directory / "pipeline.json").read_text())
        arch = spec.load()
        models = {key: arch.load(directory / _subdir(key)) for key in meta["models"]}
        return cls(
            spec=spec,
            preprocessor=Preprocessor.from_dict(schema["preprocessor"]),
            models=models,
            scales={k: float(v) for k, v in meta["scales"].items()},
            lookback=int(schema["lookback"]),
        )


def _subdir(key: str) -> str:
    return "model" if key == POOLED else f"asset={key}"
