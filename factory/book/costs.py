"""Trading costs per unit of turnover, per asset and bar.

``rate[t, a] = bps(a) / 1e4 + slippage_vol * sigma[t, a]``

* ``bps(a)``: ``by_asset`` is a schedule of (glob pattern, bps) pairs matched against the
  asset's name, first match wins (``("BTC*", 20.0)``, ``("*-USD", 15.0)``), else ``bps``:
  equities and crypto pay different spreads and fees.
* ``sigma[t, a]``: the standard deviation of the asset's last ``vol_window`` one-bar
  returns on its own bars up to and including t (causal; 0 until ``vol_window`` returns
  exist, and the last value carries over bars where the asset has none) — slippage that
  grows with volatility, off by default.

A trade of |Δw| costs ``rate * |Δw|`` of capital.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.windows import OwnBars


@dataclass(frozen=True)
class CostModel:
    bps: float = 5.0
    by_asset: tuple[tuple[str, float], ...] = ()
    slippage_vol: float = 0.0
    vol_window: int = 20

    def __post_init__(self) -> None:
        if self.bps < 0 or any(b < 0 for _, b in self.by_asset):
            raise ValueError("costs in bps must be >= 0")
        if self.slippage_vol < 0 or self.vol_window < 2:
            raise ValueError("slippage_vol must be >= 0 and vol_window >= 2")

    def asset_bps(self, assets: Sequence[str]) -> np.ndarray:
        out = np.full(len(assets), float(self.bps))
        for i, name in enumerate(assets):
            for pattern, bps in self.by_asset:
                if fnmatch.fnmatchcase(name, pattern):
                    out[i] = float(bps)
                    break
        return out

    def rates(self, assets: Sequence[str], close: np.ndarray) -> np.ndarray:
        """``T x N`` cost per unit of turnover (a fraction of capital)."""
        close = np.asarray(close, dtype=np.float64)
        base = np.broadcast_to(self.asset_bps(assets) / 1e4, close.shape).copy()
        if self.slippage_vol == 0:
            return base
        own = OwnBars(np.isfinite(close))
        packed = pd.DataFrame(own.pack(close))
        sigma_packed = (
            packed.pct_change(fill_method=None)
            .rolling(self.vol_window, min_periods=self.vol_window)
            .std()
            .to_numpy()
        )
        sigma = np.full(close.shape, np.nan)
        t_idx, n_idx = np.nonzero(own.present)
        sigma[t_idx, n_idx] = sigma_packed[own.rank[t_idx, n_idx], n_idx]
        carried = pd.DataFrame(sigma).ffill().fillna(0.0).to_numpy()
        return base + self.slippage_vol * carried
