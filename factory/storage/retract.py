"""Retract a wrongly imported range of bars: the one sanctioned way to take stored bars
back (`factory data retract`; stored bars are otherwise never rewritten).

The bars are **deleted**, not flagged: every reader of the ``bars`` table (market data,
features, the API, the checks of the next import) then stops seeing them without having to
know about retractions, so no reader — present or future — can use them by forgetting a
filter. What stays is the audit trail, written in the same transaction:

- an ``events`` row of kind ``retract``: who, when, which asset and range, why, how many
  bars, the imports they came from, and the configs marked stale;
- an ``imports`` row of kind ``retract`` (``rows_in`` = bars removed, ``rows_added`` = 0),
  so the data version (`factory.storage.bars.data_version`) changes and a running daemon
  reloads the market data;
- every evaluation whose record reaches the first retracted bar (``last_ts`` at or after
  it: its signals, returns and fitted pipeline may have used the bad bars, directly or
  through a lookback window) is marked stale: its ``eval_key`` becomes ``stale``, so the
  next sweep (`factory evaluate`; the daemon's evaluate job only when its time key changes)
  re-evaluates it from its first bar on the data as it is now — the same path as
  ``factory evaluate --force`` for those configs — and its old record is replaced. Until
  then the old record is still what the rating reads: the command tells the operator to
  run ``factory evaluate`` and ``factory rate``.

Promotions, rebalances and rating snapshots already written stay: they are history (what
was decided at the time); the next rating and promotion read the re-evaluated records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select

from factory.storage.database import Database, table

STALE_KEY = "stale"


class RetractionRefused(ValueError):
    """The retraction was not done (no reason given, nothing in the range, ...)."""


@dataclass(frozen=True)
class RetractRange:
    """Bars of ``asset`` with ``start <= ts <= end`` (an open end when None)."""

    asset: str
    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> str:
        lo = "the first bar" if self.start is None else f"{self.start:%Y-%m-%d %H:%M:%S}"
        hi = "the last bar" if self.end is None else f"{self.end:%Y-%m-%d %H:%M:%S}"
        return f"{self.asset} from {lo} to {hi}"


@dataclass(frozen=True)
class RetractPreview:
    """What a retraction of ``range`` would remove and mark stale."""

    range: RetractRange
    bars: int
    first_ts: datetime | None
    last_ts: datetime | None
    import_ids: tuple[int, ...]
    stale_configs: tuple[str, ...]


@dataclass(frozen=True)
class RetractOutcome:
    preview: RetractPreview
    retraction_id: int  # the id of the ``imports`` row of kind "retract"
    event_id: int


def validate_reason(reason: str | None) -> str:
    """The reason, stripped; refused when missing or blank (the audit must say why)."""
    text = (reason or "").strip()
    if not text:
        raise RetractionRefused("a retraction needs a reason (--reason): the audit trail says why")
    return text


def preview_retraction(db: Database, rng: RetractRange) -> RetractPreview:
    """Read-only: what `retract_bars` would do now."""
    with db.begin() as conn:
        return _preview(conn, rng)


def retract_bars(
    db: Database, rng: RetractRange, *, reason: str, who: str, at: datetime
) -> RetractOutcome:
    """Delete the bars of ``rng``, mark the evaluations that read them stale and record the
    audit event, in one transaction. Refused (nothing changes) without a reason or when the
    range holds no bar."""
    why = validate_reason(reason)
    if rng.start is not None and rng.end is not None and rng.start > rng.end:
        raise RetractionRefused(f"--start {rng.start} is after --end {rng.end}")
    with db.begin() as conn:
        preview = _preview(conn, rng)
        if preview.bars == 0:
            raise RetractionRefused(f"no stored bars for {rng.describe()}: nothing to retract")
        bars = table("bars")
        removed = conn.execute(delete(bars).where(*_where(rng))).rowcount
        retraction_id = conn.execute(
            insert(table("imports")).values(
                at=at,
                kind="retract",
                source=f"retract {rng.describe()} by {who}: {why}",
                rows_in=int(removed),
                rows_added=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        if preview.stale_configs:
            ev = table("evaluations")
            conn.execute(
                ev.update()
                .where(ev.c.config_id.in_(preview.stale_configs))
                .values(eval_key=STALE_KEY, updated_at=at)
            )
        detail = {
            "who": who,
            "reason": why,
            "asset": rng.asset,
            "start": None if rng.start is None else rng.start.isoformat(),
            "end": None if rng.end is None else rng.end.isoformat(),
            "bars_removed": int(removed),
            "first_ts": None if preview.first_ts is None else preview.first_ts.isoformat(),
            "last_ts": None if preview.last_ts is None else preview.last_ts.isoformat(),
            "import_ids": list(preview.import_ids),
            "retraction_id": int(retraction_id),
            "stale_configs": list(preview.stale_configs),
        }
        event_id = conn.execute(
            insert(table("events")).values(
                at=at,
                kind="retract",
                subject=rng.asset,
                severity="warning",
                message=(
                    f"{who} retracted {removed} bar(s) of {rng.describe()}: {why}; "
                    f"{len(preview.stale_configs)} evaluation(s) marked stale"
                ),
                detail=json.dumps(detail, sort_keys=True),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return RetractOutcome(preview, int(retraction_id), int(event_id))


def _where(rng: RetractRange) -> list[ColumnElement[bool]]:
    bars = table("bars")
    clauses: list[ColumnElement[bool]] = [bars.c.asset == rng.asset]
    if rng.start is not None:
        clauses.append(bars.c.ts >= rng.start)
    if rng.end is not None:
        clauses.append(bars.c.ts <= rng.end)
    return clauses


def _preview(conn: Connection, rng: RetractRange) -> RetractPreview:
    bars = table("bars")
    count, first, last = conn.execute(
        select(func.count(), func.min(bars.c.ts), func.max(bars.c.ts)).where(*_where(rng))
    ).one()
    imports = tuple(
        int(i)
        for i in conn.execute(
            select(bars.c.import_id).where(*_where(rng)).distinct().order_by(bars.c.import_id)
        ).scalars()
        if i is not None
    )
    stale: tuple[str, ...] = ()
    if count:
        ev = table("evaluations")
        stale = tuple(
            conn.execute(
                select(ev.c.config_id)
                .where(ev.c.last_ts >= first, ev.c.eval_key != STALE_KEY)
                .order_by(ev.c.config_id)
            ).scalars()
        )
    return RetractPreview(
        rng,
        int(count),
        None if first is None else _naive(first),
        None if last is None else _naive(last),
        imports,
        stale,
    )


def _naive(value: object) -> datetime:
    import pandas as pd

    return pd.Timestamp(value).to_pydatetime()  # type: ignore[arg-type]
