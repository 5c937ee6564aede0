"""Every bad-input rule: the error names the file, the row and the rule, and the database
is left exactly as it was (one transaction per import)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from factory.data.errors import DataValidationError
from factory.data.importer import import_path
from factory.storage.database import Database, table

AT = datetime(2026, 1, 1)
HEADER = "timestamp,asset,open,high,low,close,volume"
GOOD = [
    "2020-01-02,AAA,10,11,9,10.5,1000",
    "2020-01-03,AAA,10.5,11.5,10,11,1200",
    "2020-01-02,BBB,20,21,19,20.5,500",
]


def counts(db: Database) -> dict[str, int]:
    with db.begin() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in ("bars", "aux_values", "imports")
        }


def write(tmp_path: Path, lines: list[str], name: str = "bars.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


@pytest.fixture
def seeded(db: Database, tmp_path: Path) -> Database:
    """A database already holding good bars, so 'nothing written' is a real check."""
    import_path(db, write(tmp_path, GOOD, "seed.csv"), at=AT)
    return db


CASES = [
    # (id, header, lines, rule, row)
    (
        "missing column",
        "timestamp,asset,open,high,low,close",
        ["2020-01-06,AAA,10,11,9,10"],
        "missing column",
        None,
    ),
    (
        "unknown column",
        HEADER + ",colour",
        ["2020-01-06,AAA,10,11,9,10,5,red"],
        "unknown column",
        None,
    ),
    (
        "non-numeric",
        HEADER,
        ["2020-01-06,AAA,10,11,9,10,5", "2020-01-07,AAA,10,eleven,9,10,5"],
        "non-numeric value",
        2,
    ),
    (
        "nan price",
        HEADER,
        ["2020-01-06,AAA,10,11,9,10,5", "2020-01-07,AAA,10,11,9,NaN,5"],
        "NaN or inf price",
        2,
    ),
    ("inf price", HEADER, ["2020-01-06,AAA,10,inf,9,10,5"], "NaN or inf price", 1),
    (
        "non-positive",
        HEADER,
        ["2020-01-06,AAA,10,11,9,10,5", "2020-01-07,AAA,0,11,0,10,5"],
        "non-positive price",
        2,
    ),
    ("high below low", HEADER, ["2020-01-06,AAA,10,9,11,10,5"], "high < low", 1),
    ("close above high", HEADER, ["2020-01-06,AAA,10,11,9,12,5"], "close outside [low, high]", 1),
    ("close below low", HEADER, ["2020-01-06,AAA,10,11,9,8,5"], "close outside [low, high]", 1),
    ("negative volume", HEADER, ["2020-01-06,AAA,10,11,9,10,-5"], "negative volume", 1),
    (
        "duplicate key",
        HEADER,
        [
            "2020-01-06,AAA,10,11,9,10,5",
            "2020-01-07,AAA,10,11,9,10,5",
            "2020-01-06,AAA,10,11,9,10,6",
        ],
        "duplicate (timestamp, asset)",
        3,
    ),
    (
        "bad timestamp",
        HEADER,
        ["2020-01-06,AAA,10,11,9,10,5", "06/13/2020 noon,AAA,10,11,9,10,5"],
        "unparseable timestamp",
        2,
    ),
    (
        "mixed timezone",
        HEADER,
        [
            "2020-01-06T21:00:00Z,AAA,10,11,9,10,5",
            "2020-01-07T21:00:00+00:00,AAA,10,11,9,10,5",
            "2020-01-08 21:00:00,AAA,10,11,9,10,5",
        ],
        "mixed-timezone timestamps",
        3,
    ),
    ("empty file", HEADER, [], "empty file", None),
]


@pytest.mark.parametrize(
    ("header", "lines", "rule", "row"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_file_is_rejected_with_file_row_rule_and_nothing_written(
    seeded: Database, tmp_path: Path, header: str, lines: list[str], rule: str, row: int | None
) -> None:
    path = write(tmp_path, lines, header=header)
    before = counts(seeded)
    with pytest.raises(DataValidationError) as info:
        import_path(seeded, path, at=AT)
    err = info.value
    assert err.rule == rule
    assert err.row == row
    text = str(err)
    assert str(path) in text and rule in text
    if row is not None:
        assert f"row {row} (line {row + 1})" in text
    assert counts(seeded) == before


def test_zero_byte_file(seeded: Database, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    before = counts(seeded)
    with pytest.raises(DataValidationError, match="empty file"):
        import_path(seeded, path, at=AT)
    assert counts(seeded) == before


def test_directory_is_all_or_nothing(seeded: Database, tmp_path: Path) -> None:
    """One bad file in a directory: the good files are not written either."""
    folder = tmp_path / "per_asset"
    folder.mkdir()
    per_asset_header = "timestamp,open,high,low,close,volume"
    write(
        folder,
        ["2021-01-04,10,11,9,10,5", "2021-01-05,10,11,9,10.5,6"],
        "GOOD1.csv",
        per_asset_header,
    )
    bad = write(
        folder,
        ["2021-01-04,10,11,9,10,5", "2021-01-05,10,11,9,10.5,-1"],
        "BAD1.csv",
        per_asset_header,
    )
    before = counts(seeded)
    with pytest.raises(DataValidationError) as info:
        import_path(seeded, folder, at=AT)
    assert info.value.file == str(bad) and info.value.row == 2
    assert counts(seeded) == before


def test_conflict_with_stored_bar_is_rejected(seeded: Database, tmp_path: Path) -> None:
    """A stored bar is never silently rewritten (point-in-time history)."""
    path = write(
        tmp_path,
        ["2020-01-06,AAA,10,11,9,10,5", "2020-01-03,AAA,10.5,11.5,10,11.2,1200"],
        "revised.csv",
    )
    before = counts(seeded)
    with pytest.raises(DataValidationError) as info:
        import_path(seeded, path, at=AT)
    assert info.value.rule == "conflicts with stored bar" and info.value.row == 2
    assert "11.2" in str(info.value)
    assert counts(seeded) == before


def test_reimport_is_a_noop_and_new_bars_append(seeded: Database, tmp_path: Path) -> None:
    before = counts(seeded)
    again = import_path(seeded, write(tmp_path, GOOD, "again.csv"), at=AT)
    assert again.rows_added == 0
    assert counts(seeded)["bars"] == before["bars"]
    more = import_path(
        seeded, write(tmp_path, [*GOOD, "2020-01-06,AAA,11,12,10,11.5,900"], "more.csv"), at=AT
    )
    assert more.rows_added == 1
    assert counts(seeded)["bars"] == before["bars"] + 1


def test_timezone_aware_timestamps_are_converted_to_utc(db: Database, tmp_path: Path) -> None:
    from factory.storage.bars import load_market_data

    path = write(
        tmp_path,
        [
            "2020-01-06T16:00:00-05:00,AAA,10,11,9,10,5",
            "2020-01-07T16:00:00-05:00,AAA,10,11,9,10,5",
        ],
    )
    import_path(db, path, at=AT)
    ts = load_market_data(db).timestamps
    assert list(ts) == [pd.Timestamp("2020-01-06 21:00"), pd.Timestamp("2020-01-07 21:00")]


def test_parquet_and_per_asset_directory(db: Database, tmp_path: Path) -> None:
    from factory.storage.bars import load_market_data

    folder = tmp_path / "pq"
    folder.mkdir()
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2020-01-02", "2020-01-03"]),
            "Open": [1.0, 1.1],
            "High": [1.2, 1.2],
            "Low": [0.9, 1.0],
            "Close": [1.1, 1.15],
            "Volume": [10, 12],
            "Adj Close": [1.1, 1.15],
        }
    )
    frame.to_parquet(folder / "XYZ.parquet")
    bad = frame.assign(Low=[1.3, 1.0])
    res = import_path(db, folder, at=AT)
    assert res.assets == ("XYZ",) and res.rows_added == 2
    bad.to_parquet(folder / "QQQ.parquet")
    with pytest.raises(DataValidationError) as info:
        import_path(db, folder, at=AT)
    assert (
        info.value.rule == "high < low" and info.value.row == 1 and "QQQ.parquet" in info.value.file
    )
    assert set(load_market_data(db).assets) == {"XYZ"}


def test_sentiment_rules(db: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path, ["2020-01-02,AAA,0.5", "2020-01-03,AAA,nope"], "s.csv", "timestamp,asset,score"
    )
    with pytest.raises(DataValidationError) as info:
        import_path(db, path, kind="sentiment", at=AT)
    assert info.value.rule == "non-numeric value" and info.value.row == 2
    assert counts(db)["aux_values"] == 0
