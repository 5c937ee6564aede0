"""The equal-weight ensemble with the time-series book, for one bar or many at once.

The historical simulation's fast path (``weights_array`` does thousands of bars in a few
vectorised steps); the daily rebalance uses :func:`factory.portfolio.build_portfolio`,
which for ``ensemble = "equal"``, the ``timeseries`` book and no vol target or turnover
limit gives the same weights.

1. ensemble: per asset, the equal-weight mean of the active configs' signals (a config
   without a view on an asset does not vote on it);
2. positions: the ensemble signal per asset, equally weighted across the assets with a
   view — the same sizing the evaluation used for each config (``signal / n_assets``);
3. risk limits: each |weight| at most ``max_weight``, then the whole book scaled down so
   that gross exposure (sum of |weights|) is at most ``gross_limit``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factory.portfolio.construct import TargetPortfolio
from factory.portfolio.ensemble import ensemble_signals


def target_weights(
    signals: pd.DataFrame, *, gross_limit: float = 1.0, max_weight: float = 1.0
) -> TargetPortfolio:
    if gross_limit <= 0 or max_weight <= 0:
        raise ValueError("gross_limit and max_weight must be positive")
    if signals.empty:
        return TargetPortfolio(
            pd.Series(dtype=float), pd.Series(dtype=float), 0, 0.0, "no active config has a signal"
        )
    ens = ensemble_signals(signals).clip(-1.0, 1.0)
    if ens.empty:
        return TargetPortfolio(
            pd.Series(dtype=float), ens, len(signals), 0.0, "no asset has a signal"
        )
    w = ens / len(ens)
    w = w.clip(-max_weight, max_weight)
    gross = float(np.abs(w).sum())
    note = ""
    if gross > gross_limit:
        w = w * (gross_limit / gross)
        note = f"scaled by {gross_limit / gross:.3f} to the gross limit {gross_limit}"
        gross = float(np.abs(w).sum())
    return TargetPortfolio(w.sort_index(), ens.sort_index(), len(signals), gross, note)


def weights_array(
    signals: np.ndarray,
    members: np.ndarray,
    *,
    gross_limit: float = 1.0,
    max_weight: float = 1.0,
    chunk: int = 256,
) -> np.ndarray:
    """:func:`target_weights` for many bars at once (the historical simulation).

    ``signals``: ``B x K x N`` (bars x configs x assets; NaN = no view); ``members``:
    ``B x K`` bool, the configs whose signals vote at each bar. Returns ``B x N`` weights,
    bar by bar equal to ``target_weights`` of the members' signals, with 0 for an asset
    without a view (flat) and a zero row when no member has a view (cash).
    """
    if gross_limit <= 0 or max_weight <= 0:
        raise ValueError("gross_limit and max_weight must be positive")
    signals = np.asarray(signals)
    members = np.asarray(members, dtype=bool)
    if signals.ndim != 3 or members.shape != signals.shape[:2]:
        raise ValueError(
            f"signals must be B x K x N and members B x K, got {signals.shape} and {members.shape}"
        )
    n_bars, _, n_assets = signals.shape
    out = np.zeros((n_bars, n_assets), dtype=np.float64)
    for lo in range(0, n_bars, chunk):
        s = signals[lo : lo + chunk].astype(np.float64)
        votes = np.isfinite(s) & members[lo : lo + chunk, :, None]
        count = votes.sum(axis=1)
        total = np.where(votes, s, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ens = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        ens = np.clip(ens, -1.0, 1.0)
        view = np.isfinite(ens)
        n_view = view.sum(axis=1, keepdims=True)
        w = np.where(view, ens, 0.0) / np.maximum(n_view, 1)
        w = np.clip(w, -max_weight, max_weight)
        gross = np.abs(w).sum(axis=1, keepdims=True)
        scale = np.where(gross > gross_limit, gross_limit / np.where(gross > 0, gross, 1.0), 1.0)
        out[lo : lo + chunk] = w * scale
    return out
