"""The asset bar clock, feature assembly and the per-asset TA-Lib runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features import Panel
from features.bar_clock import BarClock, feature_frame
from features.talib_util import per_asset, relative_prices, segments

masks = arrays(np.bool_, st.tuples(st.integers(1, 30), st.integers(1, 4)))


@settings(max_examples=80, deadline=None)
@given(present=masks, data=st.data())
def test_compaction_keeps_each_assets_bars_in_order(
    present: np.ndarray, data: st.DataObject
) -> None:
    x = data.draw(arrays(np.float64, present.shape, elements=st.floats(-10, 10)))
    x = np.where(present, x, np.nan)
    clock = BarClock.from_mask(present)
    compact = clock.compact(x)
    for n in range(present.shape[1]):
        bars = x[present[:, n], n]
        col = compact[:, n]
        runs = np.count_nonzero(np.diff(np.concatenate(([0], present[:, n].astype(int)))) == 1)
        assert (n in clock.holey) == (runs > 1)
        if n in clock.holey:  # compacted: the bars from row 0, then NaN
            np.testing.assert_array_equal(col[: len(bars)], bars)
            assert np.isnan(col[len(bars) :]).all()
        else:  # one run (or none): left in place
            np.testing.assert_array_equal(col, x[:, n])
    expanded = clock.expand(compact)
    np.testing.assert_array_equal(expanded[present], x[present])
    assert np.isnan(expanded[:, clock.holey][~present[:, clock.holey]]).all()


def test_contiguity_detection() -> None:
    late_and_delisted = np.array([[0, 1], [1, 1], [1, 1], [1, 0]], dtype=bool)
    assert BarClock.from_mask(late_and_delisted).contiguous
    hole = np.array([[1, 1], [0, 1], [1, 1]], dtype=bool)
    assert not BarClock.from_mask(hole).contiguous


def test_feature_frame_masks_rows_without_a_bar_and_infinities() -> None:
    index = pd.date_range("2021-01-01", periods=3, freq="D")
    close = pd.DataFrame([[1.0, np.nan], [2.0, 3.0], [3.0, 4.0]], index=index, columns=["A", "B"])
    panel = Panel({"close": close})
    clock = BarClock.of(panel)
    frame = feature_frame(
        {"f": np.array([[1.0, 9.0], [np.inf, 2.0], [3.0, -np.inf]])}, panel, clock, compact=False
    )
    np.testing.assert_array_equal(
        frame.values[:, :, 0], [[1.0, np.nan], [np.nan, 2.0], [3.0, np.nan]]
    )
    assert frame.names == ("f",) and frame.assets == ("A", "B")
    with pytest.raises(ValueError, match="shape"):
        feature_frame({"g": np.zeros((2, 2))}, panel, clock, compact=False)


def test_segments_are_the_runs_of_true() -> None:
    assert segments(np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)) == [(0, 2), (3, 4), (6, 7)]
    assert segments(np.zeros(3, dtype=bool)) == []


def test_per_asset_restarts_talib_after_a_missing_value() -> None:
    rng = np.random.default_rng(2)
    c = 100 + np.cumsum(rng.normal(size=(60, 2)), axis=0)
    c[:5, 1] = np.nan  # listed late
    c[30, 0] = np.nan  # a hole
    (rsi,) = per_asset(talib.RSI, [c], timeperiod=5)
    np.testing.assert_allclose(rsi[5:, 1], talib.RSI(c[5:, 1].copy(), timeperiod=5))
    np.testing.assert_allclose(rsi[:30, 0], talib.RSI(c[:30, 0].copy(), timeperiod=5))
    np.testing.assert_allclose(rsi[31:, 0], talib.RSI(c[31:, 0].copy(), timeperiod=5))
    assert np.isnan(rsi[30, 0])


def test_relative_prices_divide_by_the_first_close() -> None:
    c = np.array([[np.nan, 4.0], [2.0, 8.0], [3.0, 2.0]])
    rel_c, rel_h = relative_prices(c, 2 * c)
    np.testing.assert_array_equal(rel_c, [[np.nan, 1.0], [1.0, 2.0], [1.5, 0.5]])
    np.testing.assert_array_equal(rel_h, 2 * rel_c)
    assert rel_c.flags.f_contiguous
