"""The ``events`` table: things an operator should be able to find later (an artifact that
failed verification, a file refused by prune, ...). Append-only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, insert, select

from factory.storage.database import Database, read_frame, table


@dataclass(frozen=True)
class EventRecord:
    kind: str
    message: str
    subject: str = ""
    severity: str = "info"  # info | warning | error
    detail: dict[str, Any] | None = None


def record_events(db: Database, events: Sequence[EventRecord], *, at: datetime) -> int:
    """Append ``events`` (one transaction); returns how many were written."""
    if not events:
        return 0
    with db.begin() as conn:
        return insert_events(conn, events, at=at)


def insert_events(conn: Connection, events: Sequence[EventRecord], *, at: datetime) -> int:
    """Append ``events`` inside the caller's transaction (so they are stored with what
    they report, or not at all); returns how many."""
    if not events:
        return 0
    rows = [
        {
            "at": at,
            "kind": e.kind,
            "subject": e.subject[:255],
            "severity": e.severity,
            "message": e.message,
            "detail": None
            if e.detail is None
            else json.dumps(e.detail, sort_keys=True, default=str),
        }
        for e in events
    ]
    conn.execute(insert(table("events")), rows)
    return len(rows)


def load_events(db: Database, *, kind: str | None = None) -> pd.DataFrame:
    """Events, oldest first (optionally of one kind)."""
    t = table("events")
    stmt = select(t.c.id, t.c.at, t.c.kind, t.c.subject, t.c.severity, t.c.message, t.c.detail)
    if kind is not None:
        stmt = stmt.where(t.c.kind == kind)
    with db.begin() as conn:
        return read_frame(conn, stmt.order_by(t.c.id), datetimes=["at"])


def record_event(
    db: Database,
    kind: str,
    message: str,
    *,
    at: datetime,
    subject: str = "",
    severity: str = "info",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event (see `record_events`)."""
    record_events(db, [EventRecord(kind, message, subject, severity, detail)], at=at)
