"""The embedded real samples. Nothing is downloaded; both ship inside installed packages.

* ``arch`` (the default): daily OHLCV of the S&P 500 and the NASDAQ Composite, 1999-2018
  (``arch.data``).
* ``sp500-20``: daily adjusted closes of 20 US large caps (AAPL ... XOM), 1990-2022, from
  ``skfolio.datasets.load_sp500_dataset``. Closes only: imported close-only, so open, high,
  low and volume stay absent (never invented) and the plan excludes the pipelines that need
  them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

SampleName = Literal["arch", "sp500-20"]

SAMPLE_ASSETS = {"SP500": "arch.data.sp500", "NASDAQ": "arch.data.nasdaq"}
SOURCE = "arch.data (S&P 500 and NASDAQ Composite daily OHLCV, 1999-2018)"
SP500_20_SOURCE = (
    "skfolio.datasets.load_sp500_dataset (20 US large caps, daily adjusted closes, 1990-2022)"
)


@dataclass(frozen=True)
class Sample:
    """One embedded sample: how to import it and what to call it."""

    name: SampleName
    source: str
    close_only: bool
    description: str


SAMPLES: dict[str, Sample] = {
    "arch": Sample(
        "arch", SOURCE, False, "S&P 500 and NASDAQ Composite, daily OHLCV 1999-2018 (arch)"
    ),
    "sp500-20": Sample(
        "sp500-20",
        SP500_20_SOURCE,
        True,
        "20 US large caps, daily adjusted closes 1990-2022, closes only (skfolio)",
    ),
}


def get_sample(name: str) -> Sample:
    try:
        return SAMPLES[name]
    except KeyError:
        raise KeyError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}") from None


def load_sample(name: str) -> pd.DataFrame:
    """The named sample as one long frame (see `sample_frame` / `sp500_20_frame`)."""
    return sample_frame() if get_sample(name).name == "arch" else sp500_20_frame()


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


def sp500_20_frame() -> pd.DataFrame:
    """skfolio's 20-stock S&P 500 sample as one long frame: timestamp, asset, close
    (adjusted closes, as published; no other column exists and none is made up)."""
    from skfolio.datasets import load_sp500_dataset

    wide = load_sp500_dataset()
    wide.index = pd.DatetimeIndex(wide.index).astype("datetime64[ns]").rename("timestamp")
    wide.columns = wide.columns.astype(str).rename("asset")
    long = wide.stack(future_stack=True).rename("close").reset_index()
    long = long.dropna(subset=["close"])  # a stock not yet listed has no bar, not a NaN bar
    return long.sort_values(["timestamp", "asset"], ignore_index=True)
