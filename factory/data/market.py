"""`MarketData`: the validated panel of bars the factory works on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factory.data.schema import BAR_OPTIONAL, BAR_REQUIRED, KEY
from features import Panel


@dataclass(frozen=True, eq=False)
class MarketData:
    """Bars indexed by (timestamp, asset), sorted, with float columns
    ``open high low close volume`` and any optional columns (``bid_size``, ...,
    ``sentiment_score``, ``onchain_*``).

    Build from storage (`factory.storage.repository.load_market_data`), from the embedded
    sample (`factory.data.sample`) or the synthetic generator (`factory.data.synth`).
    """

    bars: pd.DataFrame
    _panel: list[Panel] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if list(self.bars.index.names) != list(KEY):
            raise ValueError("MarketData bars must be indexed by (timestamp, asset)")
        missing = [c for c in BAR_REQUIRED if c not in self.bars.columns]
        if missing:
            raise ValueError(f"MarketData lacks columns {missing}")
        if not self.bars.index.is_monotonic_increasing or not self.bars.index.is_unique:
            raise ValueError("MarketData index must be sorted and unique")

    @classmethod
    def from_long(cls, frame: pd.DataFrame) -> MarketData:
        """From a frame with ``timestamp`` and ``asset`` columns."""
        bars = frame.set_index(list(KEY)).sort_index()
        return cls(bars.astype("float64"))

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(sorted({str(a) for a in self.bars.index.get_level_values("asset")}))

    @property
    def timestamps(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.bars.index.get_level_values("timestamp").unique())

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.bars.columns)

    @property
    def optional_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in BAR_REQUIRED)

    def __len__(self) -> int:
        return len(self.bars)

    def panel(self) -> Panel:
        """The wide view feature pipelines read (computed once, then reused)."""
        if not self._panel:
            self._panel.append(Panel.from_long(self.bars))
        return self._panel[0]

    def select(
        self, assets: list[str] | None = None, end: pd.Timestamp | None = None
    ) -> MarketData:
        """A subset by assets and/or up to and including ``end``."""
        bars = self.bars
        if assets:
            unknown = sorted(set(assets) - set(self.assets))
            if unknown:
                raise KeyError(f"unknown assets {unknown}; stored: {list(self.assets)}")
            bars = bars[bars.index.get_level_values("asset").isin(assets)]
        if end is not None:
            bars = bars[bars.index.get_level_values("timestamp") <= end]
        return MarketData(bars)

    def fingerprint(self) -> str:
        """A short content hash of the bars: the data version."""
        hashed = pd.util.hash_pandas_object(self.bars, index=True).to_numpy()
        digest = hashlib.sha256(hashed.tobytes())
        digest.update(",".join(self.columns).encode())
        return digest.hexdigest()[:16]

    def summary(self) -> pd.DataFrame:
        """Per asset: first and last bar, row count, optional columns present."""
        rows = []
        for asset, frame in self.bars.groupby(level="asset", sort=True):
            ts = frame.index.get_level_values("timestamp")
            extras = [c for c in self.optional_columns if frame[c].notna().any()]
            rows.append(
                {
                    "asset": str(asset),
                    "first": ts.min(),
                    "last": ts.max(),
                    "bars": len(frame),
                    "extras": ", ".join(extras),
                }
            )
        return pd.DataFrame(rows)


def close_matrix(data: MarketData) -> np.ndarray:
    """``T x N`` closes aligned with ``data.panel()``."""
    return data.panel()["close"].to_numpy(dtype=np.float64)


__all__ = ["BAR_OPTIONAL", "MarketData", "close_matrix"]
