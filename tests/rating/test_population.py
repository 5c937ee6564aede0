"""Every trial counted: failed, pending, earlier-settings and tuning trials raise N."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from rating import RatingPolicy, TrialPopulation, expected_max_sharpe, rate

POLICY = RatingPolicy(compute_pbo=False, sr_autocorrelation="ignore")


@pytest.fixture(scope="module")
def returns() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    values = rng.normal(0.0, 0.01, (300, 40))
    values[:, 0] += 0.0015  # one config with some skill
    index = pd.bdate_range("2021-01-01", periods=300)
    return pd.DataFrame(values, index=index, columns=[f"c{j:02d}" for j in range(40)])


def test_failed_configs_count_in_n_but_not_in_v(returns: pd.DataFrame) -> None:
    """Failed configs (all-NaN columns, and ids with no column at all) are trials: they
    raise N and SR0, lower every DSR, and leave V and ρ̄ unchanged."""
    with_failures = returns.copy()
    for j in range(5):
        with_failures[f"broken{j}"] = np.nan
    failed = [f"broken{j}" for j in range(5)] + ["never_stored_1", "never_stored_2"]
    base = rate(returns, policy=POLICY)
    counted = rate(with_failures, policy=POLICY, failed=failed)
    assert base.n_trials == 40
    assert counted.n_trials == 47
    assert counted.population == TrialPopulation(evaluated=40, failed=7, with_returns=40)
    assert counted.sr_variance == pytest.approx(base.sr_variance)
    assert counted.mean_correlation == pytest.approx(base.mean_correlation)
    assert counted.sr_benchmark == pytest.approx(
        float(expected_max_sharpe(counted.n_trials_effective, counted.sr_variance))
    )
    assert counted.sr_benchmark > base.sr_benchmark
    live = returns.columns
    assert (counted.table.loc[live, "dsr"] < base.table.loc[live, "dsr"]).all()
    assert counted.table.loc["broken0", "gate"] == "failed evaluation"


def test_short_records_count_in_n_but_do_not_estimate_v(returns: pd.DataFrame) -> None:
    young = returns.copy()
    young.iloc[:250, 30:] = np.nan  # 10 configs with 50 bars: trials, not yet eligible
    ratings = rate(young, policy=POLICY)
    assert ratings.n_trials == 40
    assert ratings.population.with_returns == 30
    n_obs = young.notna().sum()
    assert ratings.sr_variance == pytest.approx(float((1 / (n_obs.iloc[:30] - 1)).mean()))


def test_rating_during_a_sweep_deflates_by_the_planned_population(returns: pd.DataFrame) -> None:
    """Half-way through a sweep, pending configs make N the planned population: the
    snapshot's SR0 equals that of the complete population with the same ρ̄ and V."""
    first_half = returns.iloc[:, :20]
    partial = rate(first_half, policy=POLICY)
    planned = rate(first_half, policy=POLICY, extra_trials={"pending": 20})
    assert partial.n_trials == 20 and planned.n_trials == 40
    rho = planned.mean_correlation
    assert planned.n_trials_effective == pytest.approx(max(min(rho, 1), 0) * (1 - 40) + 40)
    assert planned.sr_benchmark > partial.sr_benchmark
    assert planned.table.loc["c00", "dsr"] < partial.table.loc["c00", "dsr"]


def test_earlier_settings_and_tuning_trials_add_up(returns: pd.DataFrame) -> None:
    extra = {"pending": 3, "earlier_settings": 120, "tuning": 500}
    ratings = rate(returns, policy=POLICY, failed=["gone"], extra_trials=extra)
    population = ratings.population
    assert population.breakdown() == {
        "evaluated": 40,
        "failed": 1,
        "pending": 3,
        "earlier_settings": 120,
        "tuning": 500,
        "retired": 0,
    }
    assert ratings.n_trials == population.total == 664
    summary = ratings.summary()
    assert summary["n_trials"] == 664
    assert summary["trials_earlier_settings"] == 120 and summary["trials_tuning"] == 500
    assert summary["trials_with_returns"] == 40
    assert summary["population"] == (
        "664 trials (40 evaluated, 1 failed, 3 pending, 120 under earlier settings, "
        "500 tuning trials); V and ρ̄ from 40 configs with returns"
    )


def test_more_trials_only_ever_lower_dsr(returns: pd.DataFrame) -> None:
    dsr = [
        rate(returns, policy=POLICY, extra_trials={"tuning": k}).table.loc["c00", "dsr"]
        for k in (0, 10, 100, 1000, 10000)
    ]
    assert all(a > b for a, b in itertools.pairwise(dsr))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"planned": 3}, "unknown extra_trials source"),
        ({"failed": 3}, "unknown extra_trials source"),
        ({"pending": -1}, "integer >= 0"),
        ({"tuning": 2.5}, "integer >= 0"),
        ({"tuning": True}, "integer >= 0"),
    ],
)
def test_extra_trials_are_validated(
    returns: pd.DataFrame, extra: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rate(returns, policy=POLICY, extra_trials=extra)  # type: ignore[arg-type]


def test_population_record() -> None:
    population = TrialPopulation(evaluated=1, with_returns=1)
    assert population.total == 1
    assert population.describe() == "1 trial (1 evaluated); V and ρ̄ from 1 config with returns"
    with pytest.raises(ValueError, match=">= 0"):
        TrialPopulation(evaluated=-1)
    assert math.isclose(TrialPopulation().total, 0)
