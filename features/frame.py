"""The two data shapes that cross the `features` boundary.

`Panel` is what a pipeline reads: one wide ``T x N`` DataFrame per bar column
(index = UTC timestamps, columns = assets). Wide frames let every rolling operation
run across all assets at once instead of one asset at a time.

`FeatureFrame` is what a pipeline returns: a dense ``T x N x F`` float array with its
timestamps, assets and ordered feature names. Walk-forward windowing slices it along
the time axis without copying. ``to_long()`` gives the design's long form
``DataFrame[(timestamp, asset) x feature]`` for inspection and storage.

Neither class knows about storage or the factory; both are plain numpy/pandas.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Panel:
    """Bars in wide form: ``fields[column]`` is a ``T x N`` frame (timestamps x assets).

    All frames share the same sorted, unique ``DatetimeIndex`` and the same asset
    columns. A bar that an asset lacks is NaN.
    """

    fields: Mapping[str, pd.DataFrame]

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError("a Panel needs at least one column")
        first = next(iter(self.fields.values()))
        for name, frame in self.fields.items():
            if not frame.index.equals(first.index) or not frame.columns.equals(first.columns):
                raise ValueError(f"panel column {name!r} is not aligned with the others")
        if not first.index.is_monotonic_increasing or not first.index.is_unique:
            raise ValueError("panel timestamps must be sorted and unique")

    def __getitem__(self, column: str) -> pd.DataFrame:
        try:
            return self.fields[column]
        except KeyError:
            raise KeyError(
                f"panel has no column {column!r}; it has {sorted(self.fields)}"
            ) from None

    def __contains__(self, column: object) -> bool:
        return column in self.fields

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.fields)

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(next(iter(self.fields.values())).index)

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(str(a) for a in next(iter(self.fields.values())).columns)

    @property
    def shape(self) -> tuple[int, int]:
        """(number of timestamps, number of assets)."""
        rows, cols = next(iter(self.fields.values())).shape
        return rows, cols

    @classmethod
    def from_long(cls, bars: pd.DataFrame) -> Panel:
        """Pivot a long frame indexed by (timestamp, asset) into a Panel."""
        if list(bars.index.names) != ["timestamp", "asset"]:
            raise ValueError("long bars must be indexed by (timestamp, asset)")
        wide = bars.unstack("asset").sort_index()
        assets = sorted({str(a) for a in bars.index.get_level_values("asset")})
        fields: dict[str, pd.DataFrame] = {
            str(col): pd.DataFrame(wide[col]).reindex(columns=assets).astype("float64")
            for col in bars.columns
        }
        for frame in fields.values():
            frame.columns.name = "asset"
            frame.index.name = "timestamp"
        return cls(fields)

    def head(self, n_bars: int) -> Panel:
        """The first ``n_bars`` timestamps (used by causality tests)."""
        return Panel({k: v.iloc[:n_bars] for k, v in self.fields.items()})


@dataclass(frozen=True, eq=False)
class FeatureFrame:
    """Dense features: ``values[t, n, f]`` is feature ``names[f]`` of ``assets[n]`` at
    ``timestamps[t]``, computed from bars up to and including ``timestamps[t]``.

    Warm-up rows (not enough history yet) are NaN; nothing is forward-filled.
    """

    values: np.ndarray
    timestamps: pd.DatetimeIndex
    assets: tuple[str, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        expected = (len(self.timestamps), len(self.assets), len(self.names))
        if self.values.shape != expected:
            raise ValueError(f"values have shape {self.values.shape}, expected {expected}")
        if len(set(self.names)) != len(self.names):
            raise ValueError("feature names must be unique")

    @classmethod
    def from_wide(
        cls, columns: Mapping[str, pd.DataFrame], dtype: type = np.float64
    ) -> FeatureFrame:
        """Stack named ``T x N`` frames (all aligned) into a FeatureFrame."""
        if not columns:
            raise ValueError("no features to stack")
        first = next(iter(columns.values()))
        values: np.ndarray = np.empty((first.shape[0], first.shape[1], len(columns)), dtype=dtype)
        for i, (name, frame) in enumerate(columns.items()):
            if not frame.index.equals(first.index) or not frame.columns.equals(first.columns):
                raise ValueError(f"feature {name!r} is not aligned with the others")
            values[:, :, i] = frame.to_numpy(dtype=dtype, na_value=np.nan)
        values[~np.isfinite(values)] = np.nan
        return cls(
            values=values,
            timestamps=pd.DatetimeIndex(first.index),
            assets=tuple(str(a) for a in first.columns),
            names=tuple(columns),
        )

    def to_long(self) -> pd.DataFrame:
        """``DataFrame[(timestamp, asset) x feature]``."""
        t, n, f = self.values.shape
        index = pd.MultiIndex.from_product(
            [self.timestamps, list(self.assets)], names=["timestamp", "asset"]
        )
        return pd.DataFrame(self.values.reshape(t * n, f), index=index, columns=list(self.names))

    def feature(self, name: str) -> pd.DataFrame:
        """One feature as a ``T x N`` frame."""
        i = self.names.index(name)
        return pd.DataFrame(self.values[:, :, i], index=self.timestamps, columns=list(self.assets))
