"""Issue 7, case 3: inputs that used to end in a traceback end in a clear error naming
the file or setting and the rule, with nothing written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from factory.cli import app as cli
from factory.data.errors import DataValidationError
from factory.data.importer import import_path
from factory.settings import SettingsError, load_settings
from factory.storage.bars import data_summary
from factory.storage.database import Database

AT = datetime(2024, 6, 1)
HEADER = "timestamp,asset,open,high,low,close,volume\n"


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("2300-01-03,AAA,1,2,0.5,1.5,10", "timestamp out of range"),
        ("1600-01-03,AAA,1,2,0.5,1.5,10", "timestamp out of range"),
        ("2020-01-03," + "A" * 65 + ",1,2,0.5,1.5,10", "invalid asset"),
    ],
)
def test_bad_rows_name_file_row_and_rule(db: Database, tmp_path: Path, row: str, rule: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10\n" + row + "\n")
    with pytest.raises(DataValidationError) as err:
        import_path(db, path, at=AT)
    assert rule in str(err.value) and "bad.csv" in str(err.value) and "row 2" in str(err.value)
    assert data_summary(db)[0].empty  # nothing written


def test_a_64_character_asset_is_stored_on_both_databases(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "2020-01-02," + "A" * 64 + ",1,2,0.5,1.5,10\n")
    assert import_path(db, path, at=AT).rows_added == 1


def test_a_utc_offset_without_minutes_is_converted(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "off.csv"
    path.write_text(HEADER + "2020-01-03T00:00:00-05,AAA,1,2,0.5,1.5,10\n")
    import_path(db, path, at=AT)
    assert str(data_summary(db)[0]["first"].iloc[0]) == "2020-01-03 05:00:00"


def test_a_file_name_with_a_trailing_newline_is_not_an_asset(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "per-asset"
    folder.mkdir()
    (folder / "AAA\n.csv").write_text(
        "timestamp,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,10\n"
    )
    with pytest.raises(DataValidationError, match="invalid asset name"):
        import_path(db, folder, at=AT)


@pytest.mark.parametrize(
    ("url", "says"),
    [("", "is empty"), ("garbage", "is not a database URL"), ("mysql://u@h/d", "not supported")],
)
def test_bad_database_urls(url: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_DB_URL", url)
    with pytest.raises(SettingsError, match=says):
        load_settings(None)


def test_settings_file_that_is_a_directory_or_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is a directory"):
        load_settings(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[plan]\n")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(bad)


def test_init_into_a_missing_directory_and_synth_with_a_bad_date(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = tmp_path / "no" / "such" / "factory.toml"
    result = runner.invoke(cli, ["init", str(missing)])
    assert isinstance(result.exception, SettingsError)
    assert "does not exist" in str(result.exception) and not missing.parent.exists()
    result = runner.invoke(
        cli, ["--db", f"sqlite:///{tmp_path / 'f.db'}", "data", "synth", "--start", "notadate"]
    )
    assert result.exit_code == 2 and "not a date" in result.output
    assert not (tmp_path / "f.db").exists()


def test_an_empty_lookback_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_PLAN__LOOKBACKS", "[]")
    with pytest.raises(SettingsError, match="lookbacks"):
        load_settings(None)


def test_a_configured_asset_without_bars_is_named(db: Database, tmp_path: Path) -> None:
    from factory.storage.bars import load_market_data

    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10\n")
    import_path(db, path, at=AT)
    with pytest.raises(LookupError, match=r"asset NOPE has no stored bars \(stored: AAA\)"):
        load_market_data(db, assets=["AAA", "NOPE"])


def test_trailing_commas_are_named_as_such(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_text(HEADER + "2020-01-02,AAA,1,2,0.5,1.5,10,\n2020-01-03,AAA,1,2,0.5,1.5,10,\n")
    with pytest.raises(DataValidationError, match="trailing comma") as err:
        import_path(db, path, at=AT)
    assert "commas.csv" in str(err.value) and "timestamp" not in str(err.value)


def test_two_files_of_one_asset_in_a_directory_are_named(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    for name in ("CCC.csv", "CCC.CSV"):
        (folder / name).write_text(
            "timestamp,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,10\n"
        )
    with pytest.raises(DataValidationError, match="duplicate asset") as err:
        import_path(db, folder, at=AT)
    assert "CCC.csv" in str(err.value) and "CCC.CSV" in str(err.value)
    assert "database" not in str(err.value)


def test_links_fifos_and_null_parquet_values_get_their_own_messages(
    db: Database, tmp_path: Path
) -> None:
    import os

    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(DataValidationError, match="symlink loop"):
        import_path(db, loop, at=AT)
    broken = tmp_path / "broken.csv"
    broken.symlink_to(tmp_path / "nothere.csv")
    with pytest.raises(DataValidationError, match="broken symlink"):
        import_path(db, broken, at=AT)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataValidationError, match="not a regular file"):
        import_path(db, fifo, at=AT)
    frame = pd.DataFrame(
        {"timestamp": pd.to_datetime(["2020-01-02"]), "asset": ["AAA"], "open": [1.0]}
        | {"high": [2.0], "low": [0.5], "close": [1.5], "volume": [None]}
    )
    frame.to_parquet(tmp_path / "null.parquet")
    with pytest.raises(DataValidationError, match="missing volume") as err:
        import_path(db, tmp_path / "null.parquet", at=AT)
    assert "non-numeric" not in str(err.value)
    assert data_summary(db)[0].empty
