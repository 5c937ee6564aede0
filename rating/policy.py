"""RatingPolicy: every knob of the rating engine, with documented defaults.

Fields are plain values (int, float, str, tuple, dict, timedelta) so that the settings
layer can mirror them one to one (``[rating]`` in factory.toml).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Literal

from rating.overfitting import SrVarianceMethod

__all__ = [
    "DEFAULT_WEIGHTS",
    "METRIC_DIRECTIONS",
    "BenchmarkChoice",
    "RatingPolicy",
    "ScoreMethod",
    "SrAutocorrelation",
]

ScoreMethod = Literal["rank", "zscore"]
BenchmarkChoice = Literal["none", "universe"]
SrAutocorrelation = Literal["adjust", "ignore"]

#: +1: higher is better; -1: lower is better. Every column the score may weight, besides
#: the trailing ``sharpe_<w>`` columns (one per ``RatingPolicy.windows``, higher better).
#: ``max_drawdown`` is negative (-0.30 = 30% down), so higher (closer to 0) is better.
METRIC_DIRECTIONS: Mapping[str, int] = MappingProxyType(
    {
        "sharpe_all": +1,
        "sortino": +1,
        "annual_return": +1,
        "annual_volatility": -1,
        "max_drawdown": +1,
        "calmar": +1,
        "win_rate": +1,
        "profit_factor": +1,
        "recovery_time": -1,
        "time_under_water": -1,
        "avg_corr_active": -1,
        "compute_cost": -1,
        "turnover": -1,
        "n_obs": +1,
        "psr": +1,
        "dsr": +1,
    }
)

#: Default composite weights (they need not sum to 1; the score divides by their sum).
#: Rationale (docs/metrics.md, "Composite score"):
#: - dsr 0.25: the only input that knows how many configs were tried; it carries the
#:   statistical evidence that the edge is real.
#: - sharpe_all 0.15, sharpe_90 0.10: risk-adjusted return since inception (the longest,
#:   least noisy sample) plus the recent regime. The 30- and 60-bar Sharpe ratios are
#:   reported but not weighted: their standard error (≈ √(252/30) ≈ 2.9 annualised on 30
#:   bars) swamps any plausible skill; ranking on them is what picks noise.
#: - sortino 0.10, calmar 0.10, max_drawdown 0.05, time_under_water 0.05: the shape of
#:   losses, which Sharpe ignores and which live capital feels.
#: - avg_corr_active 0.10: prefer configs that diversify the current live set.
#: - turnover 0.05, compute_cost 0.05: returns are already net of costs, so these are
#:   tie-breakers for robustness to cost misestimation and for cluster budget.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "dsr": 0.25,
        "sharpe_all": 0.15,
        "sharpe_90": 0.10,
        "sortino": 0.10,
        "calmar": 0.10,
        "max_drawdown": 0.05,
        "time_under_water": 0.05,
        "avg_corr_active": 0.10,
        "turnover": 0.05,
        "compute_cost": 0.05,
    }
)


def _default_weights() -> dict[str, float]:
    return dict(DEFAULT_WEIGHTS)


@dataclass(frozen=True)
class RatingPolicy:
    """All parameters of rating, gating, selection and promotion.

    Metrics
        periods_per_year: bars per year for annualisation (252 daily bars).
        windows: trailing windows (bars) for the ``sharpe_<w>`` columns.
        min_overlap: minimum common bars for a pairwise correlation (else unknown).

    Score
        weights: metric name -> non-negative weight (see ``METRIC_DIRECTIONS``).
        score_method: "rank" (cross-sectional percentile ranks in [0, 1]) or "zscore"
            (z-scores of values winsorised at ``winsor_quantile`` / 1 - winsor_quantile).
        winsor_quantile: tail share clipped before z-scoring (0.05 = 5th/95th pct).

    Eligibility gates (checked in this order; the first failure is reported)
        failed / health "red" (always), then
        min_track_record: minimum out-of-sample bars (126 ≈ half a year of days: the
            DSR's normal approximation and the 90-bar window both need that much).
        max_drawdown_limit: largest tolerated drawdown as a positive fraction (0.35).
        dsr_threshold: minimum deflated Sharpe ratio to enter the live set (0.95).
        dsr_exit_threshold: an incumbent stays while its DSR is at least this (0.90), a
            hysteresis band so that DSR noise around 0.95 does not churn the set.

    Selection and promotion
        min_active / max_active: bounds of the live set (10 / 15).
        top_k: target size of the live set (12); must lie in [min_active, max_active]
            (a policy outside it is rejected rather than silently clamped).
        correlation_cap: a candidate more correlated than this with an already selected
            config is skipped (0.80), unless needed to reach ``min_active``.
        exit_rank_multiple: an incumbent is kept while its rank among eligible configs is
            at most ceil(exit_rank_multiple x target) (2.0 → rank 24 for 12).
        min_holding: an incumbent is not demoted for rank within this time after its
            promotion (5 days ≈ one trading week); gates still apply.

    Benchmark
        benchmark: "universe" (default): rate every config on its returns in excess of
            the beta-matched benchmark series passed to ``rate(..., benchmark=...)`` (the
            factory passes the equal-weight universe), so that market drift does not
            count as skill; "none": rate raw returns against zero. See
            ``rating.benchmark`` and docs/metrics.md, "Skill net of the market".

    Population statistics
        sr_variance_method: how V, the variance of trial Sharpe ratios behind SR0, is
            estimated: "null" (zero-skill sampling variance, default), "sample" (the
            paper's cross-sectional variance) or "robust" (MAD, floored at "null"); see
            ``rating.overfitting.trials_sr_variance`` and docs/metrics.md.
        sr_autocorrelation: "adjust" (default): widen the Sharpe standard error behind
            PSR, DSR and the "null" V by each config's variance inflation factor for
            serially correlated returns (``rating.autocorrelation``); "ignore": the iid
            formulas, which pass up to 3x too many zero-skill configs when returns are
            autocorrelated (docs/metrics.md, "Serial correlation").
        compute_pbo: compute the PBO of the population by CSCV (costs ~0.1-0.5 s).
        pbo_partitions: CSCV blocks S (16 → 12,870 splits).
        pbo_max_combinations: evaluate at most this many splits (None = all).
        pbo_warning: a pool PBO above this (0.5: the in-sample best does worse than the
            out-of-sample median more often than not) is flagged as a warning in the
            ratings summary and the promotion note.
        max_pool_pbo: when set, a pool PBO above it blocks new promotions in the cycle
            (incumbents are still kept or demoted by the usual rules); None (default):
            no gate, the warning only. Needs ``compute_pbo``.
    """

    periods_per_year: int = 252
    windows: tuple[int, ...] = (30, 60, 90)
    min_overlap: int = 20
    weights: Mapping[str, float] = field(default_factory=_default_weights)
    score_method: ScoreMethod = "rank"
    winsor_quantile: float = 0.05
    min_track_record: int = 126
    max_drawdown_limit: float = 0.35
    dsr_threshold: float = 0.95
    dsr_exit_threshold: float = 0.90
    min_active: int = 10
    max_active: int = 15
    top_k: int = 12
    correlation_cap: float = 0.80
    exit_rank_multiple: float = 2.0
    min_holding: timedelta = timedelta(days=5)
    benchmark: BenchmarkChoice = "universe"
    sr_variance_method: SrVarianceMethod = "null"
    sr_autocorrelation: SrAutocorrelation = "adjust"
    compute_pbo: bool = True
    pbo_partitions: int = 16
    pbo_max_combinations: int | None = None
    pbo_warning: float = 0.5
    max_pool_pbo: float | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.periods_per_year <= 0:
            problems.append(f"periods_per_year must be > 0, got {self.periods_per_year}")
        if any(w < 2 for w in self.windows):
            problems.append(f"windows must all be >= 2 bars, got {self.windows}")
        known = set(METRIC_DIRECTIONS) | {f"sharpe_{w}" for w in self.windows}
        unknown = sorted(set(self.weights) - known)
        if unknown:
            problems.append(f"unknown metric(s) in weights: {unknown}; known: {sorted(known)}")
        bad = {k: v for k, v in self.weights.items() if not (v >= 0 and math.isfinite(v))}
        if bad:
            problems.append(f"weights must be finite and >= 0, got {bad}")
        if self.weights and sum(self.weights.values()) <= 0:
            problems.append("weights must not all be zero")
        if self.score_method not in ("rank", "zscore"):
            problems.append(f"score_method must be 'rank' or 'zscore', got {self.score_method!r}")
        if not 0.0 <= self.winsor_quantile < 0.5:
            problems.append(f"winsor_quantile must be in [0, 0.5), got {self.winsor_quantile}")
        if self.min_track_record < 2:
            problems.append(f"min_track_record must be >= 2, got {self.min_track_record}")
        if not 0.0 < self.max_drawdown_limit <= 1.0:
            problems.append(
                f"max_drawdown_limit is a positive fraction in (0, 1], got "
                f"{self.max_drawdown_limit}"
            )
        if not 0.0 <= self.dsr_exit_threshold <= self.dsr_threshold <= 1.0:
            problems.append(
                "need 0 <= dsr_exit_threshold <= dsr_threshold <= 1, got "
                f"{self.dsr_exit_threshold} and {self.dsr_threshold}"
            )
        if not 1 <= self.min_active <= self.max_active:
            problems.append(
                f"need 1 <= min_active <= max_active, got {self.min_active}, {self.max_active}"
            )
        if not self.min_active <= self.top_k <= self.max_active:
            problems.append(
                f"top_k {self.top_k} must lie in [min_active {self.min_active}, "
                f"max_active {self.max_active}]"
            )
        if not -1.0 <= self.correlation_cap <= 1.0:
            problems.append(f"correlation_cap must be in [-1, 1], got {self.correlation_cap}")
        if self.exit_rank_multiple < 1.0:
            problems.append(f"exit_rank_multiple must be >= 1, got {self.exit_rank_multiple}")
        if self.min_holding < timedelta(0):
            problems.append(f"min_holding must be >= 0, got {self.min_holding}")
        if self.sr_variance_method not in ("null", "sample", "robust"):
            problems.append(
                "sr_variance_method must be 'null', 'sample' or 'robust', got "
                f"{self.sr_variance_method!r}"
            )
        if self.benchmark not in ("none", "universe"):
            problems.append(f"benchmark must be 'none' or 'universe', got {self.benchmark!r}")
        if self.sr_autocorrelation not in ("adjust", "ignore"):
            problems.append(
                f"sr_autocorrelation must be 'adjust' or 'ignore', got {self.sr_autocorrelation!r}"
            )
        if not 0.0 <= self.pbo_warning <= 1.0:
            problems.append(f"pbo_warning must be in [0, 1], got {self.pbo_warning}")
        if self.max_pool_pbo is not None:
            if not 0.0 <= self.max_pool_pbo <= 1.0:
                problems.append(f"max_pool_pbo must be in [0, 1] or None, got {self.max_pool_pbo}")
            if not self.compute_pbo:
                problems.append("max_pool_pbo needs compute_pbo = true (the gate reads the PBO)")
        if self.pbo_partitions < 2 or self.pbo_partitions % 2:
            problems.append(f"pbo_partitions must be even and >= 2, got {self.pbo_partitions}")
        if self.pbo_max_combinations is not None and self.pbo_max_combinations < 1:
            problems.append(
                f"pbo_max_combinations must be >= 1 or None, got {self.pbo_max_combinations}"
            )
        if problems:
            raise ValueError("invalid RatingPolicy: " + "; ".join(problems))
        # Freeze the mapping so that a policy cannot change after validation.
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        object.__setattr__(self, "windows", tuple(int(w) for w in self.windows))

    @property
    def target_active(self) -> int:
        """The target size of the live set: ``top_k`` (validated to lie in
        [min_active, max_active])."""
        return self.top_k

    @property
    def exit_rank(self) -> int:
        """Largest rank (among eligible configs) at which an incumbent is kept."""
        return math.ceil(self.exit_rank_multiple * self.target_active)

    @property
    def sharpe_columns(self) -> tuple[str, ...]:
        return tuple(f"sharpe_{w}" for w in self.windows)

    def direction(self, metric: str) -> int:
        """+1 if higher values of ``metric`` are better, -1 if lower are."""
        if metric in self.sharpe_columns:
            return +1
        return METRIC_DIRECTIONS[metric]
