"""`FittedPipeline`: everything one retrain produces — the fitted preprocessor, the fitted
model(s) and the signal scale — with the code that turns bars' features into signals.

The engine fits one per block; the artifact store saves it; `load` rebuilds it and
predicts exactly what the in-memory object did.
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
from features.windows import gather_windows

POOLED = "*"
SCALE_SAMPLE = 2_000  # training rows used to measure the prediction scale


def design_matrix(
    values: np.ndarray, t: np.ndarray, a: np.ndarray, lookback: int, kind: str
) -> np.ndarray:
    """Model input for samples (t[i], a[i]) from a ``T x N x F`` array of preprocessed
    features, shaped for the architecture's input kind (see `architectures.base`)."""
    if kind == "series":
        return gather_windows(values[:, :, :1], t, a, lookback)[:, :, 0]
    windows = gather_windows(values, t, a, lookback)
    if kind == "tabular":
        return windows.reshape(windows.shape[0], -1)
    return windows


def to_signal(pred: np.ndarray, output: str, scale: float) -> np.ndarray:
    """Predictions to signals in [-1, 1]: positions are clipped; expected returns are
    squashed with ``tanh(pred / scale)``, ``scale`` = RMS of the model's predictions on its
    own training rows (so a typical prediction maps to about ±0.76)."""
    if output == "position":
        return np.clip(pred, -1.0, 1.0)
    if scale <= 0 or not np.isfinite(scale):
        return np.zeros_like(pred)
    return np.tanh(pred / scale)


def prediction_scale(model: Architecture, X: np.ndarray) -> float:
    if model.tags.output == "position" or len(X) == 0:
        return 1.0
    idx = np.linspace(0, len(X) - 1, min(len(X), SCALE_SAMPLE)).astype(np.int64)
    pred = model.predict(X[idx])
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

    def signals(
        self, values: np.ndarray, t: np.ndarray, a: np.ndarray, assets: tuple[str, ...]
    ) -> np.ndarray:
        """Signals for samples (t[i], a[i]) of preprocessed ``values``; NaN where no model
        covers the asset (per-asset models with too little history)."""
        out = np.full(len(t), np.nan)
        if len(t) == 0:
            return out
        if POOLED in self.models:
            X = design_matrix(values, t, a, self.lookback, self.kind)
            model = self.models[POOLED]
            out[:] = to_signal(model.predict(X), model.tags.output, self.scales[POOLED])
            return out
        for code, name in enumerate(assets):
            if name not in self.models:
                continue
            rows = np.flatnonzero(a == code)
            if rows.size == 0:
                continue
            X = design_matrix(values, t[rows], a[rows], self.lookback, self.kind)
            model = self.models[name]
            out[rows] = to_signal(model.predict(X), model.tags.output, self.scales[name])
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
