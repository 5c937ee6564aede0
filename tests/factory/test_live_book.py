"""The live book's own track record against a real database: hand-computed after-cost
returns through consecutive rebalances, final rows, forced re-runs re-booked once, and the
previous rebalance staying published when a rebalance cannot complete."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from factory.app import App
from factory.data.importer import import_frame
from factory.portfolio.live import book_rebalance, book_summary
from factory.storage.live_book import load_book_returns
from tests.factory.helpers import make_test_app

DAYS = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
CLOSES = {"A": [100.0, 110.0, 99.0, 99.0], "B": [50.0, 45.0, 45.0, 49.5]}


def _app(workdir: Path, db_url: str) -> App:
    a = make_test_app(
        workdir, db_url, **{"evaluation.execution": "close", "evaluation.cost_bps": 10.0}
    )
    rows = [
        {
            "timestamp": ts,
            "asset": asset,
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": 1000.0,
        }
        for asset, closes in CLOSES.items()
        for ts, c in zip(DAYS, closes, strict=True)
    ]
    import_frame(a.db, pd.DataFrame(rows), kind="bars", source="hand", at=a.now())
    return a


def _day(i: int) -> datetime:
    return DAYS[i].to_pydatetime()


def test_book_returns_match_a_hand_computed_ledger(workdir: Path, db_url: str) -> None:
    a = _app(workdir, db_url)
    half = pd.Series({"A": 0.5, "B": -0.5})
    book_rebalance(a, _day(0), half, rebalance_id=1)
    book_rebalance(a, _day(1), half, rebalance_id=2)
    # No rebalance on day 2; day 3 goes all in A.
    book_rebalance(a, _day(3), pd.Series({"A": 1.0}), rebalance_id=3)
    got = load_book_returns(a.db).set_index("bar_ts")
    assert list(got.index) == list(DAYS)
    assert got["rebalance_id"].tolist()[:2] == [1, 2] and got["rebalance_id"].iloc[3] == 3
    assert pd.isna(got["rebalance_id"].iloc[2])
    bps = 10 / 1e4
    # Day 0: trade into +-0.5 at the close (execution "close"): only costs.
    assert got["turnover"].iloc[0] == pytest.approx(1.0)
    assert got["net"].iloc[0] == pytest.approx(-bps)
    # Day 1: A +10%, B -10%: gross 0.1; weights drift to 0.5, -0.45/1.1; back to +-0.5.
    assert got["gross"].iloc[1] == pytest.approx(0.1)
    assert got["turnover"].iloc[1] == pytest.approx(0.5 - 0.45 / 1.1)
    assert got["net"].iloc[1] == pytest.approx(0.1 - bps * (0.5 - 0.45 / 1.1))
    # Day 2: A -10%, B flat: gross -0.05, nothing traded.
    assert got["gross"].iloc[2] == pytest.approx(-0.05) and got["turnover"].iloc[2] == 0.0
    # Day 3: B +10% on the drifted short -0.5/0.95; then into A only.
    b_held = -0.5 / 0.95
    gross3 = b_held * 0.1
    a_drift = (0.45 / 0.95) / (1 + gross3)
    b_drift = b_held * 1.1 / (1 + gross3)
    assert got["gross"].iloc[3] == pytest.approx(gross3)
    assert got["turnover"].iloc[3] == pytest.approx((1.0 - a_drift) + abs(b_drift))
    summary = book_summary(a)
    assert summary is not None and summary.bars == 4
    assert summary.total_return == pytest.approx((1 + got["net"]).prod() - 1)
    a.close()


def test_booked_bars_are_final_and_a_forced_rerun_rebooks_once(workdir: Path, db_url: str) -> None:
    a = _app(workdir, db_url)
    half = pd.Series({"A": 0.5, "B": -0.5})
    book_rebalance(a, _day(0), half, rebalance_id=1)
    book_rebalance(a, _day(1), half, rebalance_id=2)
    first = load_book_returns(a.db)
    # A forced re-run of day 1 with other weights re-books day 1 from the state before it.
    book_rebalance(a, _day(1), pd.Series({"A": 1.0}), rebalance_id=5)
    again = load_book_returns(a.db)
    assert len(again) == 2 and again["rebalance_id"].tolist() == [1, 5]
    assert again["gross"].tolist() == pytest.approx(first["gross"].tolist())
    assert again["turnover"].iloc[1] != pytest.approx(first["turnover"].iloc[1])
    # A rebalance of an older bar than the last booked one changes nothing.
    assert book_rebalance(a, _day(0), pd.Series({"B": 1.0}), rebalance_id=9).bars == 0
    assert load_book_returns(a.db).equals(again)
    a.close()


def test_bars_in_cash_are_part_of_the_record(workdir: Path, db_url: str) -> None:
    # An empty live set holds cash: its bars count (at 0), so the record measures time.
    a = _app(workdir, db_url)
    book_rebalance(a, _day(0), pd.Series(dtype=float), rebalance_id=1)
    book_rebalance(a, _day(2), pd.Series(dtype=float), rebalance_id=2)
    got = load_book_returns(a.db)
    assert list(got["bar_ts"]) == list(DAYS[:3])
    assert (got[["gross", "turnover", "cost", "net"]] == 0.0).all().all()
    # Then a position: the cash bars stay as they were and the new bar trades.
    book_rebalance(a, _day(3), pd.Series({"A": 1.0}), rebalance_id=3)
    after = load_book_returns(a.db)
    assert after.iloc[:3].equals(got) and after["turnover"].iloc[3] == pytest.approx(1.0)
    a.close()
