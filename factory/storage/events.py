"""The ``events`` table: things an operator should be able to find later (a quarantined
file, a health state change, an alert, a config retired or born, a job giving up)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select

from factory.storage.database import Database, table
from factory.storage.schema import Event

Severity = Literal["info", "warning", "error"]


def record_event(
    db: Database,
    kind: str,
    message: str,
    *,
    at: datetime,
    subject: str = "",
    severity: Severity = "info",
    detail: Mapping[str, Any] | None = None,
) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(table("events")).values(
                at=at,
                kind=kind[:32],
                subject=subject[:255],
                severity=severity,
                message=message,
                detail=None if detail is None else json.dumps(detail, default=str),
            )
        )


def recent_events(db: Database, *, kind: str | None = None, limit: int = 50) -> Sequence[Event]:
    """Newest first."""
    stmt = select(Event).order_by(Event.id.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(Event.kind == kind)
    with db.session() as s:
        return list(s.scalars(stmt))
