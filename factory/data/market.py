"""`MarketData`: the validated panel of bars the factory works on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from factory.data.schema import BAR_REQUIRED, KEY, NOT_IN_CLOSE_ONLY
from features import Panel


@dataclass(frozen=True, eq=False)
class MarketData:
    """Bars indexed by (timestamp, asset), sorted, with float columns
    ``open high low close volume`` and any optional columns (``bid_size``, ...,
    ``sentiment_score``, ``onchain_*``). Close-only data (``--close-only`` imports, the
    ``sp500-20`` sample) has ``close`` and no open/high/low/volume columns at all.

    Build from storage (`factory.storage.repository.load_market_data`), from the embedded
    sample (`factory.data.sample`) or the synthetic generator (`factory.data.synth`).
    """

    bars: pd.DataFrame

    def __post_init__(self) -> None:
        if list(self.bars.index.names) != list(KEY):
            raise ValueError("MarketData bars must be indexed by (timestamp, asset)")
        missing = [c for c in BAR_REQUIRED if c not in (*self.bars.columns, *NOT_IN_CLOSE_ONLY)]
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
    def close_only(self) -> bool:
        """No open/high/low/volume: closes only."""
        return not any(c in self.bars.columns for c in NOT_IN_CLOSE_ONLY)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.bars.columns)

    def __len__(self) -> int:
        return len(self.bars)

    @cached_property
    def _wide(self) -> Panel:
        return Panel.from_long(self.bars)

    def panel(self) -> Panel:
        """The wide view feature pipelines read (computed once, then reused)."""
        return self._wide
