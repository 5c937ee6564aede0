"""The book: sizing, costs and the ledger, against hand-computed examples — gaps in an
asset's calendar, halts, mismatched calendars, every execution mode and every book."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory.book import BookSpec, CostModel, LedgerState, step, target_weights

NAN = np.nan


def run(
    closes: list[list[float]],
    targets: list[list[float] | None],
    *,
    execution: str = "close",
    bps: float = 10.0,
    opens: list[list[float]] | None = None,
    max_gap: int = 21,
) -> list[tuple[float, float, float]]:
    """(gross, turnover, cost) per bar of a book fed ``targets``."""
    assets = tuple(f"A{i}" for i in range(len(closes[0])))
    state = LedgerState.empty(assets)
    rows = []
    for t, close in enumerate(closes):
        c = np.array(close, dtype=float)
        row, state = step(
            state,
            close=c,
            open_=None if opens is None else np.array(opens[t], dtype=float),
            cost=np.full(len(assets), bps / 1e4),
            target=None if targets[t] is None else np.array(targets[t], dtype=float),
            execution=execution,  # type: ignore[arg-type]
            max_gap=max_gap,
        )
        rows.append((row.gross, row.turnover, row.cost))
    return rows


def test_close_execution_by_hand() -> None:
    rows = run([[100, 50], [110, 50], [99, 55]], [[0.5, -0.5], [1.0, 0.0], [0.0, 0.0]])
    # bar 0: enter; no P&L yet, turnover 1
    assert rows[0] == pytest.approx((0.0, 1.0, 0.001))
    # bar 1: +10% on 0.5 long -> gross 0.05; drifted weights [0.55, -0.5] / 1.05
    drifted = np.array([0.55, -0.5]) / 1.05
    assert rows[1][0] == pytest.approx(0.05)
    assert rows[1][1] == pytest.approx(abs(1.0 - drifted[0]) + abs(0.0 - drifted[1]))
    # bar 2: 1.0 long A from 110 to 99 = -10%
    assert rows[2][0] == pytest.approx(-0.1)
    assert rows[2][1] == pytest.approx(0.9 / 0.9)  # drifted weight 1.0 -> 0


def test_a_loss_across_a_missing_bar_is_booked() -> None:
    """The issue's example: an asset falls 30% across one missing bar."""
    book = BookSpec("timeseries")
    closes = [[100.0, 50.0], [NAN, 50.0], [70.0, 50.0]]
    state = LedgerState.empty(("A", "B"))
    grosses, turnovers = [], []
    for close in closes:
        c = np.array(close)
        frozen = ~np.isfinite(c)
        signal = np.where(frozen, NAN, 1.0)
        target = target_weights(signal, held=state.held, frozen=frozen, book=book)
        row, state = step(state, close=c, cost=np.zeros(2), target=target, execution="close")
        grosses.append(row.gross)
        turnovers.append(row.turnover)
    assert turnovers[0] == pytest.approx(1.0)  # 0.5 + 0.5 in
    assert grosses[1] == 0.0 and turnovers[1] == 0.0  # held through the gap, not re-sized
    assert grosses[2] == pytest.approx(0.5 * (70 / 100 - 1))  # the whole move, once


def test_other_weights_do_not_double_during_a_gap() -> None:
    frozen = np.array([True, False, False])
    w = target_weights(np.array([NAN, 1.0, -1.0]), held=np.array([1 / 3, 0.0, 0.0]), frozen=frozen)
    assert w.tolist() == pytest.approx([1 / 3, 1 / 3, -1 / 3])


def test_halt_longer_than_max_gap_is_closed_at_the_last_price() -> None:
    closes = [[100.0, 10.0]] + [[NAN, 10.0]] * 4
    targets: list[list[float] | None] = [[0.5, 0.0]] + [[0.5, 0.0]] * 4
    rows = run(closes, targets, max_gap=2)
    assert [r[1] for r in rows] == pytest.approx([0.5, 0.0, 0.0, 0.5, 0.0])
    assert all(r[0] == 0.0 for r in rows)


def test_mismatched_calendars() -> None:
    """Crypto trades every day, the equity on weekdays only. Thu..Mon, both targeted at
    half each whenever they can trade (time-series book, signal 1): the equity's
    Friday -> Monday move is booked on Monday at the weight it drifted to, and it is
    never traded at the weekend."""
    equity = [100.0, 101.0, NAN, NAN, 99.0]
    crypto = [10.0, 11.0, 12.0, 9.0, 9.9]
    state = LedgerState.empty(("E", "C"))
    rows = []
    for e, c in zip(equity, crypto, strict=True):
        close = np.array([e, c])
        frozen = ~np.isfinite(close)
        target = target_weights(np.where(frozen, NAN, 1.0), held=state.held, frozen=frozen)
        row, state = step(state, close=close, cost=np.zeros(2), target=target, execution="close")
        rows.append(row)
    # Fri: both held at 0.5
    assert rows[1].gross == pytest.approx(0.5 * 0.01 + 0.5 * 0.1)
    # Sat: only crypto moves; the equity is frozen at its drifted weight
    sat = 0.5 * (12 / 11 - 1)
    assert rows[2].gross == pytest.approx(sat)
    eq_sat = 0.5 / (1 + sat)  # the equity's weight after Saturday's drift
    crypto_sat = 0.5 * (12 / 11) / (1 + sat)
    assert rows[2].turnover == pytest.approx(abs(0.5 - crypto_sat))  # crypto only
    # Sun: crypto -25%, re-targeted to 0.5; the equity drifts again
    sun = 0.5 * (9 / 12 - 1)
    assert rows[3].gross == pytest.approx(sun)
    eq_sun = eq_sat / (1 + sun)
    # Mon: the equity's whole Fri -> Mon move (-1.98%) at its drifted weight
    assert rows[4].gross == pytest.approx(eq_sun * (99 / 101 - 1) + 0.5 * (9.9 / 9 - 1))
    assert state.gap.tolist() == [0, 0]


def test_next_close_delays_everything_by_one_bar() -> None:
    closes = [[100.0], [110.0], [121.0], [121.0]]
    rows = run(closes, [[1.0], [1.0], [1.0], [0.0]], execution="next_close", bps=10)
    # bar 0 decides; bar 1 executes at its close (turnover 1), earns nothing yet
    assert rows[0] == pytest.approx((0.0, 0.0, 0.0))
    assert rows[1] == pytest.approx((0.0, 1.0, 0.001))
    assert rows[2][0] == pytest.approx(0.1)  # 110 -> 121
    assert rows[3][0] == pytest.approx(0.0) and rows[3][1] == pytest.approx(0.0)
    close_mode = run(closes, [[1.0], [1.0], [1.0], [0.0]], execution="close", bps=10)
    assert close_mode[1][0] == pytest.approx(0.1)  # the optimistic convention earns bar 1


def test_next_open_books_overnight_then_intraday() -> None:
    closes = [[100.0], [110.0], [99.0]]
    opens = [[100.0], [105.0], [100.0]]
    rows = run(closes, [[1.0], [0.0], [0.0]], execution="next_open", opens=opens, bps=0)
    assert rows[0] == pytest.approx((0.0, 0.0, 0.0))
    # bar 1: nothing held overnight; buys at the open 105, earns 105 -> 110 intraday
    assert rows[1][0] == pytest.approx(110 / 105 - 1)
    assert rows[1][1] == pytest.approx(1.0)
    # bar 2: held overnight 110 -> 100, sold at that open; nothing intraday
    assert rows[2][0] == pytest.approx(100 / 110 - 1)


def test_cross_sectional_book_is_dollar_neutral() -> None:
    w = target_weights(np.array([0.9, -0.2, 0.1, NAN]), book=BookSpec("cross_sectional"))
    assert w[3] == 0.0
    assert w.sum() == pytest.approx(0.0) and np.abs(w).sum() == pytest.approx(1.0)
    assert w[0] > w[2] > w[1]
    q = target_weights(
        np.array([0.5, 0.4, -0.3, -0.6, 0.0]),
        book=BookSpec("cross_sectional", cs_method="quantile", cs_quantile=0.2),
    )
    assert q.tolist() == pytest.approx([0.5, 0.0, 0.0, -0.5, 0.0])


def test_long_only_book_tilts_and_stays_invested() -> None:
    w = target_weights(
        np.array([1.0, 0.0, -1.0, NAN]), book=BookSpec("long_only", tilt=0.5, max_weight=0.5)
    )
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert w[0] > w[1] > w[2] and w[1] == pytest.approx(w[3])


@settings(max_examples=60, deadline=None)
@given(
    signals=st.lists(st.one_of(st.just(float("nan")), st.floats(-1, 1)), min_size=1, max_size=12),
    kind=st.sampled_from(["timeseries", "cross_sectional", "long_only"]),
    cap=st.floats(0.05, 1.0),
)
def test_books_respect_their_limits(signals: list[float], kind: str, cap: float) -> None:
    book = BookSpec(kind, max_weight=cap)  # type: ignore[arg-type]
    w = target_weights(np.array(signals), book=book)
    assert np.isfinite(w).all()
    assert np.abs(w).sum() <= 1.0 + 1e-9
    if kind == "long_only":
        assert (w >= -1e-12).all() and w.sum() == pytest.approx(1.0)
        if cap * len(signals) >= 1.0:
            assert w.max() <= cap + 1e-9
    else:
        assert np.abs(w).max() <= cap + 1e-9
    if kind == "cross_sectional":
        assert abs(w.sum()) <= 1e-9


def test_cost_schedule_by_asset_pattern_and_volatility() -> None:
    model = CostModel(bps=5.0, by_asset=(("BTC*", 20.0),), slippage_vol=0.5, vol_window=3)
    assert model.asset_bps(["BTC-USD", "AAPL"]).tolist() == [20.0, 5.0]
    close = np.array([[100.0, 10.0], [101.0, NAN], [99.0, 10.5], [100.0, 10.0], [102, 10.2]])
    rates = model.rates(["BTC-USD", "AAPL"], close)
    assert rates[0].tolist() == pytest.approx([20e-4, 5e-4])  # no volatility yet
    r = np.array([101 / 100 - 1, 99 / 101 - 1, 100 / 99 - 1])
    assert rates[3, 0] == pytest.approx(20e-4 + 0.5 * np.std(r, ddof=1))
    assert rates[1, 1] == pytest.approx(5e-4)  # carried over the missing bar


def test_state_round_trips_through_json() -> None:
    _, state = step(
        LedgerState.empty(("A", "B")),
        close=np.array([1.0, NAN]),
        cost=np.zeros(2),
        target=np.array([0.5, 0.0]),
        execution="next_close",
    )
    back = LedgerState.from_json(state.to_json())
    for name in ("held", "pending", "mark", "gap"):
        assert np.array_equal(getattr(back, name), getattr(state, name), equal_nan=True)
    grown = back.reindex(("A", "B", "C"))
    assert grown.held.tolist() == [0.0, 0.0, 0.0] and np.isnan(grown.mark[2])
