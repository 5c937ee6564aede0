"""Rebuilding the series behind training windows: exact where rows are consecutive or
windows overlap, a NaN break marker where they do not."""

from __future__ import annotations

import numpy as np
import pytest

from architectures.econometric._series import rebuild


def windows(values: np.ndarray, lookback: int) -> np.ndarray:
    """Windows oldest first: (n, L) for a series, (n, L, N) for a panel."""
    out = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)
    return out if values.ndim == 1 else out.transpose(0, 2, 1)


SERIES = np.random.default_rng(0).standard_normal(120)


def test_consecutive_rows_give_back_the_series() -> None:
    rebuilt = rebuild(windows(SERIES, 8))
    assert rebuilt.breaks == 0
    np.testing.assert_array_equal(rebuilt.values, SERIES)


def test_skipped_rows_inside_the_window_are_recovered_exactly() -> None:
    X = windows(SERIES, 8)
    keep = np.r_[0:30, 34:50, 55 : len(X)]  # 3 and 4 rows missing; windows still overlap
    rebuilt = rebuild(X[keep])
    assert rebuilt.breaks == 0
    np.testing.assert_array_equal(rebuilt.values, SERIES)


def test_a_gap_wider_than_the_window_becomes_a_missing_value() -> None:
    X = windows(SERIES, 8)
    keep = np.r_[0:40, 70 : len(X)]  # row 39 ends at bar 46; row 70 starts at bar 70
    rebuilt = rebuild(X[keep])
    assert rebuilt.breaks == 1
    expected = np.concatenate([SERIES[:47], [np.nan], SERIES[70:]])
    np.testing.assert_array_equal(rebuilt.values, expected)
    first, second = rebuilt.segments()
    np.testing.assert_array_equal(first, SERIES[:47])
    np.testing.assert_array_equal(second, SERIES[70:])


def test_one_equal_value_is_not_taken_for_an_overlap() -> None:
    # Row 60's window starts with the value row 20's window ends with, by coincidence.
    series = SERIES.copy()
    series[60] = series[27]
    X = windows(series, 8)
    rebuilt = rebuild(X[np.r_[0:21, 60 : len(X)]])
    assert rebuilt.breaks == 1


def test_panel_windows_are_rebuilt_row_by_row() -> None:
    panel = np.random.default_rng(1).standard_normal((90, 3))
    X = windows(panel, 6)
    rebuilt = rebuild(X[np.r_[0:20, 22:40, 60 : len(X)]])
    assert rebuilt.breaks == 1
    assert rebuilt.values.shape == (90 - (60 - 45) + 1, 3)
    assert np.isnan(rebuilt.values[45]).all()
    np.testing.assert_array_equal(rebuilt.values[:45], panel[:45])
    np.testing.assert_array_equal(rebuilt.values[46:], panel[60:])


def test_newest_segment_is_the_newest_long_enough_stretch() -> None:
    X = windows(SERIES, 5)
    rebuilt = rebuild(X[np.r_[0:60, 70:100, 110:112]])  # stretches of 64, 34 and 6 bars
    assert [len(s) for s in rebuilt.segments()] == [64, 34, 6]
    np.testing.assert_array_equal(rebuilt.newest_segment(30), SERIES[70:104])
    np.testing.assert_array_equal(rebuilt.newest_segment(40), SERIES[:64])
    with pytest.raises(ValueError, match="no contiguous stretch of 65 bars"):
        rebuilt.newest_segment(65)
