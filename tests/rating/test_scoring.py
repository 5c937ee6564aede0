"""Composite score, gates and RatingPolicy validation on hand-built tables."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from rating.policy import DEFAULT_WEIGHTS, RatingPolicy
from rating.scoring import composite_score, evaluate_gates, metric_scores


def _table(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "failed": [False] * n,
        "health": [""] * n,
        "n_obs": [500] * n,
        "max_drawdown": [-0.10] * n,
        "dsr": [0.99] * n,
    }
    base.update(columns)
    return pd.DataFrame(base, index=pd.Index([f"c{i}" for i in range(n)], name="config_id"))


# ---- score -------------------------------------------------------------------------------


def test_rank_score_by_hand() -> None:
    policy = RatingPolicy(weights={"sharpe_all": 3.0, "turnover": 1.0})
    table = _table(sharpe_all=[2.0, 1.0, 3.0, np.nan], turnover=[10.0, 5.0, 20.0, 1.0])
    # sharpe_all percentiles among finite (3 values): c0 0.5, c1 0.0, c2 1.0, c3 NaN -> 0.
    # turnover is lower-better: -t ranks c3 best (1.0), c1 2/3, c0 1/3, c2 0.
    expected = np.array(
        [
            (3 * 0.5 + 1 / 3) / 4,
            (3 * 0.0 + 2 / 3) / 4,
            (3 * 1.0 + 0.0) / 4,
            (3 * 0.0 + 1.0) / 4,
        ]
    )
    np.testing.assert_allclose(composite_score(table, policy).to_numpy(), expected)


def test_zscore_winsorises_and_missing_is_worst() -> None:
    policy = RatingPolicy(weights={"sharpe_all": 1.0}, score_method="zscore", winsor_quantile=0.25)
    values = [0.0, 1.0, 2.0, 3.0, 100.0, np.nan]
    table = _table(sharpe_all=values)
    finite = np.array(values[:5])
    lo, hi = np.quantile(finite, [0.25, 0.75])  # 1.0 and 3.0
    clipped = np.clip(finite, lo, hi)
    z = (clipped - clipped.mean()) / clipped.std(ddof=1)
    got = composite_score(table, policy).to_numpy()
    np.testing.assert_allclose(got[:5], z)
    assert got[5] == pytest.approx(z.min())
    assert got[4] == pytest.approx(got[3])  # the outlier no longer dominates


def test_metric_without_any_value_is_dropped() -> None:
    policy = RatingPolicy(weights={"sharpe_all": 1.0, "compute_cost": 1.0})
    table = _table(sharpe_all=[1.0, 2.0], compute_cost=[np.nan, np.nan])
    assert list(metric_scores(table, policy).columns) == ["sharpe_all"]
    np.testing.assert_allclose(composite_score(table, policy), [0.0, 1.0])


def test_max_drawdown_closer_to_zero_scores_higher() -> None:
    policy = RatingPolicy(weights={"max_drawdown": 1.0})
    table = _table(max_drawdown=[-0.30, -0.05, -0.10])
    assert list(composite_score(table, policy).rank()) == [1.0, 3.0, 2.0]


# ---- gates ---------------------------------------------------------------------------------


def test_gates_report_first_failure_in_order() -> None:
    policy = RatingPolicy(min_track_record=100, max_drawdown_limit=0.35, dsr_threshold=0.95)
    table = _table(
        failed=[True, False, False, False, False, False],
        health=["red", "RED", "amber", "green", "", ""],
        n_obs=[10, 500, 40, 500, 500, 500],
        max_drawdown=[-0.9, -0.1, -0.9, -0.41, -0.2, -0.2],
        dsr=[0.1, 0.99, 0.1, 0.2, 0.62, 0.97],
    )
    codes, reasons = evaluate_gates(table, policy)
    assert codes.tolist() == ["failed", "health", "track_record", "max_drawdown", "dsr", ""]
    assert reasons.tolist() == [
        "failed evaluation",
        "health red",
        "track record 40 bars < 100",
        "max drawdown 41% > 35%",
        "DSR 0.62 < 0.95",
        "",
    ]


def test_nan_dsr_fails_and_exit_threshold_override() -> None:
    policy = RatingPolicy()
    table = _table(dsr=[np.nan, 0.92])
    codes, reasons = evaluate_gates(table, policy)
    assert codes.tolist() == ["dsr", "dsr"]
    assert reasons.iloc[0] == "DSR n/a < 0.95"
    codes, _ = evaluate_gates(table, policy, dsr_threshold=policy.dsr_exit_threshold)
    assert codes.tolist() == ["dsr", ""]


# ---- policy ----------------------------------------------------------------------------------


def test_policy_defaults_and_derived_values() -> None:
    policy = RatingPolicy()
    assert policy.target_active == 12
    assert policy.exit_rank == 24
    assert policy.sharpe_columns == ("sharpe_30", "sharpe_60", "sharpe_90")
    assert dict(policy.weights) == dict(DEFAULT_WEIGHTS)
    assert RatingPolicy(top_k=15).target_active == 15
    assert RatingPolicy(top_k=10).target_active == 10
    assert RatingPolicy(exit_rank_multiple=1.5, top_k=11).exit_rank == math.ceil(16.5)


def test_policy_weights_are_frozen_copies() -> None:
    weights = {"dsr": 1.0}
    policy = RatingPolicy(weights=weights)
    weights["dsr"] = 5.0
    assert policy.weights["dsr"] == 1.0
    with pytest.raises(TypeError):
        policy.weights["dsr"] = 2.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"sharpe_7": 1.0}}, "unknown metric"),
        ({"weights": {"dsr": -1.0}}, ">= 0"),
        ({"weights": {"dsr": 0.0}}, "all be zero"),
        ({"score_method": "median"}, "score_method"),
        ({"dsr_exit_threshold": 0.99}, "dsr_exit_threshold"),
        ({"min_active": 16}, "min_active"),
        ({"max_drawdown_limit": 35.0}, "positive fraction"),
        ({"windows": (1, 30)}, "windows"),
        ({"min_holding": timedelta(days=-1)}, "min_holding"),
        ({"pbo_partitions": 15}, "pbo_partitions"),
        ({"exit_rank_multiple": 0.5}, "exit_rank_multiple"),
        ({"top_k": 40}, r"top_k 40 must lie in \[min_active 10, max_active 15\]"),
        ({"top_k": 3}, r"top_k 3 must lie in \[min_active 10, max_active 15\]"),
        ({"benchmark": "spx"}, "benchmark must be"),
        ({"sr_autocorrelation": "maybe"}, "sr_autocorrelation"),
        ({"pbo_warning": 1.5}, "pbo_warning"),
        ({"max_pool_pbo": -0.1}, "max_pool_pbo"),
        ({"max_pool_pbo": 0.5, "compute_pbo": False}, "needs compute_pbo"),
    ],
)
def test_policy_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RatingPolicy(**kwargs)


def test_custom_windows_make_their_sharpe_columns_weightable() -> None:
    policy = RatingPolicy(windows=(20,), weights={"sharpe_20": 1.0})
    assert policy.direction("sharpe_20") == 1
    with pytest.raises(ValueError, match="unknown metric"):
        RatingPolicy(windows=(20,))  # default weights use sharpe_90
