"""Metrics on known series, against empyrical / scipy / pandas, and column-wise properties.

Expected values come from hand computation, from empyrical-reloaded (the reference
convention), scipy, or straightforward loops written here independently of rating/.
"""

from __future__ import annotations

import math

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rating import metrics as m

# ---- hand-computed series ---------------------------------------------------------------

# Wealth path: 1.10, 0.55, 0.66, 0.99, 1.485.  Peak 1.10 at bar 0, trough 0.55 at bar 1
# (drawdown -50%), back above 1.10 at bar 4 -> recovery 3 bars; new high at the end.
PATH = [0.10, -0.50, 0.20, 0.50, 0.50]


def test_max_drawdown_by_hand() -> None:
    assert m.max_drawdown(PATH) == pytest.approx(0.55 / 1.10 - 1.0)


def test_recovery_time_and_time_under_water_by_hand() -> None:
    assert m.recovery_time(PATH) == 3.0
    assert m.time_under_water(PATH) == 0.0


def test_unrecovered_drawdown_is_nan_and_time_under_water_counts_from_peak() -> None:
    # Wealth 1.2, 0.96, 1.056: peak at bar 0, never regained.
    r = [0.20, -0.20, 0.10]
    assert math.isnan(m.recovery_time(r))
    assert m.time_under_water(r) == 2.0


def test_under_water_from_the_first_bar_counts_whole_history() -> None:
    # The starting value 1 is the peak; every bar is below it.
    r = [-0.1, 0.05, -0.01, 0.02]
    assert m.max_drawdown(r) == pytest.approx(0.9 - 1.0)
    assert m.time_under_water(r) == 4.0


def test_no_drawdown_means_zero_recovery_and_nan_calmar() -> None:
    r = [0.01, 0.02, 0.0, 0.03]
    assert m.max_drawdown(r) == 0.0
    assert m.recovery_time(r) == 0.0
    assert math.isnan(m.calmar_ratio(r))


def test_sharpe_by_hand() -> None:
    r = [0.01, -0.02, 0.03, 0.00]
    mean = 0.005
    std = math.sqrt(((0.005) ** 2 + 0.025**2 + 0.025**2 + 0.005**2) / 3)
    assert m.sharpe_ratio(r, periods_per_year=12) == pytest.approx(mean / std * math.sqrt(12))


def test_win_rate_excludes_zero_bars_and_profit_factor_by_hand() -> None:
    r = [0.02, 0.0, -0.01, 0.03, 0.0, -0.02]
    assert m.win_rate(r) == pytest.approx(2 / 4)
    assert m.profit_factor(r) == pytest.approx(0.05 / 0.03)


def test_annual_return_counts_own_observations_only() -> None:
    # 2 bars of +10% at 2 periods/year = one year: CAGR 21%, whatever NaN precedes them.
    r = pd.Series([np.nan, np.nan, np.nan, 0.10, 0.10])
    assert m.annual_return(r, periods_per_year=2) == pytest.approx(0.21)


def test_degenerate_series_give_nan_not_inf() -> None:
    const = np.full(20, 0.001)
    assert math.isnan(m.sharpe_ratio(const))
    assert math.isnan(m.sortino_ratio(np.abs(np.linspace(0.01, 0.02, 20))))  # no losses
    assert math.isnan(m.profit_factor([0.01, 0.02]))
    assert math.isnan(m.win_rate([0.0, 0.0]))
    assert math.isnan(m.sharpe_ratio([0.01]))
    empty = np.full(5, np.nan)
    for fn in (m.sharpe_ratio, m.max_drawdown, m.recovery_time, m.time_under_water):
        assert math.isnan(fn(empty))


def test_inf_is_rejected() -> None:
    with pytest.raises(ValueError, match="inf"):
        m.sharpe_ratio([0.01, np.inf, 0.02])


# ---- against empyrical-reloaded and scipy -----------------------------------------------


@pytest.fixture(scope="module")
def panel_with_gaps() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    values = rng.standard_t(4, size=(600, 9)) * 0.01 + 0.0004
    values[:150, 2] = np.nan  # late start
    values[300:320, 3] = np.nan  # gap
    values[:590, 4] = np.nan  # short history
    values[550:, 5] = np.nan  # stopped
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(9)])


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (m.sharpe_ratio, ep.sharpe_ratio),
        (m.sortino_ratio, ep.sortino_ratio),
        (m.max_drawdown, ep.max_drawdown),
        (m.annual_return, ep.annual_return),
        (m.annual_volatility, ep.annual_volatility),
        (m.calmar_ratio, ep.calmar_ratio),
    ],
)
def test_matches_empyrical_per_column_on_observed_bars(
    panel_with_gaps: pd.DataFrame, ours, theirs
) -> None:
    got = ours(panel_with_gaps)
    assert isinstance(got, pd.Series)
    for col in panel_with_gaps:
        observed = panel_with_gaps[col].dropna()
        assert got[col] == pytest.approx(theirs(observed), rel=1e-10), col


def test_matches_empyrical_with_other_annualisation(panel_with_gaps: pd.DataFrame) -> None:
    col = panel_with_gaps["c0"]
    assert m.sharpe_ratio(col, 365) == pytest.approx(ep.sharpe_ratio(col, annualization=365))
    assert m.annual_return(col, 52) == pytest.approx(ep.annual_return(col, annualization=52))


def test_moments_match_scipy(panel_with_gaps: pd.DataFrame) -> None:
    skew, kurt = m.skewness(panel_with_gaps), m.kurtosis(panel_with_gaps)
    for col in panel_with_gaps:
        observed = panel_with_gaps[col].dropna().to_numpy()
        assert skew[col] == pytest.approx(ss.skew(observed), rel=1e-9)
        assert kurt[col] == pytest.approx(ss.kurtosis(observed, fisher=False), rel=1e-9)


def _reference_durations(returns: list[float]) -> tuple[float, float]:
    """Straightforward loop: (recovery time of the max drawdown, bars under water)."""
    wealth, peak = 1.0, 1.0
    worst, trough_at, peak_before = 0.0, -1, 1.0
    recovered_at: int | None = None
    last_peak = -1
    for t, r in enumerate(returns):
        wealth *= 1.0 + (0.0 if math.isnan(r) else r)
        if wealth >= peak:
            peak = wealth
            last_peak = t
        dd = wealth / peak - 1.0
        if dd < worst:
            worst, trough_at, peak_before, recovered_at = dd, t, peak, None
        elif recovered_at is None and trough_at >= 0 and wealth >= peak_before:
            recovered_at = t
    if trough_at < 0:
        recovery = 0.0
    elif recovered_at is None:
        recovery = float("nan")
    else:
        recovery = float(recovered_at - trough_at)
    return recovery, float(len(returns) - 1 - last_peak)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.integers(1, 60),
        elements=st.floats(-0.3, 0.3, allow_nan=False).map(lambda x: round(x, 2)),
    )
)
def test_durations_match_reference_loop(values: np.ndarray) -> None:
    expected_recovery, expected_tuw = _reference_durations(values.tolist())
    got_recovery = m.recovery_time(values)
    if math.isnan(expected_recovery):
        assert math.isnan(got_recovery)
    else:
        assert got_recovery == expected_recovery
    assert m.time_under_water(values) == expected_tuw


def test_win_rate_and_profit_factor_match_pandas(panel_with_gaps: pd.DataFrame) -> None:
    wr, pf = m.win_rate(panel_with_gaps), m.profit_factor(panel_with_gaps)
    for col in panel_with_gaps:
        s = panel_with_gaps[col].dropna()
        assert wr[col] == pytest.approx((s > 0).sum() / (s != 0).sum())
        assert pf[col] == pytest.approx(s[s > 0].sum() / -s[s < 0].sum())


# ---- windows -----------------------------------------------------------------------------


def test_rolling_sharpe_matches_pandas_rolling(panel_with_gaps: pd.DataFrame) -> None:
    window = 30
    got = m.rolling_sharpe(panel_with_gaps, window)
    roll = panel_with_gaps.rolling(window, min_periods=window)
    expected = (roll.mean() / roll.std() * math.sqrt(252)).to_numpy()
    assert got.shape == panel_with_gaps.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_rolling_sharpe_min_periods_and_1d() -> None:
    r = pd.Series([0.01, np.nan, -0.02, 0.03, 0.01, 0.02])
    got = m.rolling_sharpe(r, 4, periods_per_year=1, min_periods=3)
    roll = r.rolling(4, min_periods=3)
    np.testing.assert_allclose(got, (roll.mean() / roll.std()).to_numpy(), equal_nan=True)


def test_trailing_sharpe_uses_last_rows_and_needs_full_coverage(
    panel_with_gaps: pd.DataFrame,
) -> None:
    got = m.trailing_sharpe(panel_with_gaps, 60)
    for col in panel_with_gaps:
        tail = panel_with_gaps[col].iloc[-60:].dropna()
        started = panel_with_gaps[col].first_valid_index() <= len(panel_with_gaps) - 60
        if started and len(tail) >= 30:
            assert got[col] == pytest.approx(ep.sharpe_ratio(tail)), col
        else:
            assert math.isnan(got[col]), col
    assert math.isnan(got["c4"])  # started 10 bars ago
    assert math.isnan(got["c5"])  # stopped 50 bars ago: 10 of 60 bars observed
    assert np.isfinite(got[["c0", "c1", "c2", "c3", "c6"]]).all()


def test_trailing_sharpe_longer_than_history_is_nan() -> None:
    assert math.isnan(m.trailing_sharpe(np.full(10, 0.01), 30))


# ---- column-wise properties ----------------------------------------------------------------

returns_matrices = arrays(
    np.float64,
    st.tuples(st.integers(2, 40), st.integers(1, 5)),
    elements=st.one_of(
        st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False), st.just(np.nan)
    ),
)

ALL_METRICS = [
    m.sharpe_ratio,
    m.sortino_ratio,
    m.max_drawdown,
    m.annual_return,
    m.annual_volatility,
    m.calmar_ratio,
    m.win_rate,
    m.profit_factor,
    m.recovery_time,
    m.time_under_water,
    m.skewness,
    m.kurtosis,
]


@settings(max_examples=40, deadline=None)
@given(returns_matrices)
def test_matrix_result_equals_per_column_results(matrix: np.ndarray) -> None:
    for fn in ALL_METRICS:
        together = fn(matrix)
        assert isinstance(together, np.ndarray) and together.shape == (matrix.shape[1],)
        one_by_one = np.array([fn(matrix[:, j]) for j in range(matrix.shape[1])])
        np.testing.assert_array_equal(together, one_by_one, err_msg=fn.__name__)


@settings(max_examples=40, deadline=None)
@given(returns_matrices, st.integers(1, 10))
def test_leading_nan_does_not_change_return_metrics(matrix: np.ndarray, pad: int) -> None:
    padded = np.vstack([np.full((pad, matrix.shape[1]), np.nan), matrix])
    for fn in (
        m.sharpe_ratio,
        m.sortino_ratio,
        m.max_drawdown,
        m.annual_return,
        m.win_rate,
        m.profit_factor,
        m.recovery_time,
    ):
        np.testing.assert_allclose(fn(padded), fn(matrix), rtol=1e-12, err_msg=fn.__name__)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.integers(3, 40), elements=st.floats(-0.1, 0.1, allow_nan=False)),
    st.floats(0.1, 10.0),
)
def test_sharpe_is_scale_invariant(values: np.ndarray, scale: float) -> None:
    base, scaled = m.sharpe_ratio(values), m.sharpe_ratio(values * scale)
    if math.isnan(base):
        return
    assert scaled == pytest.approx(base, rel=1e-6, abs=1e-9)
