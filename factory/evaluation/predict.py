"""Signals for the newest bar from a fitted pipeline: what online inference (the HTTP
API's ``POST /predict``) and incremental evaluation share with the walk-forward engine.

`last_bar_signals` applies exactly the engine's path — the pipeline's fitted
preprocessor, the lookback windows of each asset, the model(s) and the signal scaling —
to the last bar of a feature frame, so a signal served online equals the one the engine
stored for the same bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.evaluation.pipeline import FittedPipeline
from factory.evaluation.samples import SampleSpace
from features.frame import FeatureFrame


class FeatureSchemaError(ValueError):
    """The features at hand do not match what the fitted pipeline was trained on."""


def aligned_values(pipeline: FittedPipeline, frame: FeatureFrame) -> np.ndarray:
    """The frame's values in the column order the pipeline's preprocessor expects
    (extra columns dropped). A missing input feature raises `FeatureSchemaError` naming it."""
    wanted = pipeline.preprocessor.input_names
    position = {name: i for i, name in enumerate(frame.names)}
    missing = [n for n in wanted if n not in position]
    if missing:
        raise FeatureSchemaError(
            f"the features lack {', '.join(repr(m) for m in missing)}, which the model was "
            "trained on"
        )
    return frame.values[:, :, [position[n] for n in wanted]]


def last_bar_signals(
    pipeline: FittedPipeline, frame: FeatureFrame, close: np.ndarray | None = None
) -> pd.Series:
    """Signal in [-1, 1] per asset at the frame's last bar (asset -> signal); assets
    without a complete lookback window of their own bars there (or without a model) are
    left out. ``close`` (``T x N``, NaN = no bar) tells where each asset has bars; without
    it an asset is taken to have a bar where any of its features is finite."""
    values = aligned_values(pipeline, frame)
    L = pipeline.lookback
    T = values.shape[0]
    if T < L:
        raise FeatureSchemaError(
            f"{T} bars of features are fewer than the lookback of {L} bars the model reads"
        )
    if close is None:
        close = np.where(np.isfinite(values).any(axis=2), 1.0, np.nan)
    samples = SampleSpace(values, close, lookback=L, horizon=1, kind=pipeline.kind)
    aa = samples.predictable(T - 1)
    aa = aa[pipeline.covers(frame.assets)[aa]]
    tt = np.full(aa.size, T - 1, dtype=np.int64)
    signals = pipeline.predict_windows(samples.windows(tt, aa), aa, frame.assets)
    out = pd.Series(signals, index=[frame.assets[a] for a in aa], dtype=np.float64)
    return out.dropna()
