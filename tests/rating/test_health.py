"""Health and drift monitoring: synthetic windows that must come out green, yellow or red
for the right reason, and the metrics against scipy / statsmodels / scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from statsmodels.stats.multitest import multipletests

from rating import HealthPolicy, Predictions, assess, rate
from rating.health import data_drift, prediction_quality, rolling_directional_accuracy

N_ASSETS = 8
ASSETS = [f"A{j}" for j in range(N_ASSETS)]


def window(
    n_bars: int,
    accuracy: float | list[float],
    seed: int,
    *,
    target_scale: float = 0.01,
    first_bar: int = 0,
) -> Predictions:
    """n_bars x 8 assets of predictions whose sign matches the realised target on exactly
    round(accuracy x n_bars) bars of each asset (per-asset accuracies when a list);
    prediction magnitudes are random, unrelated to the target's."""
    rng = np.random.default_rng(seed)
    per_asset = accuracy if isinstance(accuracy, list) else [accuracy] * N_ASSETS
    realised = rng.normal(0.0, target_scale, (n_bars, N_ASSETS))
    magnitude = rng.uniform(0.5, 1.5, (n_bars, N_ASSETS))
    sign = np.empty((n_bars, N_ASSETS))
    for j, acc in enumerate(per_asset):
        hits = np.zeros(n_bars, dtype=bool)
        hits[: round(acc * n_bars)] = True
        rng.shuffle(hits)
        sign[:, j] = np.where(hits, np.sign(realised[:, j]), -np.sign(realised[:, j]))
    index = pd.RangeIndex(first_bar, first_bar + n_bars)
    return Predictions.from_wide(
        pd.DataFrame(sign * magnitude, index=index, columns=ASSETS),
        pd.DataFrame(realised, index=index, columns=ASSETS),
    )


def features(n_rows: int, seed: int, shifted: int = 0, shift: float = 0.5) -> pd.DataFrame:
    """10 standard-normal features; the first ``shifted`` moved by ``shift`` σ."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n_rows, 10))
    values[:, :shifted] += shift
    return pd.DataFrame(values, columns=[f"f{j}" for j in range(10)])


BASELINE = window(250, 0.58, seed=1)
TRAINING = features(2000, seed=2)


def states(report_checks: tuple) -> dict[str, str]:
    return {c.metric: c.state for c in report_checks}


def test_green_when_nothing_changed() -> None:
    report = assess(
        BASELINE,
        window(60, 0.58, seed=3, first_bar=250),
        training_features=TRAINING,
        recent_features=features(480, seed=4),
    )
    assert report.state == "green", report.reasons
    assert report.reasons == ()
    assert set(states(report.checks)) == {
        "rmse_ratio",
        "mae_ratio",
        "r2_drop",
        "large_error_excess",
        "fairness_gap",
        "accuracy_drop",
        "drift_share",
    }
    assert report.skipped == ()
    assert report.metrics["directional_accuracy_baseline"] == pytest.approx(0.58)
    assert report.metrics["accuracy_trailing"] == pytest.approx(0.58, abs=0.01)


def test_yellow_for_a_moderate_significant_accuracy_drop() -> None:
    """0.58 → 32/60 over the last 60 bars: 4.7 points, z-test p ≈ 0.03: yellow, not red."""
    report = assess(BASELINE, window(60, 32 / 60, seed=5, first_bar=250))
    assert report.state == "yellow"
    check = next(c for c in report.checks if c.metric == "accuracy_drop")
    assert check.state == "yellow"
    assert check.value == pytest.approx(0.58 - 32 / 60)
    assert report.reasons == (check.reason,)
    assert "accuracy_drop 0.0467 > 0.03 with z-test p = " in check.reason
    others = {k: v for k, v in states(report.checks).items() if k != "accuracy_drop"}
    assert set(others.values()) == {"green"}


def test_an_accuracy_drop_within_noise_stays_green() -> None:
    """A 4.7-point drop (to 8/15) on only 15 bars (120 predictions) is not significant."""
    short = assess(BASELINE, window(15, 8 / 15, seed=5, first_bar=250))
    check = next(c for c in short.checks if c.metric == "accuracy_drop")
    assert check.value == pytest.approx(0.58 - 8 / 15) and check.state == "green"
    assert "within limits" in check.reason


def test_small_unchanged_windows_do_not_flap() -> None:
    """40 recent windows of 120 predictions from the baseline's own process: the
    defaults keep sampling noise green (a state change would be a false event)."""
    non_green = [
        assess(BASELINE, window(15, 0.58, seed=100 + seed, first_bar=250)).state != "green"
        for seed in range(40)
    ]
    assert sum(non_green) <= 2


def test_red_for_a_collapsed_accuracy() -> None:
    report = assess(BASELINE, window(60, 29 / 60, seed=6, first_bar=250))
    assert report.state == "red"
    assert report.reasons[0].startswith("accuracy_drop 0.0967 > 0.06 with z-test p = ")


def test_red_for_errors_twice_the_baseline() -> None:
    """Same hit rate, targets twice as volatile: RMSE/MAE ratios ~2 and many errors
    beyond 3σ of the baseline errors; directional checks stay green."""
    report = assess(BASELINE, window(60, 0.58, seed=7, target_scale=0.02, first_bar=250))
    checks = states(report.checks)
    assert report.state == "red"
    assert checks["rmse_ratio"] == checks["mae_ratio"] == "red"
    assert checks["large_error_excess"] == "red"
    assert checks["accuracy_drop"] == checks["fairness_gap"] == "green"
    rmse = next(c for c in report.checks if c.metric == "rmse_ratio")
    assert rmse.value == pytest.approx(
        report.metrics["rmse_recent"] / report.metrics["rmse_baseline"]
    )
    assert rmse.value == pytest.approx(2.0, rel=0.15)
    assert rmse.reason.startswith("rmse_ratio ") and rmse.reason.endswith("> 1.5 (red)")


def test_yellow_for_an_unfairly_served_asset_group() -> None:
    """Four assets at 2/3, four at 0.48 (overall unchanged): a significant 18-point gap."""
    per_asset = [40 / 60] * 4 + [29 / 60] * 4
    report = assess(BASELINE, window(60, per_asset, seed=8, first_bar=250))
    check = next(c for c in report.checks if c.metric == "fairness_gap")
    assert report.state == "yellow" and check.state == "yellow"
    assert check.value == pytest.approx(11 / 60)
    assert "best A0 0.67, worst A4 0.48" in check.reason
    assert states(report.checks)["accuracy_drop"] == "green"


def test_a_noisy_per_asset_gap_stays_green() -> None:
    """Per-asset accuracies 0.50-0.67 drawn by chance on 20 bars: χ² says no difference."""
    per_asset = [0.5, 0.55, 0.6, 0.65, 0.5, 0.55, 0.6, 0.65]
    report = assess(BASELINE, window(20, per_asset, seed=9, first_bar=250))
    check = next(c for c in report.checks if c.metric == "fairness_gap")
    assert check.value == pytest.approx(0.15) and check.state == "green"
    assert report.metrics["fairness_p_value"] > 0.05


@pytest.mark.parametrize(("shifted", "state"), [(3, "yellow"), (6, "red")])
def test_data_drift_by_share_of_shifted_features(shifted: int, state: str) -> None:
    report = assess(
        BASELINE,
        window(60, 0.58, seed=3, first_bar=250),
        training_features=TRAINING,
        recent_features=features(480, seed=10, shifted=shifted),
    )
    check = next(c for c in report.checks if c.metric == "drift_share")
    assert report.state == state and check.state == state
    assert check.value == pytest.approx(shifted / 10)
    assert f"{shifted} of 10 features drifted" in check.reason
    assert {d.feature for d in report.drift if d.drifted} == {f"f{j}" for j in range(shifted)}


def test_data_drift_matches_scipy_and_statsmodels() -> None:
    recent = features(480, seed=11, shifted=2, shift=0.3)
    recent.loc[:50, "f9"] = np.nan
    for correction in ("holm", "fdr_bh"):
        policy = HealthPolicy(drift_correction=correction)
        results, skipped = data_drift(TRAINING, recent[list(reversed(recent.columns))], policy)
        assert skipped == ()
        raw = [stats.ks_2samp(TRAINING[d.feature], recent[d.feature].dropna()) for d in results]
        np.testing.assert_allclose([d.statistic for d in results], [r.statistic for r in raw])
        np.testing.assert_allclose([d.p_value for d in results], [r.pvalue for r in raw])
        _, adjusted, _, _ = multipletests([r.pvalue for r in raw], method=correction)
        np.testing.assert_allclose([d.p_adjusted for d in results], adjusted)
        assert results[9].n_recent == 480 - 51


def test_no_false_drift_alarm_on_stationary_features() -> None:
    """20 seeds x 10 iid features: Holm at 1% keeps the family-wise false alarm rate low."""
    alarms = 0
    for seed in range(20):
        results, _ = data_drift(features(2000, seed=100 + seed), features(480, seed=200 + seed))
        alarms += any(d.drifted for d in results)
    assert alarms <= 1


def test_data_drift_input_checks() -> None:
    with pytest.raises(ValueError, match="differ in columns"):
        data_drift(TRAINING, TRAINING.drop(columns="f3"))
    results, skipped = data_drift(TRAINING, TRAINING.iloc[:10])
    assert results == () and len(skipped) == 10
    with pytest.raises(ValueError, match="both"):
        assess(BASELINE, BASELINE, training_features=TRAINING)


def test_too_little_data_is_skipped_not_yellow() -> None:
    report = assess(BASELINE, window(2, 0.0, seed=12, first_bar=250))
    assert report.state == "green"
    assert report.checks == ()
    assert any("prediction quality" in s for s in report.skipped)
    assert any("data drift" in s for s in report.skipped)


def test_prediction_quality_matches_scikit_learn() -> None:
    rng = np.random.default_rng(13)
    p, y = rng.normal(size=300), rng.normal(size=300)
    p[:5] = 0.0
    out = prediction_quality(Predictions(p, y), scale=0.4, error_sigma=1.1, k=2.0)
    assert out["mae"] == pytest.approx(mean_absolute_error(y, 0.4 * p))
    assert out["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, 0.4 * p)))
    assert out["r2"] == pytest.approx(r2_score(y, 0.4 * p))
    counted = (p != 0) & (y != 0)
    assert out["directional_accuracy"] == pytest.approx((np.sign(p) == np.sign(y))[counted].mean())
    assert out["large_error_share"] == pytest.approx((np.abs(y - 0.4 * p) > 2.2).mean())


def test_calibration_scale_is_fitted_on_the_baseline_only() -> None:
    report = assess(BASELINE, window(60, 0.58, seed=3, first_bar=250))
    p, y = BASELINE.prediction, BASELINE.realised
    assert report.metrics["calibration_scale"] == pytest.approx((p * y).sum() / (p * p).sum())
    raw = assess(
        BASELINE, window(60, 0.58, seed=3, first_bar=250), policy=HealthPolicy(calibrate=False)
    )
    assert raw.metrics["calibration_scale"] == 1.0


def test_rolling_directional_accuracy_by_hand() -> None:
    preds = window(30, 0.6, seed=14)
    out = rolling_directional_accuracy(preds, 5)
    frame = pd.DataFrame(
        {"bar": preds.bar, "hit": np.sign(preds.prediction) == np.sign(preds.realised)}
    )
    per_bar = frame.groupby("bar")["hit"].agg(["sum", "count"])
    expected = (
        per_bar["sum"].rolling(5, min_periods=1).sum()
        / per_bar["count"].rolling(5, min_periods=1).sum()
    )
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy())


def test_predictions_validation_and_from_wide() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Predictions(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="inf"):
        Predictions(np.array([1.0, np.inf]), np.zeros(2))
    with pytest.raises(ValueError, match="time order"):
        Predictions(np.zeros(3), np.zeros(3), bar=np.array([0, 2, 1]))
    p = pd.DataFrame({"a": [0.1, np.nan], "b": [0.2, -0.1]}, index=[5, 6])
    y = pd.DataFrame({"b": [0.01, 0.02], "c": [0.03, 0.04]}, index=[5, 6])
    preds = Predictions.from_wide(p, y)
    assert len(preds) == 2  # only (5, b) and (6, b) have both
    np.testing.assert_allclose(preds.prediction, [0.2, -0.1])
    assert list(preds.asset) == ["b", "b"] and list(preds.bar) == [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rmse_ratio_yellow": 2.0}, "rmse_ratio_yellow <= rmse_ratio_red"),
        ({"accuracy_alpha_red": 0.1}, "accuracy_alpha"),
        ({"drift_correction": "bonferroni"}, "drift_correction"),
        ({"min_obs": 1}, "min_obs"),
        ({"drift_alpha": 0.0}, "drift_alpha"),
    ],
)
def test_health_policy_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HealthPolicy(**kwargs)


def test_red_state_feeds_the_rating_gate() -> None:
    """The report's state is the ``health`` input of ``rate``: red fails a gate."""
    report = assess(BASELINE, window(60, 0.48, seed=6, first_bar=250))
    returns = pd.DataFrame(
        np.random.default_rng(0).normal(0.001, 0.01, (200, 2)), columns=["ok", "sick"]
    )
    table = rate(returns, health={"sick": report.state, "ok": "green"}).table
    assert table.loc["sick", "gate"] == "health red"
    assert table.loc["ok", "gate"] != "health red"
    assert report.summary()["state"] == "red" and report.summary()["reasons"]


def test_holm_equals_statsmodels_with_ties_and_clipping() -> None:
    from rating.health import _holm

    rng = np.random.default_rng(15)
    for size in (1, 2, 7, 50):
        p = rng.uniform(0, 0.2, size)
        p[: size // 3] = p[0]  # ties
        np.testing.assert_allclose(_holm(p), multipletests(p, method="holm")[1])
    np.testing.assert_allclose(_holm(np.array([0.5, 0.9])), [1.0, 1.0])
