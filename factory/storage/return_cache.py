"""Reading config_returns as ``T x configs`` matrices, fast, and incrementally.

The rating snapshot reads every config's whole record (486 configs x 20 years of daily
bars is two million rows) every five minutes. Two things keep that cheap:

* a read path without SQLAlchemy's per-row objects: plain DBAPI tuples into one
  DataFrame, timestamps parsed once per distinct bar, matrices filled by integer codes;
* a per-process cache of each config's rows, kept in step with the table through one
  summary query (rows and newest bar per config). Records are append-only (rows of a bar
  are never rewritten; a config's record is only ever appended to, or replaced as a whole
  when its evaluation settings change, which bumps ``evaluations.record_version``), so a
  config of the same generation whose summary grew by ``k`` rows after its cached newest
  bar needs only those ``k`` rows; any other change re-reads that config.
  The cache is therefore always what the database holds at the summary query — tested
  against uncached reads through appends, replaced records and deleted configs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import String, func, select, type_coerce

from factory.storage.database import Database
from factory.storage.schema import ConfigReturn, Evaluation


@dataclass(frozen=True)
class _Record:
    """One config's rows: bars (datetime64[ns], sorted) and one array per column."""

    count: int
    last: np.datetime64
    version: int
    ts: np.ndarray
    values: dict[str, np.ndarray]


_LOCK = threading.Lock()
_CACHE: dict[tuple[str, tuple[str, ...]], dict[str, _Record]] = {}


def read_long(
    db: Database,
    columns: Sequence[str],
    ids: Sequence[str] | None = None,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """config_id, ts (datetime64[ns]), columns... — optionally only rows after ``since``."""
    t = ConfigReturn.__table__
    stmt = select(
        t.c.config_id, type_coerce(t.c.ts, String).label("ts"), *(t.c[c] for c in columns)
    )
    if ids is not None:
        stmt = stmt.where(t.c.config_id.in_(list(ids)))
    if since is not None:
        stmt = stmt.where(t.c.ts > since.to_pydatetime())
    with db.begin() as conn:
        result = conn.execute(stmt)
        rows = result.cursor.fetchall() if result.cursor is not None else []
        result.close()
    long = pd.DataFrame(rows, columns=["config_id", "ts", *columns])
    if long.empty:
        long["ts"] = pd.Series(dtype="datetime64[ns]")
        return long
    codes, distinct = pd.factorize(long["ts"])
    parsed = (
        pd.to_datetime(pd.Series(distinct), format="ISO8601")
        if isinstance(distinct[0], str)
        else pd.to_datetime(pd.Series(distinct))
    )
    long["ts"] = parsed.to_numpy(dtype="datetime64[ns]")[codes]
    return long


def to_matrices(long: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Long rows -> one ``T x configs`` frame per column (configs sorted, bars sorted)."""
    if long.empty:
        return {c: pd.DataFrame(dtype=float) for c in columns}
    config_codes, config_ids = pd.factorize(long["config_id"], sort=True)
    ts_codes, stamps = pd.factorize(long["ts"], sort=True)
    index = pd.DatetimeIndex(stamps, name="timestamp").astype("datetime64[ns]")
    out: dict[str, pd.DataFrame] = {}
    for c in columns:
        matrix = np.full((len(stamps), len(config_ids)), np.nan)
        matrix[ts_codes, config_codes] = long[c].to_numpy(dtype="float64", na_value=np.nan)
        frame = pd.DataFrame(matrix, index=index, columns=pd.Index(config_ids, dtype=object))
        frame.columns.name = "config_id"
        out[c] = frame
    return out


def _summary(db: Database) -> dict[str, tuple[int, np.datetime64, int]]:
    """Per config: rows, newest bar, record generation (`evaluations.record_version`)."""
    t = ConfigReturn.__table__
    ev = Evaluation.__table__
    stmt = select(
        t.c.config_id, func.count(), type_coerce(func.max(t.c.ts), String).label("last")
    ).group_by(t.c.config_id)
    with db.begin() as conn:
        rows = conn.execute(stmt).all()
        versions = dict(conn.execute(select(ev.c.config_id, ev.c.record_version)).all())
    if not rows:
        return {}
    raw = pd.Series([r[2] for r in rows])
    last = pd.to_datetime(raw, format="ISO8601") if isinstance(raw[0], str) else pd.to_datetime(raw)
    stamps = last.to_numpy(dtype="datetime64[ns]")
    return {r[0]: (int(r[1]), stamps[i], int(versions.get(r[0], 0))) for i, r in enumerate(rows)}


def _records(
    long: pd.DataFrame, columns: Sequence[str], versions: dict[str, int]
) -> dict[str, _Record]:
    out: dict[str, _Record] = {}
    if long.empty:
        return out
    long = long.sort_values(["config_id", "ts"], kind="stable")
    for cid, group in long.groupby("config_id", sort=False):
        ts = group["ts"].to_numpy(dtype="datetime64[ns]")
        values = {c: group[c].to_numpy(dtype="float64", na_value=np.nan) for c in columns}
        out[str(cid)] = _Record(len(ts), ts[-1], versions.get(str(cid), 0), ts, values)
    return out


def cached_matrices(db: Database, columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Every config's rows of ``columns`` as matrices, reading only what changed since this
    process last asked (see the module docstring)."""
    key = (db.url, tuple(columns))
    with _LOCK:
        cache = dict(_CACHE.get(key, {}))
        summary = _summary(db)
        for cid in set(cache) - set(summary):  # config deleted
            del cache[cid]
        appended: list[str] = []
        reread: list[str] = []
        versions = {cid: v for cid, (_, _, v) in summary.items()}
        for cid, (count, last, version) in summary.items():
            rec = cache.get(cid)
            if rec is None or rec.version != version:
                reread.append(cid)
            elif rec.count == count and rec.last == last:
                continue
            elif count > rec.count and last > rec.last:
                appended.append(cid)
            else:
                reread.append(cid)
        if appended:
            since = pd.Timestamp(min(cache[c].last for c in appended))
            new = _records(read_long(db, columns, ids=appended, since=since), columns, versions)
            for cid in appended:
                old = cache[cid]
                tail = new.get(cid)
                keep = tail.ts > old.last if tail is not None else np.zeros(0, dtype=bool)
                if tail is None or old.count + int(keep.sum()) != summary[cid][0]:
                    reread.append(cid)  # not a pure append: read the whole record
                    continue
                cache[cid] = _Record(
                    summary[cid][0],
                    tail.ts[keep][-1],
                    old.version,
                    np.concatenate([old.ts, tail.ts[keep]]),
                    {c: np.concatenate([old.values[c], tail.values[c][keep]]) for c in columns},
                )
        if reread:
            cache.update(_records(read_long(db, columns, ids=reread), columns, versions))
        _CACHE[key] = cache
    return _assemble(cache, columns)


def _assemble(cache: dict[str, _Record], columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The matrices from cached records: bars = the union of the records' bars, each record
    placed by binary search (no long frame of every row is built)."""
    if not cache:
        return {c: pd.DataFrame(dtype=float) for c in columns}
    ids = sorted(cache)
    stamps = np.unique(np.concatenate([cache[c].ts for c in ids]))
    rows = [np.searchsorted(stamps, cache[c].ts) for c in ids]
    index = pd.DatetimeIndex(stamps, name="timestamp")
    out: dict[str, pd.DataFrame] = {}
    for col in columns:
        matrix = np.full((len(stamps), len(ids)), np.nan)
        for j, cid in enumerate(ids):
            matrix[rows[j], j] = cache[cid].values[col]
        frame = pd.DataFrame(matrix, index=index, columns=pd.Index(ids, dtype=object))
        frame.columns.name = "config_id"
        out[col] = frame
    return out


def clear() -> None:
    """Forget every cached record (tests; a process that switched databases)."""
    with _LOCK:
        _CACHE.clear()
