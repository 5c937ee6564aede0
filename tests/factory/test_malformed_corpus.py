"""Issue 7: a corpus of malformed inputs, generated here (no committed blobs). Every file
ends in a `DataValidationError` that names the file, the row (when the rule concerns a
row) and the rule, and the database is byte-for-byte unchanged: a dump of every stored row
(and SQLite's AUTOINCREMENT counters) is the same before and after.

The corpus runs on one seeded database per backend (SQLite, and PostgreSQL when a server is
reachable); several files are imported in chunks of 2 rows so that the bad row sits in a
late chunk, after earlier chunks were already written inside the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from factory.data.errors import DataValidationError
from factory.data.importer import import_path
from factory.data.schema import Kind
from factory.storage.database import Database
from tests.conftest import PG_URL
from tests.factory.db_dump import dump_rows

AT = datetime(2026, 1, 1)
HEADER = ["timestamp", "asset", "open", "high", "low", "close", "volume"]
# Six good rows: three days x two assets. Data row n of a file is GOOD[n - 1].
GOOD = [
    ["2020-01-06", "AAA", "10", "11", "9", "10.5", "1000"],
    ["2020-01-06", "BBB", "20", "21", "19", "20.5", "500"],
    ["2020-01-07", "AAA", "10.5", "11.5", "10", "11", "1200"],
    ["2020-01-07", "BBB", "20.5", "21.5", "20", "21", "600"],
    ["2020-01-08", "AAA", "11", "12", "10.5", "11.5", "900"],
    ["2020-01-08", "BBB", "21", "22", "20.5", "21.5", "700"],
]
# Already stored before the corpus runs (same keys as GOOD rows 1-2 with these values).
SEED = [
    ["2020-01-02", "AAA", "10", "11", "9", "10.5", "1000"],
    ["2020-01-06", "AAA", "10", "11", "9", "10.5", "1000"],
    ["2020-01-06", "BBB", "20", "21", "19", "20.5", "500"],
]


@dataclass(frozen=True)
class Case:
    id: str
    write: Callable[[Path], Path]  # builds the file (or directory) under a directory
    rule: str
    row: int | None  # 1-based data row, None when the rule concerns the whole file
    kind: Kind = "bars"
    chunk_rows: int = 100_000
    file: str | None = None  # the file the error must name, when not the imported path


def _rows(edit: dict[tuple[int, str], str] | None = None) -> list[list[str]]:
    """GOOD with cells replaced: {(data row, column): text}."""
    rows = [list(r) for r in GOOD]
    for (row, col), text in (edit or {}).items():
        rows[row - 1][HEADER.index(col)] = text
    return rows


def csv(
    name: str,
    rows: list[list[str]] | None = None,
    header: list[str] = HEADER,
    sep: str = ",",
    encoding: str = "utf-8",
) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        lines = [sep.join(header), *(sep.join(r) for r in (GOOD if rows is None else rows))]
        path = d / name
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
        return path

    return write


def raw(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        path = d / name
        path.write_bytes(data)
        return path

    return write


def _typed(rows: list[list[str]] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(GOOD if rows is None else rows, columns=HEADER)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for col in HEADER[2:]:
        frame[col] = pd.to_numeric(frame[col])
    return frame


def parquet(name: str, build: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        path = d / name
        build(_typed()).to_parquet(path, index=False)
        return path

    return write


def _set(frame: pd.DataFrame, row: int, col: str, value: Any) -> pd.DataFrame:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        frame[col] = frame[col].astype(object)
    frame.loc[row - 1, col] = value
    return frame


def directory(files: dict[str, Callable[[Path], Path]]) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        folder = d / "per_asset"
        folder.mkdir()
        for w in files.values():
            w(folder)
        return folder

    return write


def _per_asset(asset: str, edit: dict[tuple[int, str], str] | None = None) -> list[list[str]]:
    rows = [r for r in _rows(edit) if r[1] == asset]
    return [[r[0], *r[2:]] for r in rows]


NO_ASSET = [c for c in HEADER if c != "asset"]
WITH_BOOK = [*HEADER, "bid", "ask", "vwap", "trades"]


def _book(edit: dict[tuple[int, str], str] | None = None) -> list[list[str]]:
    rows = [[*r, r[4], r[3], r[5], "50"] for r in GOOD]  # bid=low, ask=high, vwap=close
    for (row, col), text in (edit or {}).items():
        rows[row - 1][WITH_BOOK.index(col)] = text
    return rows


def _big(n_days: int, bad_row: int, col: str, text: str) -> list[list[str]]:
    stamps = pd.date_range("2021-01-04", periods=n_days, freq="D").strftime("%Y-%m-%d")
    rows = [[t, a, "10", "11", "9", "10", "5"] for t in stamps for a in ("AAA", "BBB")]
    rows[bad_row - 1][HEADER.index(col)] = text
    return rows


CASES = [
    # --- headers and columns -------------------------------------------------------------
    Case("misspelt header", csv("misspelt.csv", header=[*HEADER[:5], "clsoe", "volume"]), "missing column", None),
    Case("missing volume column", csv("novol.csv", [r[:-1] for r in GOOD], HEADER[:-1]), "missing column", None),
    Case("no header line", csv("noheader.csv", GOOD[1:], GOOD[0]), "missing column", None),
    Case("duplicate column", csv("dupcol.csv", [[*r, r[5]] for r in GOOD], [*HEADER, "Close"]), "duplicate column", None),
    Case("unknown column", csv("colour.csv", [[*r, "red"] for r in GOOD], [*HEADER, "colour"]), "unknown column", None),
    Case("semicolon delimiter", csv("semi.csv", sep=";"), "missing column", None),
    Case("tab delimiter", csv("tab.csv", sep="\t"), "missing column", None),
    Case("trailing comma", raw("trail.csv", ("\n".join([",".join(HEADER)] + [",".join(r) + "," for r in GOOD]) + "\n").encode()), "trailing comma", 1),
    Case("ragged row", raw("ragged.csv", ("\n".join([",".join(HEADER)] + [",".join(r) for r in GOOD[:3]] + [",".join([*GOOD[3], "7", "8"])]) + "\n").encode()), "unreadable file", None),
    # --- empty, encodings, garbage -------------------------------------------------------
    Case("empty file", raw("empty.csv", b""), "empty file", None),
    Case("header only", csv("header.csv", []), "empty file", None),
    Case("blank lines only", raw("blank.csv", b"\n\n\n"), "empty file", None),
    Case("utf-16 with BOM", csv("utf16.csv", encoding="utf-16"), "unreadable file", None),
    Case("latin-1 bytes", raw("latin1.csv", ("\n".join([",".join(HEADER), "2020-01-06,\xc4AA,10,11,9,10,1"]) + "\n").encode("latin-1")), "unreadable file", None),
    Case("binary garbage", raw("garbage.csv", bytes(range(256)) * 8), "unreadable file", None),
    Case("unsupported suffix", raw("bars.txt", b"timestamp,asset\n"), "unsupported format", None),
    # --- numbers -------------------------------------------------------------------------
    Case("non-numeric close", csv("text.csv", _rows({(3, "close"): "eleven"})), "non-numeric value", 3),
    Case("thousands separator", csv("sep.csv", _rows({(5, "volume"): '"1,000"'})), "non-numeric value", 5),
    Case("negative price", csv("neg.csv", _rows({(2, "open"): "-20"})), "non-positive price", 2),
    Case("zero price", csv("zero.csv", _rows({(4, "low"): "0"})), "non-positive price", 4),
    Case("high below low", csv("hilo.csv", _rows({(6, "high"): "20"})), "high < low", 6),
    Case("close above high", csv("close.csv", _rows({(3, "close"): "12"})), "close outside [low, high]", 3),
    Case("open below low", csv("open.csv", _rows({(4, "open"): "19"})), "open outside [low, high]", 4),
    Case("negative volume", csv("negvol.csv", _rows({(5, "volume"): "-1"})), "negative volume", 5),
    Case("blank volume", csv("blankvol.csv", _rows({(2, "volume"): ""})), "missing volume", 2),
    Case("NaN close", csv("nan.csv", _rows({(3, "close"): "NaN"})), "NaN or inf price", 3),
    Case("inf high", csv("inf.csv", _rows({(1, "high"): "inf"})), "NaN or inf price", 1),
    Case("huge value overflows", csv("huge.csv", _rows({(4, "close"): "1e400"})), "NaN or inf price", 4),
    Case("huge volume overflows", csv("hugevol.csv", _rows({(6, "volume"): "9e999"})), "missing volume", 6),
    Case("bid above ask", csv("book.csv", _book({(2, "bid"): "25"}), WITH_BOOK), "bid > ask", 2),
    Case("vwap outside range", csv("vwap.csv", _book({(5, "vwap"): "99"}), WITH_BOOK), "vwap outside [low, high]", 5),
    Case("fractional trades", csv("trades.csv", _book({(3, "trades"): "2.5"}), WITH_BOOK), "fractional trades", 3),
    Case("infinite ask", csv("ask.csv", _book({(6, "ask"): "-inf"}), WITH_BOOK), "infinite ask", 6),
    # --- keys: assets and timestamps -----------------------------------------------------
    Case("asset with a space", csv("space.csv", _rows({(4, "asset"): "B B"})), "invalid asset", 4),
    Case("empty asset", csv("noasset.csv", _rows({(2, "asset"): ""})), "invalid asset", 2),
    Case("duplicate rows", csv("dup.csv", [*GOOD, GOOD[2]]), "duplicate (timestamp, asset)", 7),
    Case("unsorted with a far duplicate", csv("unsorted.csv", [GOOD[5], *GOOD[:5][::-1], GOOD[4], GOOD[3]]), "duplicate (timestamp, asset)", 7, chunk_rows=2),
    Case("timezone garbage offset", csv("tz25.csv", [[r[0] + "T00:00:00+25:00", *r[1:]] for r in GOOD]), "unparseable timestamp", 1),
    Case("timezone name", csv("est.csv", _rows({(2, "timestamp"): "2020-01-06 09:30 EST"})), "unparseable timestamp", 2),
    Case("mixed timezones", csv("mixed.csv", _rows({(5, "timestamp"): "2020-01-08T00:00:00Z"})), "mixed-timezone timestamps", 5),
    Case("mixed timezones across chunks", csv("mixedchunks.csv", [[r[0] + "T00:00:00Z", *r[1:]] if i >= 4 else r for i, r in enumerate(GOOD)]), "mixed-timezone timestamps", 5, chunk_rows=2),
    Case("impossible date", csv("feb30.csv", _rows({(3, "timestamp"): "2020-02-30"})), "unparseable timestamp", 3),
    Case("US date format", csv("us.csv", _rows({(1, "timestamp"): "01/06/2020x"})), "unparseable timestamp", 1),
    Case("year 3000", csv("y3000.csv", _rows({(6, "timestamp"): "3000-01-08"})), "timestamp out of range", 6),
    Case("bar in the future", csv("future.csv", _rows({(6, "timestamp"): "2099-01-08"})), "bar in the future", 6),
    Case("sub-microsecond", csv("ns.csv", _rows({(2, "timestamp"): "2020-01-06T00:00:00.0000001"})), "sub-microsecond timestamp", 2),
    # --- against what is stored, and late in a streamed file -----------------------------
    Case("conflicts with stored bar", csv("revised.csv", _rows({(2, "close"): "20.4"})), "conflicts with stored bar", 2),
    Case("bad row in a late chunk", csv("late.csv", _big(20, 37, "high", "1")), "high < low", 37, chunk_rows=2),
    Case("text in a late chunk", csv("latetext.csv", _big(20, 40, "volume", "n/a")), "non-numeric value", 40, chunk_rows=3),
    # --- Parquet -------------------------------------------------------------------------
    Case("parquet missing column", parquet("nocol.parquet", lambda f: f.drop(columns="low")), "missing column", None),
    Case("parquet non-numeric", parquet("text.parquet", lambda f: _set(f.assign(close=f["close"].astype(str)), 4, "close", "x")), "non-numeric value", 4),
    Case("parquet negative price", parquet("neg.parquet", lambda f: _set(f, 3, "low", -9.0)), "non-positive price", 3),
    Case("parquet high below low", parquet("hilo.parquet", lambda f: _set(f, 5, "high", 1.0)), "high < low", 5),
    Case("parquet NaN close", parquet("nan.parquet", lambda f: _set(f, 2, "close", np.nan)), "NaN or inf price", 2),
    Case("parquet inf volume", parquet("inf.parquet", lambda f: _set(f.astype({"volume": float}), 6, "volume", np.inf)), "missing volume", 6),
    Case("parquet boolean volume", parquet("bool.parquet", lambda f: f.assign(volume=[True] * 6)), "non-numeric value", 1),
    Case("parquet duplicate", parquet("dup.parquet", lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True)), "duplicate (timestamp, asset)", 7),
    Case("parquet missing timestamp", parquet("nat.parquet", lambda f: _set(f, 4, "timestamp", pd.NaT)), "unparseable timestamp", 4),
    Case("parquet nanoseconds", parquet("ns.parquet", lambda f: f.assign(timestamp=f["timestamp"] + pd.Timedelta(nanoseconds=5))), "sub-microsecond timestamp", 1),
    Case("parquet empty", parquet("empty.parquet", lambda f: f.iloc[:0]), "empty file", None),
    Case("parquet truncated", lambda d: _truncated(d / "cut.parquet"), "unreadable file", None),
    Case("parquet bad row in a late batch", lambda d: _parquet_of(_set(_typed(_big(10, 1, "open", "10")), 17, "close", 50.0), d / "late.parquet"), "close outside [low, high]", 17, chunk_rows=4),
    # --- directories and other kinds -----------------------------------------------------
    Case("directory with a bad file", directory({"AAA": csv("AAA.csv", _per_asset("AAA"), NO_ASSET), "BBB": csv("BBB.csv", _per_asset("BBB", {(4, "close"): "99"}), NO_ASSET)}), "close outside [low, high]", 2, file="BBB.csv"),
    Case("directory with one asset twice", directory({"csv": csv("AAA.csv", _per_asset("AAA"), NO_ASSET), "pq": lambda d: _parquet_of(_typed().query("asset == 'AAA'").drop(columns="asset"), d / "AAA.parquet")}), "duplicate asset", None, file="AAA.parquet"),
    Case("directory with a bad file name", directory({"x": csv("A B.csv", _per_asset("AAA"), NO_ASSET)}), "invalid asset name", None, file="A B.csv"),
    Case("sentiment infinite score", csv("sent.csv", [["2020-01-06", "AAA", "inf"]], ["timestamp", "asset", "score"]), "NaN or inf value", 1, kind="sentiment"),
    Case("on-chain bad metric name", csv("chain.csv", [["2020-01-06", "AAA", "1"]], ["timestamp", "asset", "Hash Rate%"]), "invalid column name", None, kind="onchain"),
]  # fmt: skip


def _parquet_of(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path


def _truncated(path: Path) -> Path:
    _typed().to_parquet(path, index=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def corpus_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One seeded database per backend for the whole corpus (a refused import must leave
    it unchanged, so the cases cannot disturb each other)."""
    seed_dir = tmp_path_factory.mktemp("seed")
    if request.param == "sqlite":
        db = Database(f"sqlite:///{seed_dir / 'corpus.db'}")
        yield from _seeded(db, seed_dir)
        return
    if PG_URL is None:
        pytest.skip("no PostgreSQL server reachable (set FACTORY_TEST_POSTGRES_URL)")
    from factory.storage.database import scratch_schema

    with scratch_schema(PG_URL) as url:
        yield from _seeded(Database(url), seed_dir)


def _seeded(db: Database, d: Path) -> Iterator[Database]:
    import_path(db, csv("seed.csv", SEED)(d), at=AT)
    try:
        yield db
    finally:
        db.dispose()


def test_corpus_is_large_and_covers_both_formats() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum("parquet" in c.id for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_refused_and_changes_nothing(
    corpus_db: Database, tmp_path: Path, case: Case
) -> None:
    path = case.write(tmp_path)
    before = dump_rows(corpus_db)
    with pytest.raises(DataValidationError) as err:
        import_path(corpus_db, path, kind=case.kind, at=AT, chunk_rows=case.chunk_rows)
    e = err.value
    named = str(path / case.file) if case.file else str(path)
    message = str(e)
    assert (e.rule, e.row) == (case.rule, case.row), message
    assert e.file == named and message.startswith(named), message
    assert case.rule in message
    if case.row is not None:
        assert f"row {case.row}" in message
    assert dump_rows(corpus_db) == before
