"""The live portfolio: from the active configs' latest signals to the day's target
weights, and the book's own track record.

* `ensemble`   — member weights (equal, score, inverse volatility, stacked ridge) and the
  per-asset combination of the members' signals; pure.
* `risk`       — per-asset, net and gross caps, a volatility target on a Ledoit–Wolf
  covariance, a turnover limit; each binding rule reported; pure.
* `construct`  — one rebalance: ensemble -> the configured book -> risk limits; pure.
* `live`       — the rebalance's inputs read from storage and the live book's realised
  after-cost return per bar, booked by the same ledger as every config.
* `vectorised` — the equal-weight time-series ensemble for many bars at once (the fast
  path of the historical simulation).
"""

from factory.portfolio.construct import TargetPortfolio, build_portfolio
from factory.portfolio.ensemble import ENSEMBLE_METHODS, EnsembleMethod, ensemble_signals
from factory.portfolio.risk import Binding, RiskLimits, apply_limits, shrunk_covariance
from factory.portfolio.vectorised import target_weights, weights_array

__all__ = [
    "ENSEMBLE_METHODS",
    "Binding",
    "EnsembleMethod",
    "RiskLimits",
    "TargetPortfolio",
    "apply_limits",
    "build_portfolio",
    "ensemble_signals",
    "shrunk_covariance",
    "target_weights",
    "weights_array",
]
