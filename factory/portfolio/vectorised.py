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

from collections.abc import Sequence

import numpy as np
import pandas as pd

from factory.book.sizing import BookSpec
from factory.portfolio.construct import TargetPortfolio, build_portfolio
from factory.portfolio.ensemble import ensemble_signals
from factory.portfolio.risk import RiskLimits, shrunk_covariance


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


def weights_by_bar(
    signals: np.ndarray,
    members: np.ndarray,
    *,
    assets: Sequence[str],
    close: np.ndarray,
    book: BookSpec,
    limits: RiskLimits,
    cov_window: int = 252,
) -> tuple[np.ndarray, list[str]]:
    """The daily rebalance's rule (:func:`factory.portfolio.build_portfolio`: equal
    member weights, the configured book, every risk limit with the previous bar's
    weights) bar by bar, for books and limits the vectorised path does not cover.

    ``signals``/``members`` as in :func:`weights_array`; ``close``: ``B x N`` prices of the
    same bars preceded by up to ``cov_window`` earlier bars (``close.shape[0] - B`` of
    them), for the covariance of the vol target. Returns ``B x N`` weights and each bar's
    note (what bound).
    """
    n_bars, _, n_assets = signals.shape
    lead = close.shape[0] - n_bars
    if lead < 0:
        raise ValueError("close must cover at least the simulated bars")
    names = list(assets)
    returns = pd.DataFrame(close, columns=names).pct_change(fill_method=None)
    out = np.zeros((n_bars, n_assets), dtype=np.float64)
    notes: list[str] = []
    previous: pd.Series | None = None
    for b in range(n_bars):
        voters = np.flatnonzero(members[b])
        wide = pd.DataFrame(signals[b, voters], columns=names, index=[str(k) for k in voters])
        wide = wide.dropna(how="all")
        row = lead + b
        universe = [a for a, c in zip(names, close[row], strict=True) if np.isfinite(c)]
        covariance = None
        if limits.vol_target is not None:
            covariance = shrunk_covariance(
                returns.iloc[max(1, row + 1 - cov_window) : row + 1],
                window=cov_window,
                min_obs=min(60, cov_window),
            )
        built = build_portfolio(
            wide,
            book=book,
            limits=limits,
            universe=universe,
            previous=previous,
            covariance=covariance,
        )
        weights = built.weights.reindex(names).fillna(0.0)
        out[b] = weights.to_numpy()
        previous = built.weights
        notes.append(built.note)
    return out, notes
