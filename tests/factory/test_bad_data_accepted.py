"""Issue 7, case 4: bad data that could never be corrected once stored (bars are never
rewritten) is refused at import, naming file, row and rule, with nothing written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from factory.data.errors import DataValidationError
from factory.data.importer import import_path
from factory.storage.bars import data_summary
from factory.storage.database import Database

AT = datetime(2024, 6, 1, 12, 0)
GOOD = "2024-01-02,AAA,10,12,9,11,100"


@pytest.mark.parametrize(
    ("extra", "good", "bad", "rule"),
    [
        (",bid,ask", ",10.9,11.1", ",-5,11", "negative bid"),
        (",bid,ask", ",10.9,11.1", ",10,inf", "infinite ask"),
        (",bid,ask", ",10.9,11.1", ",11.5,10.5", "bid > ask"),
        (",vwap", ",10.5", ",12.5", "vwap outside [low, high]"),
        (",trades", ",3", ",10.5", "fractional trades"),
        (",trades", ",3", ",-1", "negative trades"),
    ],
)
def test_optional_columns_are_validated(
    db: Database, tmp_path: Path, extra: str, good: str, bad: str, rule: str
) -> None:
    path = tmp_path / "opt.csv"
    path.write_text(
        f"timestamp,asset,open,high,low,close,volume{extra}\n"
        f"{GOOD}{good}\n2024-01-03,AAA,10,12,9,11,100{bad}\n"
    )
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT)
    assert rule in str(err.value) and "opt.csv" in str(err.value) and "row 2" in str(err.value)
    assert data_summary(db)[0].empty


def test_non_finite_on_chain_values_are_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "chain.csv"
    path.write_text("timestamp,asset,active_addresses\n2024-01-02,AAA,5\n2024-01-03,AAA,-inf\n")
    with pytest.raises(DataValidationError, match="infinite value"):
        import_path(db, path, kind="onchain", at=AT)
    assert data_summary(db)[1].empty


def test_bars_after_the_import_time_are_refused(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_text(
        "timestamp,asset,open,high,low,close,volume\n" + GOOD + "\n2099-12-31,AAA,10,12,9,11,100\n"
    )
    with pytest.raises(DataValidationError, match="bar in the future") as err:
        import_path(db, path, at=AT)
    assert "row 2" in str(err.value)
    assert data_summary(db)[0].empty
    # Within the tolerance (a bar stamped at the end of today's session) is fine.
    path.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + GOOD
        + "\n2024-06-01T21:00:00,AAA,10,12,9,11,100\n"
    )
    assert import_path(db, path, at=AT).rows_added == 2
