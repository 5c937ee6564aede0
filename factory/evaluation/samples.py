"""The samples of one evaluation: lookback windows, labels and which (bar, asset) pairs
may be trained on or predicted.

Windows and labels count each asset's own bars (`features.windows.OwnBars`): a missing
row in the universe grid (a weekend, a holiday, a halt) is not a bar of that asset, is
never inside its window and is skipped by its label. The ``"panel"`` input kind reads the
universe grid itself (every asset's return at the same timestamps), so its windows need
every asset to have a bar at every row of the window.

Timing (see `factory.evaluation.schedule`): the block starting at bar ``s`` trains on
samples (t, a) with ``t <= s - purge - embargo`` whose label is realised by bar
``s - (purge - horizon) - embargo`` — with no gaps that is ``t + horizon``; across a gap
the label ends later, and the sample waits until it is known.
"""

from __future__ import annotations

import numpy as np

from factory.evaluation.schedule import TrainRange
from features.windows import OwnBars, gather_windows, valid_samples


class SampleSpace:
    """Windows, labels and validity for one (feature set, lookback, horizon).

    ``values`` is the ``T x N x F`` raw feature array (series and panel architectures read
    only its first feature), ``close`` the ``T x N`` closes (NaN = no bar)."""

    def __init__(
        self,
        values: np.ndarray,
        close: np.ndarray,
        *,
        lookback: int,
        horizon: int,
        kind: str,
        label: str = "raw",
    ) -> None:
        if kind in ("series", "panel"):
            values = values[:, :, :1]
        self.values = values
        self.kind = kind
        self.lookback = lookback
        self.horizon = horizon
        present = np.isfinite(close)
        self.present = present
        self.own = OwnBars(present)
        self.labels, self.label_end = self.own.forward_returns(close, horizon)
        if label == "excess":
            # The asset's return in excess of the universe's mean over the same bars
            # (training labels only; positions still earn raw returns).
            finite = np.isfinite(self.labels)
            count = finite.sum(axis=1)
            total = np.where(finite, self.labels, 0.0).sum(axis=1)
            mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
            self.labels = self.labels - mean[:, None]
        elif label != "raw":
            raise ValueError(f"label must be 'raw' or 'excess', got {label!r}")
        if kind == "panel":
            self.packed = values
            every_asset = np.isfinite(values[:, :, 0]).all(axis=1)
            windows_ok = valid_samples(np.where(every_asset, 1.0, np.nan)[:, None, None], lookback)[
                :, 0
            ]
            self.valid = present & windows_ok[:, None]
        else:
            self.packed = self.own.pack(values)
            self.valid = self.own.valid_windows(self.packed, lookback)

    @property
    def n_bars(self) -> int:
        return int(self.present.shape[0])

    def training(self, rng: TrainRange, max_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """(t, asset) of a block's training samples: in the range, complete window,
        label known by ``rng.known_by``; the newest ``max_samples`` kept; ordered by
        asset then time (the order `Architecture.fit` receives)."""
        lo, hi = max(rng.lo, 0), rng.hi
        if hi < lo:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        ok = self.valid[lo : hi + 1] & np.isfinite(self.labels[lo : hi + 1])
        end = self.label_end[lo : hi + 1]
        ok &= (end >= 0) & (end <= rng.known_by)
        tt, aa = np.nonzero(ok)
        tt = tt + lo
        if len(tt) > max_samples:
            keep = np.argsort(-tt, kind="stable")[:max_samples]
            tt, aa = tt[keep], aa[keep]
        order = np.lexsort((tt, aa))
        return tt[order], aa[order]

    def current(self, t: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The raw features of samples (t, a) at their own bar, ``(n, F)``."""
        return self.values[t, a]

    def windows(self, t: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Raw windows of samples (t, a): ``(n, L, F)``, or ``(n, L, N)`` for panel input."""
        L = self.lookback
        if self.kind == "panel":  # one "asset" whose features are every asset's return
            return gather_windows(self.values[:, :, 0][:, None, :], t, np.zeros_like(a), L)
        return self.own.gather(self.packed, t, a, L)

    def predictable(self, t: int) -> np.ndarray:
        """Asset codes with a complete window at bar ``t``."""
        return np.flatnonzero(self.valid[t])
