"""Skill net of the market: beta, alpha and excess returns, and the drifting no-skill market."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from rating import RatingPolicy, rate
from rating.benchmark import beta_to_benchmark, excess_returns, universe_returns

PPY = 252


def _frame(values: np.ndarray, prefix: str = "cfg") -> pd.DataFrame:
    index = pd.bdate_range("2019-01-01", periods=values.shape[0])
    return pd.DataFrame(
        values, index=index, columns=[f"{prefix}_{j:02d}" for j in range(values.shape[1])]
    )


@pytest.fixture(scope="module")
def gappy() -> tuple[pd.DataFrame, pd.Series]:
    """6 configs with leading NaN and interior holes; a benchmark with its own holes."""
    rng = np.random.default_rng(3)
    n = 400
    b = rng.normal(0.0004, 0.01, n)
    betas = np.array([0.0, 0.5, 1.0, -0.7, 1.3, 0.2])
    values = betas[None, :] * b[:, None] + rng.normal(0.0002, 0.008, (n, 6))
    values[:50, 1] = np.nan
    values[100:130, 2] = np.nan
    values[rng.random((n, 6)) < 0.05] = np.nan
    frame = _frame(values)
    bench = pd.Series(b, index=frame.index, name="universe")
    bench.iloc[rng.choice(n, 20, replace=False)] = np.nan
    return frame, bench


def test_beta_alpha_and_corr_equal_ols_on_pairwise_complete_bars(
    gappy: tuple[pd.DataFrame, pd.Series],
) -> None:
    """β and the intercept from statsmodels OLS (with constant) per config on the bars
    where both the config and the benchmark are observed; corr from pandas."""
    frame, bench = gappy
    ratings = rate(frame, benchmark=bench, policy=RatingPolicy(min_track_record=100))
    table = ratings.table
    assert ratings.benchmark == "universe"
    for col in frame:
        both = pd.concat([frame[col], bench], axis=1).dropna()
        ols = sm.OLS(both.iloc[:, 0], sm.add_constant(both.iloc[:, 1])).fit()
        assert table.loc[col, "beta"] == pytest.approx(ols.params.iloc[1], rel=1e-9)
        assert table.loc[col, "alpha"] == pytest.approx(ols.params.iloc[0] * PPY, rel=1e-9)
        assert table.loc[col, "corr_benchmark"] == pytest.approx(
            both.iloc[:, 0].corr(both.iloc[:, 1]), rel=1e-9
        )
        raw = frame[col].dropna()
        assert table.loc[col, "sharpe_raw"] == pytest.approx(
            raw.mean() / raw.std() * math.sqrt(PPY), rel=1e-9
        )
        excess = both.iloc[:, 0] - ols.params.iloc[1] * both.iloc[:, 1]
        assert table.loc[col, "n_obs"] == len(both)
        assert table.loc[col, "sharpe_all"] == pytest.approx(
            excess.mean() / excess.std() * math.sqrt(PPY), rel=1e-9
        )
    np.testing.assert_allclose(
        beta_to_benchmark(frame, bench), table["beta"].to_numpy(), rtol=1e-12
    )


def test_excess_returns_frame_and_as_of(gappy: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, bench = gappy
    excess = excess_returns(frame, bench)
    beta = beta_to_benchmark(frame, bench)
    expected = frame - bench.to_numpy()[:, None] * beta.to_numpy()[None, :]
    expected[bench.isna()] = np.nan
    pd.testing.assert_frame_equal(excess, expected)
    # Point in time: the beta behind a rating as of t uses bars up to t only.
    cut = frame.index[299]
    perturbed_bench = bench.copy()
    perturbed_bench.iloc[300:] *= -5.0
    policy = RatingPolicy(min_track_record=100, pbo_max_combinations=200)
    a = rate(frame, benchmark=bench, policy=policy, as_of=cut.to_pydatetime())
    b = rate(frame, benchmark=perturbed_bench, policy=policy, as_of=cut.to_pydatetime())
    pd.testing.assert_frame_equal(a.table, b.table)


def test_policy_none_rates_raw_returns_but_reports_beta(
    gappy: tuple[pd.DataFrame, pd.Series],
) -> None:
    frame, bench = gappy
    policy = RatingPolicy(min_track_record=100, compute_pbo=False, benchmark="none")
    with_series = rate(frame, benchmark=bench, policy=policy)
    without = rate(frame, policy=policy)
    shared = [c for c in without.table.columns if c not in ("beta", "alpha", "corr_benchmark")]
    pd.testing.assert_frame_equal(with_series.table[shared], without.table[shared])
    assert with_series.benchmark == without.benchmark == "none"
    assert with_series.table["beta"].notna().all()
    assert without.table[["beta", "alpha", "corr_benchmark"]].isna().all().all()
    np.testing.assert_allclose(without.table["sharpe_raw"], without.table["sharpe_all"])
    assert without.notes == ()


def test_universe_policy_without_a_series_says_so(gappy: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = gappy
    ratings = rate(frame, policy=RatingPolicy(min_track_record=100, compute_pbo=False))
    assert ratings.benchmark == "none"
    assert len(ratings.notes) == 1 and "no benchmark series" in ratings.notes[0]
    assert "no benchmark series" in ratings.summary()["notes"]


def test_benchmark_input_validation(gappy: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, bench = gappy
    with pytest.raises(TypeError, match="Series"):
        rate(frame, benchmark=bench.to_numpy())  # type: ignore[arg-type]
    shifted = bench.copy()
    shifted.index = shifted.index.tz_localize("UTC")
    with pytest.raises(ValueError, match="benchmark"):
        rate(frame, benchmark=shifted)
    elsewhere = pd.Series(0.01, index=pd.bdate_range("1990-01-01", periods=30))
    with pytest.raises(ValueError, match="no bar in common"):
        rate(frame, benchmark=elsewhere)


def test_config_without_benchmark_overlap_has_no_excess_record() -> None:
    frame = _frame(np.random.default_rng(1).normal(0, 0.01, (200, 2)))
    bench = pd.Series(np.r_[np.full(199, np.nan), 0.01], index=frame.index)
    table = rate(frame, benchmark=bench, policy=RatingPolicy(compute_pbo=False)).table
    assert table["beta"].isna().all()
    assert (table["n_obs"] == 0).all()
    assert table["gate"].str.startswith("track record").all()


def test_universe_returns_is_the_mean_of_available_assets() -> None:
    assets = pd.DataFrame(
        {"a": [0.01, np.nan, 0.03, np.nan], "b": [0.03, 0.02, np.nan, np.nan]},
        index=pd.bdate_range("2024-01-01", periods=4),
    )
    out = universe_returns(assets)
    np.testing.assert_allclose(out.to_numpy(), [0.02, 0.02, 0.03, np.nan])
    assert out.name == "universe"
    with pytest.raises(TypeError):
        universe_returns(assets["a"])  # type: ignore[arg-type]


# ---- the drifting no-skill market ------------------------------------------------------------


def drifting_market(seed: int) -> tuple[pd.DataFrame, pd.Series, str, str]:
    """10 assets with a common 25%/year drift and nothing predictable, 5 years of bars
    (the universe's Sharpe ratio is about 2.5: strong, so that the drift alone reliably
    passes the raw DSR gate).

    Configs: 38 without skill that hold random persistent long/short positions (signs
    kept for ~20 bars); one that learned the drift and holds a near-constant long
    position (0.9 ± 0.1); one with real alpha (annualised Sharpe 3 independent of the
    market) on top of a 0.5 market exposure. Returns = mean over assets of
    position x asset return, as the factory books an equal-weight book.
    """
    rng = np.random.default_rng(seed)
    n_bars, n_assets, n_noise = 1260, 10, 38
    market = rng.normal(0.0, 0.005, n_bars)
    asset = 0.25 / PPY + market[:, None] + rng.normal(0.0, 0.012, (n_bars, n_assets))
    index = pd.bdate_range("2018-01-01", periods=n_bars)
    bench = universe_returns(pd.DataFrame(asset, index=index))
    flips = rng.integers(0, 2, (n_bars // 20 + 1, n_noise, n_assets)) * 2.0 - 1.0
    noise_pos = np.repeat(flips, 20, axis=0)[:n_bars]
    noise = (noise_pos * asset[:, None, :]).mean(axis=2)
    long_pos = 0.9 + 0.1 * rng.uniform(-1, 1, (n_bars, n_assets))
    long_only = (long_pos * asset).mean(axis=1)
    alpha = 0.5 * bench.to_numpy() + rng.normal(3.0 * 0.008 / math.sqrt(PPY), 0.008, n_bars)
    values = np.column_stack([noise, long_only, alpha])
    columns = [f"noise_{j:02d}" for j in range(n_noise)] + ["drift_long", "alpha"]
    return pd.DataFrame(values, index=index, columns=columns), bench, "drift_long", "alpha"


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_drifting_market_beta_is_not_skill(seed: int) -> None:
    """Without a benchmark the near-constant long config passes every gate on the
    market's drift alone; rated net of the beta-matched universe it does not, while the
    config with real alpha stays eligible and no noise config becomes eligible."""
    returns, bench, drift_long, alpha = drifting_market(seed)
    raw = rate(returns, policy=RatingPolicy(benchmark="none", max_drawdown_limit=1.0))
    net = rate(returns, benchmark=bench, policy=RatingPolicy(max_drawdown_limit=1.0))
    assert raw.table.loc[drift_long, "eligible"], raw.table.loc[drift_long, "gate"]
    assert raw.table.loc[drift_long, "dsr"] >= 0.95
    assert not net.table.loc[drift_long, "eligible"]
    assert net.table.loc[drift_long, "gate"].startswith("DSR")
    assert net.table.loc[drift_long, "beta"] == pytest.approx(0.9, abs=0.05)
    assert abs(net.table.loc[drift_long, "alpha"]) < 0.03  # annualised, vs 22% raw drift
    assert net.table.loc[drift_long, "corr_benchmark"] > 0.95
    assert net.table.loc[drift_long, "sharpe_raw"] > 1.5
    for ratings in (raw, net):
        assert ratings.table.loc[alpha, "eligible"], ratings.table.loc[alpha, "gate"]
    assert net.table.loc[alpha, "beta"] == pytest.approx(0.5, abs=0.1)
    assert net.table.loc[alpha, "alpha"] == pytest.approx(3.0 * 0.008 * math.sqrt(PPY), abs=0.06)
    noise = [c for c in returns if c.startswith("noise")]
    assert not net.table.loc[noise, "eligible"].any()
