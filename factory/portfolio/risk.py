"""Risk limits on a book of target weights (pure functions).

Applied in this order to the weights the book produced from the ensemble signals:

1. ``max_weight``  each |weight| at most this (the excess is dropped to cash);
2. ``net_limit``   |sum of weights| at most this (the whole book scaled);
3. ``gross_limit`` sum of |weights| at most this (the whole book scaled);
4. ``vol_target``  the book's predicted volatility, ``sqrt(w' S w * periods_per_year)``
                   with ``S`` a Ledoit–Wolf shrunk covariance of trailing asset returns,
                   at most this (the whole book scaled; never levered up);
5. ``max_turnover``  sum of |target - previous| at most this: the book moves from the
                   previous weights towards the target by the largest fraction allowed.
                   Steps 1-4 define convex sets, so when the previous weights satisfied
                   them the blended book does too.

Each limit that changes the weights is reported as a :class:`Binding` ("scaled 0.62 to
the 10% vol target", "NVDA capped at 20%"), which the rebalance record keeps.
The covariance estimator is scikit-learn's ``LedoitWolf``: a well-kept implementation of
the shrinkage estimator, and the only optimisation-free piece the rules need — every
limit above is a scaling or a clip, so no portfolio optimiser is involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_EPS = 1e-12


@dataclass(frozen=True)
class RiskLimits:
    max_weight: float = 1.0
    gross_limit: float = 1.0
    net_limit: float | None = None
    vol_target: float | None = None  # annualised, e.g. 0.10
    periods_per_year: int = 252
    max_turnover: float | None = None
    min_members: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.max_weight <= 1:
            raise ValueError(f"max_weight must be in (0, 1], got {self.max_weight}")
        if self.gross_limit <= 0:
            raise ValueError(f"gross_limit must be > 0, got {self.gross_limit}")
        if self.net_limit is not None and self.net_limit < 0:
            raise ValueError(f"net_limit must be >= 0, got {self.net_limit}")
        if self.vol_target is not None and self.vol_target <= 0:
            raise ValueError(f"vol_target must be > 0, got {self.vol_target}")
        if self.max_turnover is not None and self.max_turnover <= 0:
            raise ValueError(f"max_turnover must be > 0, got {self.max_turnover}")
        if self.min_members < 1:
            raise ValueError(f"min_members must be >= 1, got {self.min_members}")


@dataclass(frozen=True)
class Binding:
    """A limit that changed the book: which rule, in words, and the factor it applied
    (a scale for the book-wide rules, the share of the move kept for turnover)."""

    rule: str
    detail: str
    factor: float | None = None


def shrunk_covariance(
    returns: pd.DataFrame, *, window: int = 252, min_obs: int = 60
) -> pd.DataFrame | None:
    """Ledoit–Wolf covariance of the trailing ``window`` bars of asset returns (bars x
    assets). Assets with fewer than ``min_obs`` returns are left out; missing returns of
    the others count as 0 after demeaning. None when fewer than two bars qualify."""
    from sklearn.covariance import LedoitWolf

    tail = returns.tail(window)
    keep = tail.columns[tail.notna().sum() >= min_obs]
    if len(keep) == 0:
        return None
    centred = tail[keep] - tail[keep].mean()
    x = centred.fillna(0.0).to_numpy(dtype=np.float64)
    if x.shape[0] < 2:
        return None
    cov = LedoitWolf(assume_centered=True).fit(x).covariance_
    return pd.DataFrame(cov, index=keep, columns=keep)


def predicted_vol(weights: pd.Series, covariance: pd.DataFrame, periods_per_year: int) -> float:
    """Annualised volatility of ``weights`` under ``covariance``. An asset without a
    covariance row is given the mean variance of the others and no correlation."""
    inside = weights.index.intersection(covariance.index)
    w_in = weights.reindex(inside).to_numpy(dtype=np.float64)
    s = covariance.loc[inside, inside].to_numpy(dtype=np.float64)
    var = float(w_in @ s @ w_in)
    outside = weights.drop(inside)
    if len(outside):
        var += float(np.mean(np.diag(covariance.to_numpy()))) * float((outside**2).sum())
    return float(np.sqrt(max(var, 0.0) * periods_per_year))


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


def _names(assets: list[str], limit: int = 3) -> str:
    shown = ", ".join(assets[:limit])
    return shown + (f" and {len(assets) - limit} more" if len(assets) > limit else "")


def apply_limits(
    weights: pd.Series,
    limits: RiskLimits,
    *,
    previous: pd.Series | None = None,
    covariance: pd.DataFrame | None = None,
) -> tuple[pd.Series, tuple[Binding, ...]]:
    """The weights after every limit (see the module docstring) and what bound."""
    w = weights.astype(float).fillna(0.0)
    bound: list[Binding] = []

    over = w.abs() > limits.max_weight + _EPS
    if over.any():
        w = w.clip(-limits.max_weight, limits.max_weight)
        bound.append(
            Binding(
                "max_weight",
                f"{_names(sorted(map(str, w.index[over])))} capped at {_pct(limits.max_weight)}",
            )
        )
    net = float(w.sum())
    if limits.net_limit is not None and abs(net) > limits.net_limit + _EPS:
        scale = limits.net_limit / abs(net)
        w = w * scale
        bound.append(
            Binding("net", f"scaled {scale:.2f} to the net limit {limits.net_limit:g}", scale)
        )
    gross = float(w.abs().sum())
    if gross > limits.gross_limit + _EPS:
        scale = limits.gross_limit / gross
        w = w * scale
        bound.append(
            Binding("gross", f"scaled {scale:.2f} to the gross limit {limits.gross_limit:g}", scale)
        )
    if limits.vol_target is not None and covariance is not None and w.abs().sum() > 0:
        vol = predicted_vol(w, covariance, limits.periods_per_year)
        if vol > limits.vol_target + _EPS:
            scale = limits.vol_target / vol
            w = w * scale
            bound.append(
                Binding(
                    "vol_target",
                    f"scaled {scale:.2f} to the {_pct(limits.vol_target)} vol target "
                    f"(predicted {vol:.1%})",
                    scale,
                )
            )
    if limits.max_turnover is not None and previous is not None:
        assets = w.index.union(previous.index)
        prev = previous.reindex(assets).astype(float).fillna(0.0)
        target = w.reindex(assets).fillna(0.0)
        turnover = float((target - prev).abs().sum())
        if turnover > limits.max_turnover + _EPS:
            share = limits.max_turnover / turnover
            w = prev + (target - prev) * share
            w = w[(w != 0) | w.index.isin(weights.index)]
            bound.append(
                Binding(
                    "turnover",
                    f"turnover {turnover:.2f} limited to {limits.max_turnover:g} "
                    f"(moved {share:.0%} of the way)",
                    share,
                )
            )
    return w, tuple(bound)
