"""PSR, expected max Sharpe, DSR, MinTRL, effective trials and PBO.

Expected values: the worked example of Bailey & López de Prado (2014), closed forms
evaluated here with math.erf, Monte Carlo simulation, and an independent loop
implementation of CSCV.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from rating.overfitting import (
    deflated_sharpe_ratio,
    effective_number_of_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    trials_sr_variance,
)


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ---- the DSR paper's worked example -----------------------------------------------------


def test_dsr_paper_example() -> None:
    """Bailey & López de Prado (2014), numerical example: N = 100 trials, V[SR] = 1/2
    (annualised), best annualised SR 2.5 on 1,250 daily bars (250/year), skew -3,
    kurtosis 10 -> SR0 ≈ 0.1132 per day and DSR ≈ 0.9004 (values printed in the paper)."""
    sr = 2.5 / math.sqrt(250)
    var = 0.5 / 250
    assert expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, n_trials=100, sr_variance=var)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


# ---- PSR -----------------------------------------------------------------------------------


def test_psr_closed_form_normal_and_non_normal() -> None:
    # Normal returns: z = SR √(n-1) / √(1 + SR²/2).
    z = 0.1 * 10 / math.sqrt(1 + 0.5 * 0.01)
    assert probabilistic_sharpe_ratio(0.1, 101) == pytest.approx(normal_cdf(z), abs=1e-12)
    # Negative skew and fat tails widen the SR standard error and lower PSR.
    z2 = (0.1 - 0.02) * math.sqrt(251) / math.sqrt(1 + 1.5 * 0.1 + (8 - 1) / 4 * 0.01)
    got = probabilistic_sharpe_ratio(0.1, 252, -1.5, 8.0, sr_benchmark=0.02)
    assert got == pytest.approx(normal_cdf(z2), abs=1e-12)
    assert got < probabilistic_sharpe_ratio(0.1, 252, 0.0, 3.0, sr_benchmark=0.02)


def test_psr_broadcasts_and_handles_short_samples() -> None:
    out = probabilistic_sharpe_ratio(np.array([0.1, 0.0, -0.1]), np.array([101, 101, 1]))
    assert isinstance(out, np.ndarray)
    assert out[0] == pytest.approx(normal_cdf(0.1 * 10 / math.sqrt(1.005)))
    assert out[1] == pytest.approx(0.5)
    assert math.isnan(out[2])


def test_psr_is_calibrated_under_the_null() -> None:
    """With true per-period SR equal to the benchmark, PSR > 0.95 about 5% of the time."""
    rng = np.random.default_rng(11)
    n_obs, n_sims, true_sr = 250, 8000, 0.08
    r = rng.standard_normal((n_obs, n_sims)) + true_sr
    sr = r.mean(axis=0) / r.std(axis=0, ddof=1)
    psr = probabilistic_sharpe_ratio(sr, n_obs, 0.0, 3.0, sr_benchmark=true_sr)
    rate = float(np.mean(np.asarray(psr) > 0.95))
    # Binomial sd at p = 0.05, n = 8000 is 0.0024.
    assert 0.040 < rate < 0.060


def test_psr_uses_moments_for_skewed_returns() -> None:
    """Skewed returns (centred exponential, skew 2, kurtosis 9): using the moments keeps
    PSR calibrated where the normal formula is over-confident at the upper tail."""
    rng = np.random.default_rng(5)
    n_obs, n_sims, true_sr = 120, 8000, 0.15
    e = rng.exponential(1.0, size=(n_obs, n_sims)) - 1.0  # mean 0, sd 1
    r = -e + true_sr  # negative skew -2, kurtosis 9
    sr = r.mean(axis=0) / r.std(axis=0, ddof=1)
    with_moments = np.asarray(
        probabilistic_sharpe_ratio(sr, n_obs, -2.0, 9.0, sr_benchmark=true_sr)
    )
    normal = np.asarray(probabilistic_sharpe_ratio(sr, n_obs, 0.0, 3.0, sr_benchmark=true_sr))
    err_moments = abs(np.mean(with_moments > 0.95) - 0.05)
    err_normal = abs(np.mean(normal > 0.95) - 0.05)
    assert err_moments < err_normal


# ---- expected maximum and DSR -----------------------------------------------------------------


def test_expected_max_sharpe_matches_simulated_maximum() -> None:
    rng = np.random.default_rng(3)
    for n in (10, 100, 1000):
        sims = rng.standard_normal((4000, n)).max(axis=1).mean()
        # The Gumbel-based approximation is within ~1-3% of the true expectation.
        assert expected_max_sharpe(n, 1.0) == pytest.approx(sims, rel=0.035), n
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))


def test_expected_max_sharpe_edge_cases() -> None:
    assert expected_max_sharpe(1, 1.0) == 0.0
    assert expected_max_sharpe(0.5, 1.0) == 0.0
    assert expected_max_sharpe(1.05, 1.0) >= 0.0  # floored, never negative
    assert math.isnan(expected_max_sharpe(10, float("nan")))
    grid = np.asarray(expected_max_sharpe(np.array([2, 10, 100, 1000]), 1.0))
    assert np.all(np.diff(grid) > 0)


def test_dsr_equals_psr_at_the_expected_maximum() -> None:
    sr0 = expected_max_sharpe(50, 0.003)
    assert deflated_sharpe_ratio(0.12, 500, 0.2, 4.0, 50, 0.003) == pytest.approx(
        probabilistic_sharpe_ratio(0.12, 500, 0.2, 4.0, sr_benchmark=sr0)
    )
    # More trials -> a higher bar -> a lower DSR.
    assert deflated_sharpe_ratio(0.12, 500, 0.2, 4.0, 500, 0.003) < deflated_sharpe_ratio(
        0.12, 500, 0.2, 4.0, 50, 0.003
    )


# ---- MinTRL ------------------------------------------------------------------------------------


def test_min_track_record_length_by_hand_and_round_trip() -> None:
    z95 = 1.6448536269514722
    assert min_track_record_length(0.1) == pytest.approx(1 + 1.005 * (z95 / 0.1) ** 2)
    n = min_track_record_length(0.08, -0.5, 5.0, sr_benchmark=0.02, confidence=0.9)
    assert probabilistic_sharpe_ratio(0.08, n, -0.5, 5.0, sr_benchmark=0.02) == pytest.approx(0.9)
    assert min_track_record_length(0.01, sr_benchmark=0.02) == math.inf
    with pytest.raises(ValueError):
        min_track_record_length(0.1, confidence=1.0)


# ---- effective number of trials ----------------------------------------------------------------


def test_effective_number_of_trials() -> None:
    assert effective_number_of_trials(100, 0.0) == 100
    assert effective_number_of_trials(100, 1.0) == 1
    assert effective_number_of_trials(100, 0.25) == pytest.approx(0.25 + 0.75 * 100)
    assert effective_number_of_trials(100, -0.3) == 100  # negative mean clipped to 0
    assert effective_number_of_trials(100, float("nan")) == 100


def test_trials_sr_variance_methods_by_hand() -> None:
    sr = np.array([0.1, -0.1, 0.0, 0.3, np.nan])
    n = np.array([101, 101, 51, 201, 300])
    null = (1 / 100 + 1 / 100 + 1 / 50 + 1 / 200) / 4
    assert trials_sr_variance(sr, n) == pytest.approx(null)
    assert trials_sr_variance(sr, n, "sample") == pytest.approx(np.var(sr[:4], ddof=1))
    # median 0.05, absolute deviations 0.05, 0.15, 0.05, 0.25 -> MAD 0.1
    assert trials_sr_variance(sr, n, "robust") == pytest.approx((1.4826 * 0.1) ** 2)
    assert trials_sr_variance([0.0, 0.0], [101, 101], "robust") == pytest.approx(0.01)
    with pytest.raises(ValueError):
        trials_sr_variance(sr, n, "mean")  # type: ignore[arg-type]


# ---- PBO -----------------------------------------------------------------------------------------


def reference_cscv(matrix: np.ndarray, n_partitions: int) -> tuple[float, np.ndarray]:
    """Straightforward CSCV loop (Bailey et al. 2017) with pandas, for comparison."""
    frame = pd.DataFrame(matrix)
    block = len(frame) // n_partitions
    frame = frame.iloc[len(frame) - block * n_partitions :]
    blocks = [frame.iloc[i * block : (i + 1) * block] for i in range(n_partitions)]
    logits = []
    for train_ids in itertools.combinations(range(n_partitions), n_partitions // 2):
        test_ids = [i for i in range(n_partitions) if i not in train_ids]
        train = pd.concat([blocks[i] for i in train_ids])
        test = pd.concat([blocks[i] for i in test_ids])
        sr_train = train.mean() / train.std()
        sr_test = (test.mean() / test.std()).dropna()
        best = sr_train.idxmax()
        ranks = pd.Series(rankdata(sr_test.to_numpy()), index=sr_test.index)
        omega = ranks[best] / (len(sr_test) + 1)
        logits.append(math.log(omega / (1 - omega)))
    arr = np.array(logits)
    return float(np.mean(arr <= 0)), arr


def test_pbo_matches_reference_loop() -> None:
    rng = np.random.default_rng(21)
    matrix = rng.normal(0.0002, 0.01, size=(403, 12))
    matrix[:, 3] += 0.0008  # some structure
    matrix[:, 7] = matrix[:, 6] * 0.5 + matrix[:, 7] * 0.5
    expected_pbo, expected_logits = reference_cscv(matrix, 8)
    got = probability_of_backtest_overfitting(matrix, n_partitions=8)
    assert len(got.logits) == math.comb(8, 4)
    np.testing.assert_allclose(got.logits, expected_logits, rtol=1e-12)
    assert got.pbo == expected_pbo


def test_pbo_matches_reference_with_missing_history() -> None:
    rng = np.random.default_rng(2)
    matrix = rng.normal(0.0, 0.01, size=(240, 8))
    matrix[:120, 2] = np.nan  # absent from the first half of the blocks
    expected_pbo, expected_logits = reference_cscv(matrix, 6)
    got = probability_of_backtest_overfitting(pd.DataFrame(matrix), n_partitions=6)
    np.testing.assert_allclose(got.logits, expected_logits, rtol=1e-12)
    assert got.pbo == expected_pbo


def test_pbo_is_high_for_noise_and_low_for_real_skill() -> None:
    rng = np.random.default_rng(8)
    noise = [
        probability_of_backtest_overfitting(rng.normal(0, 0.01, (320, 40)), 8).pbo
        for _ in range(20)
    ]
    # Zero skill: the in-sample winner is a random config out of sample, λ symmetric.
    assert 0.35 < float(np.mean(noise)) < 0.65
    skilled = rng.normal(0, 0.01, (320, 40))
    skilled[:, 0] += 0.004  # per-bar SR 0.4: best in and out of sample
    assert probability_of_backtest_overfitting(skilled, 8).pbo < 0.02


def test_pbo_sixteen_partitions_has_12870_splits_and_subsampling_is_deterministic() -> None:
    rng = np.random.default_rng(4)
    matrix = rng.normal(0, 0.01, (160, 30))
    full = probability_of_backtest_overfitting(matrix)
    assert len(full.logits) == 12870
    sub = probability_of_backtest_overfitting(matrix, max_combinations=1000)
    again = probability_of_backtest_overfitting(matrix, max_combinations=1000)
    np.testing.assert_array_equal(sub.logits, again.logits)
    assert 990 <= len(sub.logits) <= 1000
    # Each subsampled logit is one of the full set's, so the estimates agree roughly.
    assert np.isin(sub.logits, full.logits).all()
    assert abs(sub.pbo - full.pbo) < 0.1


def test_pbo_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((10, 3)), n_partitions=16)
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_partitions=7)
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((100, 1)), n_partitions=4)
