"""Build the shared evaluation inputs of a feature set from market data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory.data.market import MarketData
from factory.evaluation.engine import EvalInputs
from features.cache import FeatureCache
from features.frame import FeatureFrame
from features.registry import FeatureSet


def compute_features(
    data: MarketData, fs: FeatureSet, cache_dir: str | Path | None = None
) -> FeatureFrame:
    """The feature frame of ``fs`` on ``data`` — from the on-disk cache when this data
    version was computed before (by any process), else computed and cached."""
    panel = data.panel()
    if cache_dir is None:
        return fs(panel)
    return FeatureCache(Path(cache_dir), dtype=np.float32).get_or_compute(fs, panel)


def check_execution(execution: str, data: MarketData) -> None:
    """Refuse ``next_open`` execution on data without opens (close-only universes): trading
    at an open the data does not have would mean inventing it. There is no silent fallback;
    the message names the setting and the alternatives."""
    if execution == "next_open" and "open" not in data.columns:
        from factory.settings import SettingsError

        raise SettingsError(
            "[evaluation] execution = 'next_open' needs opens, but the data is close-only "
            f"({len(data.assets)} asset(s), no open column): use execution = 'next_close' "
            "(the default) or 'close', or select OHLCV assets with [data] assets"
        )


def build_inputs(
    data: MarketData, fs: FeatureSet, cache_dir: str | Path | None = None
) -> EvalInputs:
    frame = compute_features(data, fs, cache_dir)
    values = frame.values.astype(np.float32, copy=False)
    frame = FeatureFrame(values, frame.timestamps, frame.assets, frame.names)
    panel = data.panel()
    close = panel["close"].reindex(columns=list(frame.assets)).to_numpy(dtype=np.float64)
    opens = None
    if "open" in panel:
        opens = panel["open"].reindex(columns=list(frame.assets)).to_numpy(dtype=np.float64)
        if not np.isfinite(opens).any():
            opens = None
    return EvalInputs(frame, close, opens)
