"""Pairwise-complete correlation against pandas ``DataFrame.corr``."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rating._panel import Panel
from rating.correlation import (
    cross_correlation_from_panel,
    mean_correlation_from_panel,
    mean_pairwise_correlation,
    pairwise_correlation,
)


def _frame(seed: int, n_bars: int = 300, n_cfg: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_bars, 1))
    values = rng.normal(size=(n_bars, n_cfg)) + base * rng.uniform(0, 2, n_cfg)
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(n_cfg)])


def test_matches_pandas_without_missing_values() -> None:
    frame = _frame(1)
    got = pairwise_correlation(frame)
    assert isinstance(got, pd.DataFrame)
    np.testing.assert_allclose(got.to_numpy(), frame.corr().to_numpy(), atol=1e-12)


def test_matches_pandas_with_leading_trailing_and_interior_gaps() -> None:
    frame = _frame(2)
    frame.iloc[:120, 1] = np.nan  # late start
    frame.iloc[250:, 2] = np.nan  # stopped
    frame.iloc[100:110, 3] = np.nan  # interior gap
    frame.iloc[::4, 4] = np.nan  # many gaps
    frame.iloc[:290, 5] = np.nan  # too short for min_overlap=20
    frame.iloc[:, 6] = np.nan  # nothing
    frame.iloc[:150, 7] = np.nan
    frame.iloc[160:, 8] = np.nan  # overlaps c7 on 10 bars only
    got = pairwise_correlation(frame, min_overlap=20).to_numpy()
    expected = frame.corr(min_periods=20).to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(st.tuples(st.integers(0, 79), st.integers(0, 79)), min_size=0, max_size=6),
)
def test_random_missing_blocks_match_pandas(seed: int, holes: list[tuple[int, int]]) -> None:
    frame = _frame(seed, n_bars=80, n_cfg=6)
    for k, (a, b) in enumerate(holes):
        frame.iloc[min(a, b) : max(a, b), k % 6] = np.nan
    got = pairwise_correlation(frame, min_overlap=5).to_numpy()
    expected = frame.corr(min_periods=5).to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_constant_overlap_gives_nan() -> None:
    frame = _frame(3, n_bars=50, n_cfg=3)
    frame["c2"] = 0.01
    got = pairwise_correlation(frame, min_overlap=5)
    assert math.isnan(got.loc["c0", "c2"])
    assert got.loc["c0", "c1"] == pytest.approx(frame["c0"].corr(frame["c1"]))


def test_mean_pairwise_correlation_by_hand() -> None:
    corr = np.array([[1.0, 0.2, np.nan], [0.2, 1.0, 0.5], [np.nan, 0.5, 1.0]])
    assert mean_pairwise_correlation(corr) == pytest.approx((0.2 + 0.2 + 0.5 + 0.5) / 4)
    assert mean_pairwise_correlation(np.eye(2)) == 0.0
    assert math.isnan(mean_pairwise_correlation(np.array([[1.0, np.nan], [np.nan, 1.0]])))
    with pytest.raises(ValueError):
        mean_pairwise_correlation(np.ones((2, 3)))


def _gappy_frame() -> pd.DataFrame:
    frame = _frame(4, n_bars=400, n_cfg=12)
    frame.iloc[:150, 1] = np.nan
    frame.iloc[300:, 2] = np.nan
    frame.iloc[100:130, 3] = np.nan  # interior gap
    frame.iloc[:380, 4] = np.nan  # 20 bars only
    frame.iloc[:200, 5] = np.nan
    frame.iloc[210:, 6] = np.nan  # overlaps c5 on 10 bars
    return frame


def test_cross_correlation_matches_pandas() -> None:
    frame = _gappy_frame()
    panel = Panel.from_bars_by_configs(frame.to_numpy())
    rows, cols = np.arange(12), np.array([0, 3, 5, 6])
    got = cross_correlation_from_panel(panel, rows, cols, min_overlap=15)
    expected = frame.corr(min_periods=15).to_numpy()[:, cols]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_mean_correlation_is_plain_mean_without_gaps() -> None:
    frame = _frame(5, n_bars=200, n_cfg=15)
    panel = Panel.from_bars_by_configs(frame.to_numpy())
    plain = frame.corr().to_numpy()[~np.eye(15, dtype=bool)].mean()
    assert mean_correlation_from_panel(panel) == pytest.approx(plain, abs=1e-12)
    members = np.zeros(15, dtype=bool)
    members[[0, 4, 9]] = True
    sub = frame.iloc[:, [0, 4, 9]].corr().to_numpy()[~np.eye(3, dtype=bool)].mean()
    assert mean_correlation_from_panel(panel, members) == pytest.approx(sub, abs=1e-12)


def test_mean_correlation_with_gaps_is_overlap_weighted() -> None:
    """Against the definition computed with pandas: Σ_{i≠j} Σ_t z_i z_j / Σ_{i≠j}(n_ij - 1)
    over overlapping pairs, z = own z-scores (0 where missing)."""
    frame = _gappy_frame()
    z = ((frame - frame.mean()) / frame.std()).fillna(0.0)
    seen = frame.notna().astype(float)
    cross, overlap = (z.T @ z).to_numpy(), (seen.T @ seen).to_numpy()
    off = ~np.eye(12, dtype=bool) & (overlap > 0)
    expected = cross[off].sum() / (overlap[off] - 1).sum()
    panel = Panel.from_bars_by_configs(frame.to_numpy())
    assert mean_correlation_from_panel(panel) == pytest.approx(expected, rel=1e-10)


def test_mean_correlation_needs_two_members() -> None:
    panel = Panel.from_bars_by_configs(_frame(6, n_bars=50, n_cfg=3).to_numpy())
    assert math.isnan(mean_correlation_from_panel(panel, np.array([True, False, False])))
