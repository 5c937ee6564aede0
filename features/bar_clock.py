"""Each asset's own sequence of bars, and the assembly of pipeline outputs.

A panel row is a timestamp of the universe; an asset may have no bar there (not listed
yet, delisted, halted, a missing record): its ``close`` is NaN. Per-asset pipelines
(ohlcv, technical, momentum, volatility, orderflow) count *the asset's own bars*:
"21 bars" means the asset's last 21 bars, and the one-bar return after a missing bar is
the return since the asset's previous bar. `BarClock` implements that by *compacting*
each ``T x N`` input so that column n holds asset n's bars in time order with no holes;
pipelines compute trailing statistics on the compact arrays and `BarClock.expand` puts
the results back at the original timestamps.

An asset whose bars form one contiguous run (late listing or delisting but no holes,
the usual case) would only be shifted by compaction, and trailing statistics are
shift-invariant, so its column is used as it is; only assets with holes are compacted. Compaction is causal either way:
compact row k of an asset is its k-th bar, and a trailing statistic there reads only
its earlier bars.

`feature_frame` stacks the outputs into a `FeatureFrame`; every feature is NaN where the
asset has no bar, and infinities become NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.frame import FeatureFrame, Panel

Array = np.ndarray

_BLOCK_ROWS = 8  # rows per block when interleaving features (keeps the block in cache)


@dataclass(frozen=True, eq=False)
class BarClock:
    """Where each asset has bars.

    ``present[t, n]`` is True when asset n has a bar at row t. ``holey`` lists the assets
    whose bars are *not* one contiguous run; only those are compacted (the others are
    left in place: trailing statistics are shift-invariant). ``gather = (rows, cols,
    ranks)`` locates their bars: the bar at ``(rows[i], holey[cols[i]])`` is bar number
    ``ranks[i]`` of its asset.
    """

    present: Array
    holey: Array
    gather: tuple[Array, Array, Array]

    @classmethod
    def from_mask(cls, present: Array) -> BarClock:
        present = np.asarray(present, dtype=bool)
        if present.ndim != 2:
            raise ValueError("the bar mask must be T x N")
        starts = present.copy()
        starts[1:] &= ~present[:-1]
        holey = np.flatnonzero(starts.sum(axis=0) > 1)
        sub = present[:, holey]
        rows, cols = np.nonzero(sub)
        ranks = (np.cumsum(sub, axis=0) - 1)[rows, cols]
        return cls(present=present, holey=holey, gather=(rows, cols, ranks))

    @classmethod
    def of(cls, panel: Panel, column: str = "close") -> BarClock:
        """An asset has a bar wherever ``panel[column]`` is finite."""
        return cls.from_mask(np.isfinite(panel[column].to_numpy(dtype=np.float64)))

    @property
    def contiguous(self) -> bool:
        """True when no asset has a hole in its bars (compaction is not needed)."""
        return self.holey.size == 0

    def compact(self, x: Array | pd.DataFrame) -> Array:
        """A ``T x N`` input in the asset-bar layout (a new array; the input is not
        modified): column n holds asset n's bars without holes, from row 0 for the
        compacted assets (NaN after their last bar)."""
        if isinstance(x, pd.DataFrame):
            values = x.to_numpy(dtype=np.float64, copy=True)
        else:
            values = np.array(x, dtype=np.float64, copy=True)
        if values.shape != self.present.shape:
            raise ValueError(f"expected shape {self.present.shape}, got {values.shape}")
        if self.holey.size:
            rows, cols, ranks = self.gather
            sub = np.full((values.shape[0], self.holey.size), np.nan)
            sub[ranks, cols] = values[:, self.holey][rows, cols]
            values[:, self.holey] = sub
        return values

    def expand(self, compact: Array) -> Array:
        """Inverse of `compact`: back to the panel's rows. The compacted assets are NaN
        where they have no bar; for the others the values are left as they are
        (`feature_frame` masks rows without a bar)."""
        compact = np.asarray(compact, dtype=np.float64)
        if not self.holey.size:
            return compact
        rows, cols, ranks = self.gather
        out = compact.copy()
        sub = np.full((compact.shape[0], self.holey.size), np.nan)
        sub[rows, cols] = compact[:, self.holey][ranks, cols]
        out[:, self.holey] = sub
        return out


def feature_frame(
    columns: Mapping[str, Array],
    panel: Panel,
    clock: BarClock,
    *,
    compact: bool = True,
) -> FeatureFrame:
    """Stack named feature arrays into a `FeatureFrame` on the panel's timestamps.

    ``compact=True``: the arrays are in ``clock``'s asset-bar layout and are expanded
    first; ``compact=False``: they are already ``T x N`` on the panel's rows. Every
    feature is set to NaN where the asset has no bar; infinities become NaN.
    """
    if not columns:
        raise ValueError("no features to stack")
    t, n = panel.shape
    arrays = []
    for name, array in columns.items():
        a = np.asarray(array, dtype=np.float64)
        if a.shape != (t, n):
            raise ValueError(f"feature {name!r} has shape {a.shape}, expected {(t, n)}")
        arrays.append(a)
    values = np.empty((t, n, len(arrays)), dtype=np.float64)
    for start in range(0, t, _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS]
        for i, a in enumerate(arrays):
            block[:, :, i] = a[start : start + _BLOCK_ROWS]
    if compact and clock.holey.size:  # put the compacted assets' bars back in their rows
        rows, cols, ranks = clock.gather
        for i, a in enumerate(arrays):
            sub = np.full((t, clock.holey.size), np.nan)
            sub[rows, cols] = a[:, clock.holey][ranks, cols]
            values[:, clock.holey, i] = sub
    absent = ~clock.present
    for start in range(0, t, _BLOCK_ROWS):
        block = values[start : start + _BLOCK_ROWS]
        block[~np.isfinite(block)] = np.nan
        block[absent[start : start + _BLOCK_ROWS]] = np.nan
    return FeatureFrame(
        values=values, timestamps=panel.index, assets=panel.assets, names=tuple(columns)
    )
