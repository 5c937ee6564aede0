"""Issue 7, cases 1 and 2: timestamps finer than the database keeps are refused, and the
conflict check and the insert are one atomic step, so a concurrent import of the same
keys with other values fails instead of being silently dropped."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, insert, select

from factory.data.errors import DataValidationError
from factory.data.importer import import_frame, import_path
from factory.storage.bars import load_market_data
from factory.storage.database import Database, table

AT = datetime(2024, 6, 1)


def _bars(stamps: list[str], close: float = 10.0) -> pd.DataFrame:
    n = len(stamps)
    return pd.DataFrame(
        {"timestamp": stamps, "asset": ["AAA"] * n, "open": [10.0] * n, "high": [12.0] * n}
        | {"low": [9.0] * n, "close": [close] * n, "volume": [1.0] * n}
    )


def _count(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table("bars"))).scalar_one())


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-02T00:00:00", "2024-01-03T00:00:00.0000001"],  # a revision 100 ns later
        ["2024-01-03T00:00:00.0000001", "2024-01-03T00:00:00.0000002"],  # two rows, 100 ns
    ],
)
def test_sub_microsecond_timestamps_are_refused(
    db: Database, tmp_path: Path, stamps: list[str]
) -> None:
    import_frame(db, _bars(["2024-01-02", "2024-01-03"]), kind="bars", source="base", at=AT)
    path = tmp_path / "ns.csv"
    _bars(stamps, close=11.0).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT)
    assert "sub-microsecond timestamp" in str(err.value) and "ns.csv" in str(err.value)
    assert "row " in str(err.value)
    assert _count(db) == 2


def test_nanosecond_parquet_is_refused_every_time(db: Database, tmp_path: Path) -> None:
    frame = _bars(["2024-01-02", "2024-01-03"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]) + pd.Timedelta(nanoseconds=7)
    path = tmp_path / "ns.parquet"
    frame.to_parquet(path)
    for _ in range(2):
        with pytest.raises(DataValidationError, match="sub-microsecond"):
            import_path(db, path, at=AT)
    assert _count(db) == 0


def test_a_concurrent_import_of_the_same_keys_with_other_values_fails(db_url: str) -> None:
    db = Database(db_url)
    import_frame(db, _bars(["2024-01-02"]), kind="bars", source="base", at=AT)
    other = create_engine(db_url, connect_args={"timeout": 60} if "sqlite" in db_url else {})
    mine = _bars(["2024-01-03", "2024-01-04"], close=11.0)
    outcome: list[object] = []

    def importer() -> None:
        try:
            outcome.append(import_frame(db, mine, kind="bars", source="mine.csv", at=AT))
        except Exception as exc:  # reported below
            outcome.append(exc)

    # Another import holds the 2024-01-04 bar with close 99, not yet committed.
    with other.begin() as conn:
        conn.execute(
            insert(table("bars")).values(
                asset="AAA",
                ts=datetime(2024, 1, 4),
                open=10.0,
                high=100.0,
                low=9.0,
                close=99.0,
                volume=1.0,
            )
        )
        t = threading.Thread(target=importer)
        t.start()
        time.sleep(1.5)  # the importer has checked, and waits on the other's lock
    t.join(timeout=120)
    other.dispose()
    (result,) = outcome
    assert isinstance(result, Exception), f"the second import passed silently: {result}"
    assert "conflicts with stored bar" in str(result) or "locked" in str(result), result
    closes = load_market_data(db).bars["close"].xs("AAA", level="asset").to_dict()
    assert closes == {pd.Timestamp("2024-01-02"): 10.0, pd.Timestamp("2024-01-04"): 99.0}
    db.dispose()
