"""The prediction log: every signal served online (``POST /predict``), with the exact
artifact that produced it, so a served signal can be audited and replayed later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select

from factory.storage.database import Database, table
from factory.storage.schema import Prediction


@dataclass(frozen=True)
class PredictionRecord:
    """One served signal. Times are naive UTC."""

    request_id: str
    requested_at: datetime
    config_id: str
    asset: str
    bar_ts: datetime
    signal: float
    artifact_sha256: str


def log_predictions(db: Database, records: Sequence[PredictionRecord]) -> None:
    """Append the signals of one request in a single transaction."""
    if not records:
        return
    rows = [
        {
            "request_id": r.request_id,
            "requested_at": r.requested_at,
            "config_id": r.config_id,
            "asset": r.asset,
            "bar_ts": r.bar_ts,
            "signal": float(r.signal),
            "artifact_sha256": r.artifact_sha256,
        }
        for r in records
    ]
    with db.begin() as conn:
        # Every call is a new event: plain inserts, ids generated.
        conn.execute(insert(table("predictions")), rows)


def recent_predictions(
    db: Database, *, limit: int = 100, request_id: str | None = None
) -> list[PredictionRecord]:
    """The newest logged signals first (optionally those of one request)."""
    stmt = select(Prediction).order_by(Prediction.requested_at.desc(), Prediction.id.desc())
    if request_id is not None:
        stmt = stmt.where(Prediction.request_id == request_id)
    with db.session() as s:
        return [
            PredictionRecord(
                r.request_id,
                r.requested_at,
                r.config_id,
                r.asset,
                r.bar_ts,
                r.signal,
                r.artifact_sha256,
            )
            for r in s.scalars(stmt.limit(limit))
        ]


def count_predictions(db: Database) -> int:
    with db.begin() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table("predictions"))).scalar_one()
        )
