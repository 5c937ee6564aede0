"""Inspection must not write (issue 7, case 5): read-only commands open the database
read-only, never migrate, never create a file or directory, and refuse a database that is
not a Model Factory database — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from factory.storage.database import (
    Database,
    DatabaseError,
    alembic_config,
    current_revision,
    head_revision,
)

T0 = datetime(2026, 1, 5)
READ_ONLY_COMMANDS = (("data", "show"), ("leaderboard",), ("configs",))


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """``factory <args>`` in-process, through `main` (the real exit codes and messages)."""
    from factory.cli import main

    monkeypatch.setattr(sys, "argv", ["factory", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its content hash."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def clean_env(workdir: Path) -> Path:
    return workdir


def test_read_only_database_refuses_writes(db_url: str) -> None:
    Database(db_url).dispose()
    ro = Database(db_url, read_only=True)
    try:
        with ro.begin() as conn:
            assert current_revision(conn) == head_revision()
        with pytest.raises(DBAPIError, match=r"(?i)read.?only"):
            with ro.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO events (at, kind, subject, severity, message) "
                        "VALUES ('2026-01-01', 'x', '', 'info', 'y')"
                    )
                )
    finally:
        ro.dispose()


def test_inspection_leaves_a_sqlite_database_byte_for_byte(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A factory database in rollback-journal mode (as a backup tool or another program
    may leave it): the WAL pragma of a read-write open rewrote its header."""
    path = clean_env / "factory.db"
    Database(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = snapshot(clean_env)
    for args in READ_ONLY_COMMANDS:
        code, _, err = cli(capsys, monkeypatch, *args)
        assert code in (0, 1), err
        assert "readonly" not in err and "Traceback" not in err
    assert snapshot(clean_env) == before


def test_inspection_refuses_a_foreign_database(
    db_url: str,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    engine.dispose()
    for args in (*READ_ONLY_COMMANDS, ("data", "import", "--sample")):
        code, _, err = cli(capsys, monkeypatch, "--db", db_url, *args)
        assert code == 1, (args, err)
        assert "is not a Model Factory database" in err and "customers" in err, err
        assert tables(db_url) == {"customers"}, args


def test_inspection_of_an_empty_database_creates_nothing(
    db_url: str,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite: the file does not exist (a mistyped path); PostgreSQL: an empty schema."""
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{clean_env / 'typo' / 'dir' / 'factory.db'}"
    for args in (("data", "show"), ("leaderboard",)):
        code, _, err = cli(capsys, monkeypatch, "--db", db_url, *args)
        assert code == 1, err
        if db_url.startswith("sqlite"):
            assert f"{clean_env / 'typo' / 'dir' / 'factory.db'} does not exist" in err
        else:
            assert "is empty" in err and "not a Model Factory database" in err
    if db_url.startswith("sqlite"):
        assert not (clean_env / "typo").exists()
    else:
        assert tables(db_url) == set()


def test_an_older_schema_is_not_migrated_by_inspection(
    db_url: str,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0003")
    engine.dispose()
    code, _, err = cli(capsys, monkeypatch, "--db", db_url, "data", "show")
    assert code == 1 and "older than this version's" in err and "never migrate" in err, err
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert current_revision(conn) == "0003"
    engine.dispose()
    with pytest.raises(DatabaseError, match="older than"):
        Database(db_url, read_only=True)
    Database(db_url).dispose()  # a write command upgrades it
    Database(db_url, read_only=True).dispose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_data_show_on_a_read_only_sqlite_file(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported failure: "attempt to write a readonly database" (file and directory
    read-only, as on a mounted backup)."""
    path = clean_env / "db" / "factory.db"
    Database(f"sqlite:///{path}").dispose()
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        code, out, err = cli(capsys, monkeypatch, "--db", f"sqlite:///{path}", "data", "show")
        assert code == 0, err
        assert "no bars" in out
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)


def test_a_file_that_is_not_sqlite_is_refused_untouched(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = clean_env / "notes.db"
    path.write_text("not a database\n" * 100)
    before = snapshot(clean_env)
    for args in (("data", "show"), ("data", "import", "--sample")):
        code, _, err = cli(capsys, monkeypatch, "--db", f"sqlite:///{path}", *args)
        assert code == 1 and f"{path} is not an SQLite database" in err, err
    assert snapshot(clean_env) == before


def test_inspection_commands_work_read_only(
    db_url: str,
    clean_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ordinary case on both databases: a factory database with bars is shown, and
    nothing in it changes."""
    from factory.data.importer import import_frame
    from factory.data.synth import synth_universe

    db = Database(db_url)
    import_frame(db, synth_universe(2, 30, seed=1).bars, kind="bars", source="t", at=T0)
    db.dispose()

    def counts() -> dict[str, int]:
        engine = create_engine(db_url)
        with engine.connect() as conn:
            out = {
                t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in sorted(inspect(conn).get_table_names())
            }
        engine.dispose()
        return out

    before = counts()
    code, out, err = cli(capsys, monkeypatch, "--db", db_url, "data", "show", "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    assert [(r["asset"], r["bars"]) for r in body["bars"]] == [("SYN000", 30), ("SYN001", 30)]
    code, _, err = cli(capsys, monkeypatch, "--db", db_url, "leaderboard")
    assert code == 1 and "no rating snapshot yet" in err
    code, out, err = cli(capsys, monkeypatch, "--db", db_url, "artifacts", "verify")
    assert code == 0 and "0 artifacts verified" in out, err
    assert counts() == before
