"""Composite score and eligibility gates over a ratings table (pure functions).

Both functions take the per-config table built by :func:`rating.engine.rate` (index =
config id, one column per metric) and a :class:`RatingPolicy`.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from rating._panel import FloatArray
from rating.policy import RatingPolicy

__all__ = [
    "GATE_LABELS",
    "GATE_ORDER",
    "composite_score",
    "evaluate_gates",
    "metric_scores",
]

#: Gate codes in the order they are checked; the first failure is the one reported.
GATE_ORDER: Final = ("failed", "stale", "health", "track_record", "max_drawdown", "dsr")
#: Human-readable names of the gates, for notes such as "480 fail the DSR gate".
GATE_LABELS: Final = {
    "failed": "failed",
    "stale": "freshness",
    "health": "health",
    "track_record": "track record",
    "max_drawdown": "max drawdown",
    "dsr": "DSR",
}


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def evaluate_gates(
    table: pd.DataFrame,
    policy: RatingPolicy,
    *,
    dsr_threshold: float | None = None,
) -> tuple[pd.Series, pd.Series]:
    """First failed gate of every config: ``(codes, reasons)``, both indexed like ``table``.

    ``codes`` holds a ``GATE_ORDER`` code or "" (eligible); ``reasons`` the matching
    plain-English reason, e.g. "max drawdown 41% > 35%" or "DSR 0.62 < 0.95".
    ``dsr_threshold`` overrides ``policy.dsr_threshold`` (used with
    ``policy.dsr_exit_threshold`` for incumbents). Uses columns ``failed``, ``stale``
    (optional: a non-empty reason fails the freshness gate), ``health``,
    ``n_obs``, ``max_drawdown`` and ``dsr``.
    """
    threshold = policy.dsr_threshold if dsr_threshold is None else dsr_threshold
    n = len(table)
    failed = table["failed"].to_numpy(dtype=bool)
    red = table["health"].astype(str).str.lower().to_numpy() == "red"
    stale = (
        table["stale"].fillna("").astype(str).to_numpy()
        if "stale" in table.columns
        else np.full(n, "", dtype=object)
    )
    n_obs = table["n_obs"].to_numpy(dtype=np.float64)
    mdd = table["max_drawdown"].to_numpy(dtype=np.float64)
    dsr = table["dsr"].to_numpy(dtype=np.float64)
    checks = {
        "failed": failed,
        "stale": stale != "",
        "health": red,
        "track_record": ~(n_obs >= policy.min_track_record),
        "max_drawdown": -mdd > policy.max_drawdown_limit,
        "dsr": ~(dsr >= threshold),  # NaN DSR fails
    }
    codes = np.full(n, "", dtype=object)
    for code in reversed(GATE_ORDER):  # earlier gates overwrite later ones
        codes[checks[code]] = code
    reasons = np.full(n, "", dtype=object)
    for i in np.flatnonzero(codes != ""):
        code = codes[i]
        if code == "failed":
            reasons[i] = "failed evaluation"
        elif code == "stale":
            reasons[i] = f"stale: {stale[i]}"
        elif code == "health":
            reasons[i] = "health red"
        elif code == "track_record":
            reasons[i] = f"track record {int(n_obs[i])} bars < {policy.min_track_record}"
        elif code == "max_drawdown":
            reasons[i] = f"max drawdown {_fmt(-mdd[i], '.0%')} > {policy.max_drawdown_limit:.0%}"
        else:
            reasons[i] = f"DSR {_fmt(dsr[i], '.2f')} < {threshold:.2f}"
    return (
        pd.Series(codes, index=table.index, name="gate_code", dtype=object),
        pd.Series(reasons, index=table.index, name="gate", dtype=object),
    )


def _percentile_ranks(values: FloatArray) -> FloatArray:
    """Average-rank percentiles in [0, 1] among finite values (1 = best); NaN → 0."""
    finite = np.isfinite(values)
    out = np.zeros(len(values))
    n = int(finite.sum())
    if n == 1:
        out[finite] = 0.5
    elif n > 1:
        out[finite] = (rankdata(values[finite], method="average") - 1.0) / (n - 1.0)
    return out


def _winsorised_z(values: FloatArray, quantile: float) -> FloatArray:
    """z-scores of values clipped to their [q, 1-q] quantiles; NaN → the lowest z."""
    finite = np.isfinite(values)
    out = np.zeros(len(values))
    x = values[finite]
    if x.size < 2:
        return out
    lo, hi = np.quantile(x, [quantile, 1.0 - quantile])
    clipped = np.clip(x, lo, hi)
    std = clipped.std(ddof=1)
    z = (clipped - clipped.mean()) / std if std > 0 else np.zeros_like(clipped)
    out[finite] = z
    out[~finite] = z.min()
    return out


def metric_scores(table: pd.DataFrame, policy: RatingPolicy) -> pd.DataFrame:
    """Per-metric transformed scores (higher = better) for every weighted metric.

    Metrics with no finite value at all (e.g. ``compute_cost`` when no records were
    given, ``avg_corr_active`` with an empty live set) are left out. A missing value
    (NaN) scores as the worst: missing evidence is not evidence.
    """
    columns: dict[str, FloatArray] = {}
    for metric, weight in policy.weights.items():
        if weight <= 0:
            continue
        values = table[metric].to_numpy(dtype=np.float64) * policy.direction(metric)
        if not np.isfinite(values).any():
            continue
        if policy.score_method == "rank":
            columns[metric] = _percentile_ranks(values)
        else:
            columns[metric] = _winsorised_z(values, policy.winsor_quantile)
    return pd.DataFrame(columns, index=table.index, dtype=np.float64)


def composite_score(table: pd.DataFrame, policy: RatingPolicy) -> pd.Series:
    """score = Σ_m w_m · s_m / Σ_m w_m over the metrics ``metric_scores`` keeps.

    With ``score_method="rank"`` the score lies in [0, 1] (1 = best on every metric);
    with ``"zscore"`` it is a weighted average z-score. NaN when no metric is usable.
    """
    scores = metric_scores(table, policy)
    if scores.shape[1] == 0:
        return pd.Series(np.nan, index=table.index, name="score", dtype=np.float64)
    weights = np.array([policy.weights[m] for m in scores.columns], dtype=np.float64)
    combined = scores.to_numpy() @ weights / weights.sum()
    return pd.Series(combined, index=table.index, name="score", dtype=np.float64)
