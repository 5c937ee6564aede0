"""The multiple-testing population behind the deflated Sharpe ratio: every trial counted.

DSR deflates a config's Sharpe ratio by E[max SR] of N zero-skill trials. N must be every
configuration that was *tried or will be tried* in the search that the live set is
picked from, not only the ones whose returns happen to be in the matrix today.
Otherwise dropping failures, rating half-way through a sweep or trying evaluation
settings until one passes all deflate by too little. :class:`TrialPopulation` records
where N comes from:

- ``evaluated``: columns of the returns matrix not marked failed (any track length:
  a config with a short record is still a trial; it is only not yet eligible);
- ``failed``: configs whose evaluation failed (all-NaN columns or ids passed only in
  ``failed``). They were tried, so they count in N, but they have no Sharpe ratio and
  cannot inform the variance V or the mean correlation ρ̄;
- ``pending``: configs of the plan not yet evaluated (a rating during a sweep deflates
  by the planned population);
- ``earlier_settings``: configs evaluated under evaluation settings (costs, horizon,
  cadence, ...) that were since changed; trying settings until one passes is a search
  too;
- ``tuning``: hyper-parameter tuning trials (e.g. Optuna) not stored as configs;
- ``retired``: configs retired from the pool (bottom of the ranking, or gone from the
  plan): no longer rated, still tried.

The last four are counts the caller knows (the plan, the settings history, the tuning
studies); ``rate(..., extra_trials={"pending": 30, ...})`` passes them. ``with_returns``
is the number of configs whose Sharpe ratios estimate V and ρ̄ (those with at least
``min_track_record`` bars, or every config with ≥ 2 bars if fewer than two have that).
The extra trials enter N only: they are assumed to behave like the configs that have
returns (same V, same ρ̄), the only assumption available without their returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["EXTRA_TRIAL_SOURCES", "TrialPopulation", "validate_extra_trials"]

#: Keys accepted in ``rate(..., extra_trials=...)``.
EXTRA_TRIAL_SOURCES: Final = ("pending", "earlier_settings", "tuning", "retired")


def validate_extra_trials(extra_trials: Mapping[str, int] | None) -> dict[str, int]:
    """``extra_trials`` as a dict with every source (missing → 0); rejects unknown keys
    and negative or non-integer counts with a message naming them."""
    counts = dict.fromkeys(EXTRA_TRIAL_SOURCES, 0)
    if extra_trials is None:
        return counts
    unknown = sorted(set(extra_trials) - set(EXTRA_TRIAL_SOURCES))
    if unknown:
        raise ValueError(
            f"unknown extra_trials source(s) {unknown}; known: {list(EXTRA_TRIAL_SOURCES)} "
            "(evaluated and failed configs are counted from the returns and `failed`)"
        )
    for key, value in extra_trials.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"extra_trials[{key!r}] must be an integer >= 0, got {value!r}")
        counts[key] = value
    return counts


@dataclass(frozen=True)
class TrialPopulation:
    """Where the number of trials N behind E[max SR] comes from (see the module doc)."""

    evaluated: int = 0
    failed: int = 0
    pending: int = 0
    earlier_settings: int = 0
    tuning: int = 0
    retired: int = 0
    with_returns: int = 0

    def __post_init__(self) -> None:
        negative = {k: v for k, v in self.breakdown().items() if v < 0}
        if negative or self.with_returns < 0:
            raise ValueError(f"trial counts must be >= 0, got {negative or self.with_returns}")

    @property
    def total(self) -> int:
        """N: every trial, whatever its state."""
        return sum(self.breakdown().values())

    def breakdown(self) -> dict[str, int]:
        """The counts that add up to N, by source (plain ints, in a fixed order)."""
        return {
            "evaluated": self.evaluated,
            "failed": self.failed,
            "pending": self.pending,
            "earlier_settings": self.earlier_settings,
            "tuning": self.tuning,
            "retired": self.retired,
        }

    def describe(self) -> str:
        """One line for a leaderboard or a note, e.g. "486 trials (450 evaluated,
        6 failed, 30 pending); V and ρ̄ from 440 configs with returns"."""
        labels = {"earlier_settings": "under earlier settings", "tuning": "tuning trials"}
        parts = [f"{n} {labels.get(k, k)}" for k, n in self.breakdown().items() if n]
        inside = f" ({', '.join(parts)})" if parts else ""
        return (
            f"{self.total} trial{'s' if self.total != 1 else ''}{inside}; "
            f"V and ρ̄ from {self.with_returns} config{'s' if self.with_returns != 1 else ''} "
            "with returns"
        )
