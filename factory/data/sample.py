"""The embedded real default: daily OHLCV of the S&P 500 and the NASDAQ Composite,
1999-2018, shipped inside the ``arch`` package (``arch.data``). Nothing is downloaded."""

from __future__ import annotations

import pandas as pd

SAMPLE_ASSETS = {"SP500": "arch.data.sp500", "NASDAQ": "arch.data.nasdaq"}
SOURCE = "arch.data (S&P 500 and NASDAQ Composite daily OHLCV, 1999-2018)"


def sample_frame() -> pd.DataFrame:
    """The sample as one long frame: timestamp, asset, open, high, low, close, volume."""
    import importlib

    frames = []
    for asset, module in SAMPLE_ASSETS.items():
        raw = importlib.import_module(module).load()
        frame = pd.DataFrame(
            {
                "timestamp": pd.DatetimeIndex(raw.index).astype("datetime64[ns]"),
                "asset": asset,
                "open": raw["Open"].to_numpy(dtype="float64"),
                "high": raw["High"].to_numpy(dtype="float64"),
                "low": raw["Low"].to_numpy(dtype="float64"),
                "close": raw["Close"].to_numpy(dtype="float64"),
                "volume": raw["Volume"].to_numpy(dtype="float64"),
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(
        ["timestamp", "asset"], ignore_index=True
    )
