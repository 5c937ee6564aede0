"""One rebalance's target portfolio: ensemble -> book -> risk limits (pure).

1. too few members with a signal (``min_members``) -> cash, with the reason;
2. the ensemble signal per asset (:mod:`factory.portfolio.ensemble`, member weights
   given), clipped to [-1, 1];
3. the book (:func:`factory.book.sizing.target_weights`, the same function and
   ``[portfolio] book`` the walk-forward evaluation used for every config) turns those
   signals into weights over the assets that have a bar now;
4. the risk limits (:mod:`factory.portfolio.risk`), each binding rule reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from factory.book.sizing import BookSpec
from factory.book.sizing import target_weights as book_weights
from factory.portfolio.ensemble import ensemble_signals
from factory.portfolio.risk import Binding, RiskLimits, apply_limits


@dataclass(frozen=True)
class TargetPortfolio:
    weights: pd.Series  # asset -> weight (absent = flat)
    ensemble: pd.Series  # asset -> combined signal of the members
    n_configs: int  # members with a signal this bar
    gross: float
    note: str = ""
    bindings: tuple[Binding, ...] = field(default=())
    member_weights: pd.Series | None = None

    @property
    def net(self) -> float:
        return float(self.weights.sum())

    @property
    def cash(self) -> float:
        """Capital not at work: 1 - gross for a long-only book (and the share a
        long/short book leaves unused)."""
        return max(0.0, 1.0 - self.gross)


def _cash(note: str, n: int, ensemble: pd.Series | None = None) -> TargetPortfolio:
    empty = pd.Series(dtype=float)
    return TargetPortfolio(empty, ensemble if ensemble is not None else empty, n, 0.0, note)


def build_portfolio(
    signals: pd.DataFrame,
    *,
    book: BookSpec,
    limits: RiskLimits,
    member_weights: pd.Series | None = None,
    universe: Sequence[str] | None = None,
    previous: pd.Series | None = None,
    covariance: pd.DataFrame | None = None,
) -> TargetPortfolio:
    """``signals``: members x assets at this bar (NaN = no view); ``universe``: the
    assets with a bar now (default: the columns of ``signals``); ``previous``: the
    weights of the last rebalance (for the turnover limit)."""
    members = [str(c) for c in signals.index] if not signals.empty else []
    if len(members) < limits.min_members:
        what = (
            "no active config has a signal"
            if not members
            else (
                f"{len(members)} active config(s) with a signal, fewer than the minimum "
                f"{limits.min_members}"
            )
        )
        return _cash(f"cash: {what}", len(members))
    ens = ensemble_signals(signals, member_weights).clip(-1.0, 1.0)
    if ens.empty:
        return _cash("cash: no asset has a signal", len(members), ens)
    assets = sorted(set(universe) if universe is not None else set(signals.columns))
    view = ens.reindex(assets)
    raw = pd.Series(book_weights(view.to_numpy(dtype=np.float64), book=book), index=assets)
    raw = raw[raw != 0]
    weights, bindings = apply_limits(raw, limits, previous=previous, covariance=covariance)
    weights = weights[weights != 0].sort_index()
    gross = float(weights.abs().sum())
    note = "; ".join(b.detail for b in bindings)
    return TargetPortfolio(
        weights, ens.sort_index(), len(members), gross, note, bindings, member_weights
    )
