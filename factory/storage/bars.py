"""Bars and auxiliary series in and out of the database.

Writes are all-or-nothing: an import validates every file first, then checks them against
what is stored and writes everything in one transaction. Re-importing bars already stored
is a no-op; new bars append; a bar that exists with *different* values is rejected
(history is point-in-time: a silent revision would change results already rated).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, insert, select

from factory.data.errors import DataValidationError
from factory.data.market import MarketData
from factory.data.schema import BAR_OPTIONAL, BAR_REQUIRED, NOT_IN_CLOSE_ONLY, PANEL_PREFIX, Kind
from factory.storage.database import Database, bulk_upsert, read_frame, table
from factory.storage.schema import AuxValue, Bar

# An auxiliary value (sentiment, on-chain) stays valid for bars up to this long after it.
AUX_STALENESS = pd.Timedelta(days=7)
_REL_TOL = 1e-9


@dataclass(frozen=True)
class Frame:
    """A validated canonical long frame and the name of the file it came from."""

    source: str
    kind: Kind
    frame: pd.DataFrame


@dataclass(frozen=True)
class ImportResult:
    """``rows_in``/``rows_added`` count bars for bars and values for auxiliary series."""

    import_id: int
    rows_in: int
    rows_added: int
    assets: tuple[str, ...]


FUTURE_TOLERANCE = timedelta(hours=24)


def store_frames(
    db: Database,
    frames: Iterable[Frame],
    *,
    kind: Kind,
    source: str,
    at: datetime,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
) -> ImportResult:
    """Write validated frames of one kind in a single transaction. ``frames`` may be a
    lazy stream of chunks (validated as they are read): each is checked and written in
    turn, and an error raised by any of them, or by the checks here, rolls back the whole
    import. A row stamped later than the import's own time (``at``) plus
    ``future_tolerance`` is refused: it cannot be a bar that has happened (a 2099 bar
    would make every later rebalance a 2099 one)."""
    limit = pd.Timestamp(at) + pd.Timedelta(future_tolerance)
    with db.begin() as conn:
        import_id = conn.execute(
            insert(table("imports")).values(
                at=at, kind=kind, source=source, rows_in=0, rows_added=0
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        rows_in = rows_added = 0
        assets: set[str] = set()
        for f in frames:
            if f.kind != kind:
                raise ValueError("one import holds one kind of data")
            _check_not_future(f, limit, at, future_tolerance)
            if kind == "bars":
                added = _store_bars(conn, f, import_id)
            else:
                added = _store_aux(conn, f, import_id)
            # Bars count rows; sentiment / on-chain count values (rows x metric columns).
            rows_in += (
                len(f.frame) if kind == "bars" else int(f.frame.shape[0] * (f.frame.shape[1] - 2))
            )
            rows_added += added
            assets.update(f.frame["asset"].unique().tolist())
        conn.execute(
            table("imports")
            .update()
            .where(table("imports").c.id == import_id)
            .values(rows_in=rows_in, rows_added=rows_added)
        )
    return ImportResult(int(import_id), rows_in, rows_added, tuple(sorted(assets)))


def _check_not_future(f: Frame, limit: pd.Timestamp, at: datetime, tolerance: timedelta) -> None:
    ahead = (f.frame["timestamp"] > limit).to_numpy()
    if ahead.any():
        rows = f.frame.index.to_numpy()[ahead]
        i = int(np.flatnonzero(ahead)[np.argmin(rows)])  # the first such row of the file
        raise DataValidationError(
            f.source,
            "bar in the future",
            f"{f.frame['timestamp'].iloc[i]} is after the import time {at:%Y-%m-%d %H:%M} "
            f"plus the tolerance of {tolerance} ([data] future_tolerance_hours)",
            int(f.frame.index[i]) + 1,  # the file's row: validation keeps the labels
        )


def _stored_bars(
    conn: Connection, assets: list[str], start: datetime, end: datetime
) -> pd.DataFrame:
    t = table("bars")
    stmt = select(t).where(t.c.asset.in_(assets), t.c.ts >= start, t.c.ts <= end)
    return read_frame(conn, stmt, datetimes=["ts"])


_KEY_BATCH = 2_000


def _stored_for(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """The stored bars that may share a key with ``frame`` (a chunk of a file).

    A chunk of a file sorted by time, or by asset then time, covers a narrow range: one
    range query returns about the chunk's own rows. A chunk of a shuffled file spans the
    whole history, so the range would be everything stored for its assets: its keys are
    looked up instead, in batches, so memory stays bounded by the chunk."""
    if _in_file_order(frame):
        return _stored_bars(
            conn,
            sorted(frame["asset"].unique()),
            frame["timestamp"].min(),
            frame["timestamp"].max(),
        )
    t = table("bars")
    parts = []
    for asset, stamps in frame.groupby("asset", sort=True)["timestamp"]:
        values = stamps.sort_values().dt.to_pydatetime().tolist()
        for i in range(0, len(values), _KEY_BATCH):
            stmt = select(t).where(t.c.asset == asset, t.c.ts.in_(values[i : i + _KEY_BATCH]))
            part = read_frame(conn, stmt, datetimes=["ts"])
            if not part.empty:
                parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _in_file_order(frame: pd.DataFrame) -> bool:
    """Whether the rows, in the order of the file (the index), are sorted by time or by
    (asset, time)."""
    by_file = frame.sort_index()
    if by_file["timestamp"].is_monotonic_increasing:
        return True
    return bool(
        pd.MultiIndex.from_arrays([by_file["asset"], by_file["timestamp"]]).is_monotonic_increasing
    )


def _store_bars(conn: Connection, f: Frame, import_id: int) -> int:
    """Check the frame against stored bars, insert the new ones; returns the rows written.

    The check and the insert are one atomic step: when the insert skips rows (another
    import wrote the same keys after the check — possible on PostgreSQL, where both run
    at once), the skipped rows are compared with what is stored now, and a difference
    fails this import as a conflict. Counts are rows the database actually wrote."""
    frame = f.frame
    _check_bar_shape(conn, f)
    known = _check_against_stored(conn, f)
    is_new = ~pd.MultiIndex.from_frame(frame[["timestamp", "asset"]]).isin(known)
    new_rows = frame.loc[is_new]
    if new_rows.empty:
        return 0
    records = new_rows.rename(columns={"timestamp": "ts"}).assign(import_id=import_id)
    cols = [
        "asset",
        "ts",
        *[c for c in (*BAR_REQUIRED, *BAR_OPTIONAL) if c in records],
        "import_id",
    ]
    written = bulk_upsert(conn, table("bars"), records[cols], keys=["asset", "ts"])
    if written != len(records):
        # Another import committed some of these keys meanwhile: same values, or a conflict.
        _check_against_stored(conn, f)
    return written


def _check_bar_shape(conn: Connection, f: Frame) -> None:
    """An asset's bars are all close-only or all OHLCV: refuse an import whose bars are of
    the other shape than those stored for the same asset (a series whose open exists on
    some days only would make every open-reading feature silently wrong)."""
    close_only = "open" not in f.frame.columns
    t = table("bars")
    assets = sorted(f.frame["asset"].unique())
    stmt = (
        select(t.c.asset, func.count(t.c.open).label("with_open"))
        .where(t.c.asset.in_(assets))
        .group_by(t.c.asset)
        .order_by(t.c.asset)
    )
    for asset, with_open in conn.execute(stmt).all():
        if (with_open == 0) == close_only:
            continue
        row = int(f.frame.index[(f.frame["asset"] == asset).to_numpy()][0]) + 1
        stored, new = ("OHLCV", "close-only") if close_only else ("close-only", "OHLCV")
        raise DataValidationError(
            f.source,
            "close-only and OHLCV bars mixed",
            f"asset {asset} has {stored} bars stored and this import's are {new}: an asset's "
            "bars are all close-only or all OHLCV (import into a new database, or under "
            "another asset name)",
            row,
        )


def _check_against_stored(conn: Connection, f: Frame) -> pd.MultiIndex:
    """Raise on the first bar whose stored version differs (file, row, rule); return the
    (timestamp, asset) keys of the frame that are stored already."""
    frame = f.frame
    stored = _stored_for(conn, frame)
    if stored.empty:
        return pd.MultiIndex.from_arrays([[], []], names=["timestamp", "asset"])
    stored = stored.rename(columns={"ts": "timestamp"})
    merged = frame.reset_index().merge(
        stored, on=["timestamp", "asset"], how="inner", suffixes=("", "_stored")
    )
    value_cols = [c for c in (*BAR_REQUIRED, *BAR_OPTIONAL) if c in frame.columns]
    for col in value_cols:
        new = merged[col].to_numpy(dtype=float)
        old = merged[f"{col}_stored"].to_numpy(dtype=float)
        differs = ~np.isclose(new, old, rtol=_REL_TOL, atol=0.0, equal_nan=True)
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            row = int(merged["index"].iloc[i]) + 1
            raise DataValidationError(
                f.source,
                "conflicts with stored bar",
                f"{col}={new[i]} but the database holds {old[i]} for asset "
                f"{merged['asset'].iloc[i]} at {merged['timestamp'].iloc[i]:%Y-%m-%d %H:%M:%S} "
                "(stored bars are never rewritten; import revisions into a new database)",
                row,
            )
    return pd.MultiIndex.from_frame(merged[["timestamp", "asset"]])


def _store_aux(conn: Connection, f: Frame, import_id: int) -> int:
    value_cols = [c for c in f.frame.columns if c not in ("timestamp", "asset")]
    long = (
        f.frame.reset_index()
        .melt(id_vars=["index", "timestamp", "asset"], value_vars=value_cols, var_name="name")
        .rename(columns={"timestamp": "ts"})
    )
    t = table("aux_values")
    stmt = select(t.c.asset, t.c.ts, t.c.name, t.c.value).where(
        t.c.kind == f.kind,
        t.c.asset.in_(sorted(long["asset"].unique())),
        t.c.ts >= long["ts"].min(),
        t.c.ts <= long["ts"].max(),
    )
    stored = read_frame(conn, stmt, datetimes=["ts"])
    is_new = np.ones(len(long), dtype=bool)
    if not stored.empty:
        merged = long.reset_index(names="pos").merge(
            stored, on=["asset", "ts", "name"], suffixes=("", "_stored")
        )
        new = merged["value"].to_numpy(dtype=float)
        old = merged["value_stored"].to_numpy(dtype=float)
        differs = ~np.isclose(new, old, rtol=_REL_TOL, atol=0.0, equal_nan=True)
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            raise DataValidationError(
                f.source,
                "conflicts with stored value",
                f"{merged['name'].iloc[i]}={new[i]} but the database holds {old[i]} for asset "
                f"{merged['asset'].iloc[i]} at {merged['ts'].iloc[i]:%Y-%m-%d %H:%M:%S}",
                int(merged["index"].iloc[i]) + 1,
            )
        is_new[merged["pos"].to_numpy()] = False
    rows = long.loc[is_new, ["asset", "ts", "name", "value"]].assign(
        kind=f.kind, import_id=import_id
    )
    # Late data: a value dated at or before a bar the factory has already evaluated arrives
    # after that bar's record was written (and is final). It becomes visible only to later
    # bars, for every config — one evaluated cold tomorrow included.
    frontier = evaluation_frontier(conn)
    rows["visible_after"] = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    if frontier is not None:
        rows.loc[rows["ts"] <= frontier, "visible_after"] = pd.Timestamp(frontier)
    return bulk_upsert(conn, t, rows, keys=["kind", "asset", "ts", "name"])


def evaluation_frontier(conn: Connection) -> datetime | None:
    """The last bar any config has been evaluated through (None before the first)."""
    t = table("evaluations")
    last = conn.execute(select(func.max(t.c.last_ts)).where(t.c.status == "done")).scalar()
    return None if last is None else pd.Timestamp(last).to_pydatetime()


def load_market_data(
    db: Database, *, assets: Sequence[str] | None = None, end: datetime | None = None
) -> MarketData:
    """Stored bars (plus sentiment / on-chain columns aligned as of each bar) as MarketData.

    Open, high, low and volume are columns of the result only when every selected bar has
    them: close-only bars (NULL there) remove them, so no pipeline reads a NaN open, and
    the plan (`factory.catalog.profile`) excludes the pipelines that need them."""
    t = Bar.__table__
    stmt = select(t).order_by(t.c.ts, t.c.asset)
    if assets:
        stmt = stmt.where(t.c.asset.in_(list(assets)))
    if end is not None:
        stmt = stmt.where(t.c.ts <= end)
    with db.begin() as conn:
        bars = read_frame(conn, stmt, datetimes=["ts"])
        if assets:
            stored = sorted(conn.execute(select(t.c.asset).distinct()).scalars())
            missing = sorted(set(assets) - set(stored))
            if missing and stored:
                shown = ", ".join(stored[:20]) + (" ..." if len(stored) > 20 else "")
                raise LookupError(
                    f"asset{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"{'have' if len(missing) > 1 else 'has'} no stored bars (stored: {shown}); "
                    "check [data] assets"
                )
        if bars.empty:
            raise LookupError(
                "no bars stored yet: run `factory data import PATH`, `factory data import --sample` "
                "or `factory data synth`"
            )
        bars = bars.drop(columns=["import_id"]).rename(columns={"ts": "timestamp"})
        optional = [c for c in BAR_OPTIONAL if bars[c].notna().any()]
        base = [c for c in BAR_REQUIRED if c not in NOT_IN_CLOSE_ONLY or bars[c].notna().all()]
        bars = bars[["timestamp", "asset", *base, *optional]].set_index(["timestamp", "asset"])
        aux = _load_aux(conn, assets, end)
    if aux is not None:
        bars = bars.join(
            _align_aux(aux, pd.MultiIndex.from_tuples(bars.index, names=bars.index.names))
        )
    return MarketData(bars.astype("float64").sort_index())


def _load_aux(
    conn: Connection, assets: Sequence[str] | None, end: datetime | None
) -> pd.DataFrame | None:
    t = AuxValue.__table__
    stmt = select(t.c.kind, t.c.asset, t.c.ts, t.c.name, t.c.value, t.c.visible_after)
    if assets:
        stmt = stmt.where(t.c.asset.in_(list(assets)))
    if end is not None:
        stmt = stmt.where(t.c.ts <= end)
    aux = read_frame(conn, stmt, datetimes=["ts", "visible_after"])
    if aux.empty:
        return None
    aux["column"] = [PANEL_PREFIX[k] + n for k, n in zip(aux["kind"], aux["name"], strict=True)]
    return aux


def _align_aux(aux: pd.DataFrame, index: pd.MultiIndex) -> pd.DataFrame:
    """Point-in-time as-of alignment, per asset: a bar at t gets the newest value dated at
    or before t that was *known* at t, if it is at most AUX_STALENESS old.

    A value is known from its own timestamp, or — when it arrived late (``visible_after``
    set at import) — only for bars strictly after ``visible_after``. Nothing after t is
    used, and another asset's reports never keep one asset's value fresh.
    """
    bar_ts = pd.DatetimeIndex(index.get_level_values("timestamp").unique()).sort_values()
    aux = aux.dropna(subset=["value"])
    late_from = aux["visible_after"] + pd.Timedelta(microseconds=1)
    known = aux["ts"].where(aux["visible_after"].isna(), np.maximum(aux["ts"], late_from))
    aux = aux.assign(known=known).sort_values(["column", "asset", "known", "ts"])
    # A late value older than one already known is never the newest known value: drop it.
    newest = aux.groupby(["column", "asset"])["ts"].cummax()
    aux = aux[aux["ts"] >= newest].drop_duplicates(["column", "asset", "known"], keep="last")
    out = []
    for column, group in aux.groupby("column", sort=True):
        value = group.pivot(index="known", columns="asset", values="value")
        dated = group.pivot(index="known", columns="asset", values="ts")
        grid = value.index.union(bar_ts)
        aligned = value.reindex(grid).ffill()
        age = -dated.reindex(grid).ffill().sub(grid.to_series(), axis=0)
        aligned = aligned.where(age <= AUX_STALENESS).reindex(bar_ts)
        stacked = pd.Series(aligned.stack(future_stack=True), name=str(column))
        stacked.index = stacked.index.set_names(["timestamp", "asset"])
        out.append(stacked)
    if not out:
        return pd.DataFrame(index=index)
    return pd.concat(out, axis=1).reindex(index)


def data_summary(db: Database) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-asset bar summary, per-kind auxiliary summary). The bar summary's ``columns``
    is ``"ohlcv"`` or ``"close"`` (close-only bars)."""
    b = Bar.__table__
    a = AuxValue.__table__
    with db.begin() as conn:
        bars = pd.DataFrame(
            conn.execute(
                select(
                    b.c.asset,
                    func.min(b.c.ts).label("first"),
                    func.max(b.c.ts).label("last"),
                    func.count().label("bars"),
                    func.count(b.c.open).label("with_open"),
                )
                .group_by(b.c.asset)
                .order_by(b.c.asset)
            )
            .mappings()
            .all(),
            columns=["asset", "first", "last", "bars", "with_open"],
        )
        # An asset's bars are all close-only or all OHLCV (the importer refuses a mix).
        bars["columns"] = np.where(bars["with_open"] == 0, "close", "ohlcv")
        bars = bars.drop(columns="with_open")
        aux = pd.DataFrame(
            conn.execute(
                select(
                    a.c.kind,
                    a.c.name,
                    func.count(func.distinct(a.c.asset)).label("assets"),
                    func.min(a.c.ts).label("first"),
                    func.max(a.c.ts).label("last"),
                    func.count().label("values"),
                )
                .group_by(a.c.kind, a.c.name)
                .order_by(a.c.kind, a.c.name)
            )
            .mappings()
            .all(),
            columns=["kind", "name", "assets", "first", "last", "values"],
        )
    return bars, aux


def last_bar_ts(db: Database) -> datetime | None:
    with db.begin() as conn:
        return conn.execute(select(func.max(Bar.__table__.c.ts))).scalar_one_or_none()


def data_version(db: Database) -> int:
    """Id of the newest import (0 when none): stored data only changes through imports, so
    an unchanged value means unchanged data."""
    with db.begin() as conn:
        return int(conn.execute(select(func.max(table("imports").c.id))).scalar_one_or_none() or 0)
