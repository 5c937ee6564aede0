"""The ``health_status`` table: the monitor's latest verdict per config (one row each,
replaced on every check). The history of changes lives in the ``events`` table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from factory.storage.database import Database, table, upsert
from factory.storage.events import EventRecord, insert_events
from factory.storage.retrains import RetrainRequest, insert_requests
from factory.storage.schema import HealthStatus, Promotion, PromotionCycle, RatingSnapshot


@dataclass(frozen=True)
class HealthRow:
    """One config's stored verdict (naive UTC times)."""

    config_id: str
    state: str  # green | yellow | red
    since: datetime
    checked_at: datetime
    time_key: str
    as_of: datetime | None
    reasons: tuple[str, ...] = ()
    metrics: Mapping[str, float | None] = field(default_factory=dict)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def save_health(
    db: Database,
    rows: Sequence[HealthRow],
    events: Sequence[EventRecord] = (),
    retrains: Sequence[RetrainRequest] = (),
    *,
    at: datetime | None = None,
) -> None:
    """Insert or replace the verdicts of ``rows`` and append ``events`` and the retrain
    requests (at ``at``) in one transaction, so a state change, its event and what it asks
    for are stored together or not at all."""
    values = [
        {
            "config_id": r.config_id,
            "state": r.state,
            "since": r.since,
            "checked_at": r.checked_at,
            "time_key": r.time_key,
            "as_of": r.as_of,
            "reasons": json.dumps(list(r.reasons)),
            "metrics": json.dumps({k: _finite(v) for k, v in r.metrics.items()}, sort_keys=True),
        }
        for r in rows
    ]
    update = ["state", "since", "checked_at", "time_key", "as_of", "reasons", "metrics"]
    with db.begin() as conn:
        upsert(conn, table("health_status"), values, keys=["config_id"], update=update)
        if events or retrains:
            if at is None:
                raise ValueError("events and retrain requests need a time (at=...)")
            insert_events(conn, events, at=at)
            insert_requests(conn, retrains, at=at)


def load_health(db: Database) -> dict[str, HealthRow]:
    """Every stored verdict by config id."""
    with db.session() as s:
        return {
            r.config_id: HealthRow(
                config_id=r.config_id,
                state=r.state,
                since=r.since,
                checked_at=r.checked_at,
                time_key=r.time_key,
                as_of=r.as_of,
                reasons=tuple(json.loads(r.reasons)),
                metrics=json.loads(r.metrics),
            )
            for r in s.scalars(select(HealthStatus).order_by(HealthStatus.config_id))
        }


def health_states(db: Database) -> dict[str, str]:
    """State by config id: the ``health`` input of ``rating.rate``."""
    return {cid: row.state for cid, row in load_health(db).items()}


def promotion_bars(db: Database, ids: Sequence[str]) -> dict[str, datetime]:
    """For each of ``ids`` ever promoted: the last bar rated by the snapshot its latest
    promotion was decided on (its out-of-sample record up to this bar is its validation
    baseline). Falls back to the cycle's wall-clock time when the snapshot is gone."""
    if not ids:
        return {}
    p, c, snap = Promotion.__table__, PromotionCycle.__table__, RatingSnapshot.__table__
    stmt = (
        select(p.c.config_id, c.c.at, c.c.id, snap.c.as_of)
        .join(c, p.c.cycle_id == c.c.id)
        .outerjoin(snap, c.c.snapshot_id == snap.c.id)
        .where(p.c.action == "promoted", p.c.config_id.in_(list(ids)))
    )
    latest: dict[str, tuple[int, datetime]] = {}
    with db.begin() as conn:
        for cid, at, cycle_id, as_of in conn.execute(stmt):
            if cid not in latest or cycle_id > latest[cid][0]:
                latest[cid] = (cycle_id, as_of if as_of is not None else at)
    return {cid: bar for cid, (_, bar) in latest.items()}
