"""The PSR/DSR gate on serially correlated and unevenly exposed zero-skill configs.

Zero-skill configs (true mean 0) whose returns are an AR(1) process, an overlapping
holding-period MA(4), or flat half of the time in blocks (a model that sits out), are
rated with ``rate``. The share passing the PSR gate must stay at or below the nominal 5%,
and populations in which any config passes the DSR gate must stay rare. The iid
standard error (``sr_autocorrelation="ignore"``) fails this for autocorrelated returns;
the default Geyer adjustment does not. ``test_false_positive_table`` (slow) prints the
table quoted in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter
from statsmodels.tsa.stattools import acf

from rating import (
    RatingPolicy,
    effective_observations,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    rate,
    variance_inflation,
)

Generator = Callable[[np.random.Generator, int, int], np.ndarray]


def _flat_blocks(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
    """1 when the model is in the market, 0 when it sits out: 21-bar blocks, half each."""
    blocks = rng.integers(0, 2, (n_bars // 21 + 1, n_configs)).astype(np.float64)
    return np.repeat(blocks, 21, axis=0)[:n_bars]


def _ar(rho: float) -> Generator:
    def make(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
        return lfilter([1.0], [1.0, -rho], rng.standard_normal((n_bars, n_configs)), axis=0)

    return make


def _ma_overlap(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
    """Sum of the last 5 shocks (overlapping 5-bar holding periods)."""
    return lfilter(np.ones(5), [1.0], rng.standard_normal((n_bars, n_configs)), axis=0)


def _flat(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
    return rng.standard_normal((n_bars, n_configs)) * _flat_blocks(rng, n_bars, n_configs)


def _flat_ar(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
    return _ar(0.4)(rng, n_bars, n_configs) * _flat_blocks(rng, n_bars, n_configs)


def _iid(rng: np.random.Generator, n_bars: int, n_configs: int) -> np.ndarray:
    return rng.standard_normal((n_bars, n_configs))


SCENARIOS: dict[str, Generator] = {
    "iid normal": _iid,
    "AR(1) rho 0.2": _ar(0.2),
    "AR(1) rho 0.4": _ar(0.4),
    "flat half the time": _flat,
    "flat half + AR(1) 0.4": _flat_ar,
    "overlapping MA(4)": _ma_overlap,
}


def false_positive_rates(
    scenario: str,
    autocorrelation: str,
    *,
    n_bars: int,
    n_populations: int,
    configs_per_population: int,
    seed: int,
) -> tuple[float, float, float]:
    """(share of configs with PSR ≥ 0.95, share with DSR ≥ 0.95, share of populations
    in which some config has DSR ≥ 0.95), all configs zero-skill."""
    policy = RatingPolicy(
        compute_pbo=False,
        max_drawdown_limit=1.0,
        sr_autocorrelation=autocorrelation,  # type: ignore[arg-type]
        min_track_record=min(126, n_bars),
    )
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-01", periods=n_bars)
    psr_pass = dsr_pass = populations_with_a_pass = 0
    for _ in range(n_populations):
        values = SCENARIOS[scenario](rng, n_bars, configs_per_population) * 0.01
        table = rate(pd.DataFrame(values, index=index), policy=policy).table
        psr_pass += int((table["psr"] >= 0.95).sum())
        passes = int((table["dsr"] >= 0.95).sum())
        dsr_pass += passes
        populations_with_a_pass += int(passes > 0)
    n_configs = n_populations * configs_per_population
    return psr_pass / n_configs, dsr_pass / n_configs, populations_with_a_pass / n_populations


# 40 populations x 100 configs x 252 bars per scenario: ~1 s each.
FAST = {"n_bars": 252, "n_populations": 40, "configs_per_population": 100, "seed": 7}
NOMINAL = 0.05
# Three binomial standard errors above nominal for 4,000 independent configs.
PSR_BOUND = NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / 4000)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "iid normal"])
def test_default_gate_stays_at_nominal_level_on_non_iid_null_configs(scenario: str) -> None:
    psr_rate, _, family_rate = false_positive_rates(scenario, "adjust", **FAST)
    assert psr_rate <= PSR_BOUND, psr_rate
    assert family_rate <= 0.10, family_rate  # nominal 5%; ≤ 4 of 40 populations


@pytest.mark.parametrize("scenario", ["AR(1) rho 0.2", "AR(1) rho 0.4", "overlapping MA(4)"])
def test_iid_standard_error_over_rejects_autocorrelated_null_configs(scenario: str) -> None:
    """The problem the default fixes: the iid formula passes far too many."""
    psr_rate, _, family_rate = false_positive_rates(scenario, "ignore", **FAST)
    assert psr_rate > PSR_BOUND, psr_rate
    if scenario != "AR(1) rho 0.2":
        assert family_rate > 0.10, family_rate


def test_adjustment_costs_little_on_iid_configs() -> None:
    """On iid returns f̂ ≥ 1 is noise only: PSR's false-positive rate stays near 5%
    (slightly below: the floor at 1 is conservative), the iid formula's near 5% too."""
    adjusted, _, _ = false_positive_rates("iid normal", "adjust", **FAST)
    plain, _, _ = false_positive_rates("iid normal", "ignore", **FAST)
    assert 0.025 <= adjusted <= plain <= PSR_BOUND


@pytest.mark.slow
def test_false_positive_table() -> None:
    """The table in docs/metrics.md ("Serial correlation"): 200 populations x 100 configs
    per scenario and history length (20,000 zero-skill configs each)."""
    lines = [
        "| scenario | bars | PSR iid | PSR adjusted | DSR pop. iid | DSR pop. adjusted |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n_bars in (252, 1260):
        for scenario in SCENARIOS:
            row = {}
            for method in ("ignore", "adjust"):
                row[method] = false_positive_rates(
                    scenario,
                    method,
                    n_bars=n_bars,
                    n_populations=200,
                    configs_per_population=100,
                    seed=11,
                )
            lines.append(
                f"| {scenario} | {n_bars} | {row['ignore'][0]:.3f} | {row['adjust'][0]:.3f} | "
                f"{row['ignore'][2]:.3f} | {row['adjust'][2]:.3f} |"
            )
            assert row["adjust"][0] <= NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / 20000)
            assert row["adjust"][2] <= NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / 200)
    print("\n" + "\n".join(lines))


# ---- the estimator itself -------------------------------------------------------------------


def test_variance_inflation_of_an_ar1_matches_theory() -> None:
    """For an AR(1) with ρ the long-run variance ratio is (1 + ρ)/(1 - ρ)."""
    rng = np.random.default_rng(2)
    for rho in (0.0, 0.2, 0.4, 0.6):
        x = lfilter([1.0], [1.0, -rho], rng.standard_normal((20000, 8)), axis=0)
        f = variance_inflation(x)
        target = max((1 + rho) / (1 - rho), 1.0)
        assert np.median(f) == pytest.approx(target, rel=0.1 if rho else 0.05)


def test_variance_inflation_by_hand_with_gaps() -> None:
    """Geyer's sum from statsmodels' ACF on the observed bars of a series with a leading
    gap; an interior NaN drops exactly the products that straddle it."""
    rng = np.random.default_rng(5)
    x = lfilter([1.0], [1.0, -0.5], rng.standard_normal(300))
    series = pd.Series(np.r_[np.full(40, np.nan), x])
    rho = acf(x, nlags=2 * 75 + 1, adjusted=False, fft=False)
    total = 0.0
    for m in range(75):
        pair = rho[2 * m] + rho[2 * m + 1]
        if pair <= 0:
            break
        total += pair
    assert variance_inflation(series) == pytest.approx(max(2 * total - 1, 1.0), rel=1e-9)
    with_hole = series.copy()
    with_hole.iloc[200] = np.nan
    centred = with_hole - with_hole.mean()
    lag1 = (centred * centred.shift(1)).sum() / with_hole.count()
    gamma0 = (centred**2).sum() / with_hole.count()
    assert 1 + 2 * lag1 / gamma0 > 1  # lag-1 products skip the hole (pandas NaN rules)
    assert variance_inflation(with_hole) > 1.5


def test_variance_inflation_floor_and_short_series() -> None:
    rng = np.random.default_rng(1)
    mean_reverting = lfilter([1.0], [1.0, 0.5], rng.standard_normal(2000))
    assert variance_inflation(mean_reverting) == 1.0  # never below the iid value
    assert variance_inflation(np.array([0.01, -0.02, 0.03])) == 1.0
    assert variance_inflation(np.full(50, 0.01)) == 1.0  # no dispersion
    frame = pd.DataFrame({"a": rng.standard_normal(100), "b": np.nan})
    out = variance_inflation(frame)
    assert isinstance(out, pd.Series) and out["b"] == 1.0


def test_psr_and_min_track_record_with_inflation() -> None:
    """PSR with f equals PSR with the effective sample size 1 + (n - 1)/f, and MinTRL
    scales by f (in raw bars); PSR at MinTRL bars is the confidence level."""
    sr, n, f = 0.08, 500, 2.0
    n_eff = float(effective_observations(n, f))
    assert n_eff == pytest.approx(1 + 499 / 2)
    assert probabilistic_sharpe_ratio(sr, n, 0.2, 4.0, 0.01, f) == pytest.approx(
        probabilistic_sharpe_ratio(sr, n_eff, 0.2, 4.0, 0.01)
    )
    iid = min_track_record_length(sr, 0.2, 4.0, 0.01)
    adjusted = min_track_record_length(sr, 0.2, 4.0, 0.01, variance_inflation=f)
    assert adjusted - 1 == pytest.approx(f * (iid - 1))
    assert probabilistic_sharpe_ratio(sr, adjusted, 0.2, 4.0, 0.01, f) == pytest.approx(0.95)
