"""The rating engine: metrics, overfitting statistics, composite score, promotion policy.

Pure and vectorised: functions take numpy/pandas data (T bars x N configs) and return
values or frozen records; no I/O, no clock (time is passed in). Formulas and conventions:
docs/metrics.md.

Typical use::

    from rating import RatingPolicy, rate, decide_promotions

    ratings = rate(
        returns,
        policy=policy,
        benchmark=universe_returns(asset_returns),  # rated net of the market
        failed=failed_ids,
        extra_trials={"pending": n_pending},  # every trial counted in the DSR
        active=live_ids,
        health=health,
    )
    cycle = decide_promotions(ratings, incumbents, now, policy)
"""

from rating.autocorrelation import effective_observations, variance_inflation
from rating.benchmark import beta_to_benchmark, excess_returns, universe_returns
from rating.correlation import mean_pairwise_correlation, pairwise_correlation
from rating.engine import Ratings, rate, table_columns
from rating.health import (
    FeatureDrift,
    HealthCheck,
    HealthPolicy,
    HealthReport,
    HealthState,
    Predictions,
    assess,
)
from rating.metrics import (
    annual_return,
    annual_volatility,
    calmar_ratio,
    kurtosis,
    max_drawdown,
    profit_factor,
    recovery_time,
    rolling_sharpe,
    sharpe_ratio,
    skewness,
    sortino_ratio,
    time_under_water,
    trailing_sharpe,
    win_rate,
)
from rating.overfitting import (
    PBOResult,
    deflated_sharpe_ratio,
    effective_number_of_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    trials_sr_variance,
)
from rating.policy import DEFAULT_WEIGHTS, METRIC_DIRECTIONS, RatingPolicy
from rating.population import EXTRA_TRIAL_SOURCES, TrialPopulation
from rating.promotion import Decision, PromotionCycle, decide_promotions
from rating.scoring import composite_score, evaluate_gates

__all__ = [
    "DEFAULT_WEIGHTS",
    "EXTRA_TRIAL_SOURCES",
    "METRIC_DIRECTIONS",
    "Decision",
    "FeatureDrift",
    "HealthCheck",
    "HealthPolicy",
    "HealthReport",
    "HealthState",
    "PBOResult",
    "Predictions",
    "PromotionCycle",
    "RatingPolicy",
    "Ratings",
    "TrialPopulation",
    "annual_return",
    "annual_volatility",
    "assess",
    "beta_to_benchmark",
    "calmar_ratio",
    "composite_score",
    "decide_promotions",
    "deflated_sharpe_ratio",
    "effective_number_of_trials",
    "effective_observations",
    "evaluate_gates",
    "excess_returns",
    "expected_max_sharpe",
    "kurtosis",
    "max_drawdown",
    "mean_pairwise_correlation",
    "min_track_record_length",
    "pairwise_correlation",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "profit_factor",
    "rate",
    "recovery_time",
    "rolling_sharpe",
    "sharpe_ratio",
    "skewness",
    "sortino_ratio",
    "table_columns",
    "time_under_water",
    "trailing_sharpe",
    "trials_sr_variance",
    "universe_returns",
    "variance_inflation",
    "win_rate",
]
