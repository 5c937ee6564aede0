"""Issue 7, case 7: files are imported in chunks (bounded memory) and the rules that span
chunks still hold; a bad row in a late chunk leaves the database unchanged and the error
names the file's own row. Chunks of 3-4 rows stand in for the 100,000 of a real import."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory.data.errors import DataValidationError
from factory.data.importer import import_path
from factory.storage.bars import load_market_data
from factory.storage.database import Database
from tests.factory.db_dump import dump_rows

AT = datetime(2024, 6, 1)


def _bars(n: int, assets: tuple[str, ...] = ("AAA", "BBB"), close: float = 10.0) -> pd.DataFrame:
    """n bars per asset, sorted by timestamp then asset (the usual long form)."""
    stamps = pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    rows = [
        {"timestamp": t, "asset": a, "open": close, "high": close + 1, "low": close - 1}
        | {"close": close, "volume": 100.0 + i}
        for i, t in enumerate(stamps)
        for a in assets
    ]
    return pd.DataFrame(rows)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_import_stores_what_a_whole_file_import_stores(
    db: Database, tmp_path: Path, suffix: str
) -> None:
    frame = _bars(10)
    path = _write(frame.sample(frac=1.0, random_state=1), tmp_path / f"bars{suffix}")
    res = import_path(db, path, at=AT, chunk_rows=3)
    assert (res.rows_in, res.rows_added) == (20, 20)
    stored = load_market_data(db).bars.reset_index()
    expected = frame.assign(timestamp=pd.to_datetime(frame["timestamp"]))
    pd.testing.assert_frame_equal(
        stored.sort_values(["timestamp", "asset"], ignore_index=True)[list(expected.columns)],
        expected.sort_values(["timestamp", "asset"], ignore_index=True),
        check_dtype=False,
    )
    again = import_path(db, path, at=AT, chunk_rows=4)
    assert (again.rows_in, again.rows_added) == (20, 0)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bad_row_in_the_last_chunk_rolls_everything_back(
    db: Database, tmp_path: Path, suffix: str
) -> None:
    import_path(db, _write(_bars(2), tmp_path / f"seed{suffix}"), at=AT)
    before = dump_rows(db)
    frame = _bars(10)
    frame.loc[18, "high"] = 1.0  # data row 19 of 20: high < low
    path = _write(frame, tmp_path / f"late{suffix}")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=3)
    assert (err.value.file, err.value.row, err.value.rule) == (str(path), 19, "high < low")
    assert dump_rows(db) == before


def test_conflict_with_a_stored_bar_in_a_late_chunk_names_the_file_row(
    db: Database, tmp_path: Path
) -> None:
    import_path(db, _write(_bars(10), tmp_path / "seed.csv"), at=AT)
    before = dump_rows(db)
    frame = _bars(12)
    frame.loc[17, "close"] = 10.5  # row 18: same key, another close
    path = _write(frame, tmp_path / "revised.csv")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=4)
    assert (err.value.row, err.value.rule) == (18, "conflicts with stored bar")
    assert dump_rows(db) == before


def test_duplicate_key_in_different_chunks_is_refused_with_both_rows(
    db: Database, tmp_path: Path
) -> None:
    frame = _bars(6)
    # Row 12 repeats row 2's key with the same values: far apart, in different chunks.
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    path = _write(frame, tmp_path / "dup.csv")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=3)
    assert (err.value.row, err.value.rule) == (13, "duplicate (timestamp, asset)")
    assert "also appears in row 2" in err.value.detail
    assert dump_rows(db)["bars"] == []


def test_timestamp_convention_may_not_change_between_chunks(db: Database, tmp_path: Path) -> None:
    frame = _bars(4)
    frame.loc[6:, "timestamp"] = frame.loc[6:, "timestamp"] + "T00:00:00Z"
    path = _write(frame, tmp_path / "tz.csv")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=3)
    assert (err.value.row, err.value.rule) == (7, "mixed-timezone timestamps")
    assert "row 1" in err.value.detail
    assert dump_rows(db)["bars"] == []


def test_error_rows_inside_a_late_chunk_count_from_the_file_start(
    db: Database, tmp_path: Path
) -> None:
    frame = _bars(5)
    frame["volume"] = frame["volume"].astype(object)
    frame.loc[8, "volume"] = "many"
    path = _write(frame, tmp_path / "text.csv")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=4)
    assert (err.value.row, err.value.rule) == (9, "non-numeric value")
    assert "(line 10)" in str(err.value)


def test_a_directory_is_streamed_file_by_file(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    for asset in ("AAA", "BBB"):
        one = _bars(7, assets=(asset,)).drop(columns="asset")
        _write(one, folder / f"{asset}.csv")
    bad = _bars(7, assets=("CCC",)).drop(columns="asset")
    bad.loc[6, "open"] = np.nan
    _write(bad, folder / "CCC.csv")
    with pytest.raises(DataValidationError) as err:
        import_path(db, folder, at=AT, chunk_rows=2)
    assert (err.value.file, err.value.row) == (str(folder / "CCC.csv"), 7)
    assert dump_rows(db)["bars"] == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_shuffled_file_is_checked_key_by_key_against_stored_bars(
    db: Database, tmp_path: Path, suffix: str
) -> None:
    """A shuffled file's chunks span the whole history: the conflict check looks their keys
    up (it must still find a revision and skip identical bars)."""
    frame = _bars(12, assets=("AAA", "BBB", "CCC"))
    shuffled = frame.sample(frac=1.0, random_state=3)
    import_path(db, _write(shuffled, tmp_path / f"first{suffix}"), at=AT, chunk_rows=5)
    before = dump_rows(db)
    again = import_path(db, _write(shuffled, tmp_path / f"again{suffix}"), at=AT, chunk_rows=5)
    assert (again.rows_in, again.rows_added) == (36, 0)
    revised = shuffled.copy()
    position = 31  # a late chunk
    revised.iloc[position, revised.columns.get_loc("volume")] = 1.0
    path = _write(revised, tmp_path / f"revised{suffix}")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT, chunk_rows=5)
    assert (err.value.row, err.value.rule) == (position + 1, "conflicts with stored bar")
    after = dump_rows(db)
    assert after["bars"] == before["bars"]
