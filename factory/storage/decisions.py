"""What the rating, promotion and rebalance jobs decide, and the job run log.

Each of these is written once per time key (unique constraint), so a job that runs twice
for the same key changes nothing the second time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select

from factory.storage.database import Database, read_frame, table, upsert
from factory.storage.schema import (
    Promotion,
    PromotionCycle,
    Rating,
    RatingSnapshot,
    Rebalance,
    RebalanceWeight,
    Run,
)
from rating.engine import Ratings
from rating.promotion import PromotionCycle as Cycle

# -- rating snapshots --------------------------------------------------------------------
_CORE = ("rank", "score", "eligible", "gate")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def save_snapshot(db: Database, ratings: Ratings, *, time_key: str, at: datetime) -> int:
    """Store a snapshot; one with the same time key is replaced in place (same id, so
    promotion cycles that point at it stay valid). Returns its id."""
    summary = ratings.summary()
    values = {
        "time_key": time_key,
        "at": at,
        "as_of": ratings.as_of.replace(tzinfo=None) if ratings.as_of else None,
        "n_configs": len(ratings.table),
        "n_trials_effective": _clean(summary["n_trials_effective"]),
        "sr_variance": _clean(summary["sr_variance"]),
        "pbo": _clean(summary["pbo"]),
        "summary": json.dumps({k: _clean(v) for k, v in summary.items()}, sort_keys=True),
    }
    with db.begin() as conn:
        t = table("rating_snapshots")
        sid = conn.execute(select(t.c.id).where(t.c.time_key == time_key)).scalar_one_or_none()
        if sid is not None:
            conn.execute(delete(table("ratings")).where(table("ratings").c.snapshot_id == sid))
            conn.execute(t.update().where(t.c.id == sid).values(**values))
        else:
            sid = conn.execute(insert(t).values(**values)).inserted_primary_key[0]  # type: ignore[index]
        rows = []
        for rec in ratings.records():
            metrics = {k: _clean(v) for k, v in rec.items() if k not in (*_CORE, "config_id")}
            rows.append(
                {
                    "snapshot_id": sid,
                    "config_id": rec["config_id"],
                    "rank": int(rec["rank"]),
                    "score": _clean(rec["score"]),
                    "eligible": bool(rec["eligible"]),
                    "gate": rec["gate"] or "",
                    "metrics": json.dumps(metrics, sort_keys=True),
                }
            )
        upsert(conn, table("ratings"), rows, keys=["snapshot_id", "config_id"])
    return int(sid)


def snapshot_in_use(db: Database, snapshot_id: int) -> bool:
    """Whether a promotion cycle records this snapshot as the basis of its decisions."""
    c = table("promotion_cycles")
    with db.begin() as conn:
        return (
            conn.execute(select(c.c.id).where(c.c.snapshot_id == snapshot_id)).first() is not None
        )


def prune_snapshots(db: Database, *, older_than: datetime) -> int:
    """Delete rating snapshots taken before ``older_than`` that no promotion cycle points
    at (the 5-minute snapshots pile up: 288 a day). The newest snapshot is always kept.
    Returns how many were deleted."""
    s, r, c = table("rating_snapshots"), table("ratings"), table("promotion_cycles")
    with db.begin() as conn:
        keep = select(c.c.snapshot_id).where(c.c.snapshot_id.is_not(None))
        newest = conn.execute(
            select(s.c.id).order_by(s.c.at.desc(), s.c.id.desc()).limit(1)
        ).scalar()
        ids = list(
            conn.execute(
                select(s.c.id).where(s.c.at < older_than, s.c.id.not_in(keep), s.c.id != newest)
            ).scalars()
        )
        if ids:
            conn.execute(delete(r).where(r.c.snapshot_id.in_(ids)))
            conn.execute(delete(s).where(s.c.id.in_(ids)))
    return len(ids)


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    time_key: str
    at: datetime
    as_of: datetime | None
    n_configs: int
    n_trials_effective: float | None
    sr_variance: float | None
    pbo: float | None
    summary: dict[str, Any] = field(default_factory=dict)


def latest_snapshot(db: Database) -> SnapshotInfo | None:
    return _snapshot(
        db, select(RatingSnapshot).order_by(RatingSnapshot.at.desc(), RatingSnapshot.id.desc())
    )


def snapshot_by_key(db: Database, time_key: str) -> SnapshotInfo | None:
    return _snapshot(db, select(RatingSnapshot).where(RatingSnapshot.time_key == time_key))


def _snapshot(db: Database, stmt: Any) -> SnapshotInfo | None:
    with db.session() as s:
        row = s.scalars(stmt).first()
        if row is None:
            return None
        return SnapshotInfo(
            row.id,
            row.time_key,
            row.at,
            row.as_of,
            row.n_configs,
            row.n_trials_effective,
            row.sr_variance,
            row.pbo,
            json.loads(row.summary) if row.summary else {},
        )


def snapshot_table(db: Database, snapshot_id: int) -> pd.DataFrame:
    """The ratings of a snapshot: one row per config, core columns plus every metric."""
    t = Rating.__table__
    with db.begin() as conn:
        frame = read_frame(conn, select(t).where(t.c.snapshot_id == snapshot_id))
    if frame.empty:
        return frame
    metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
    out = pd.concat([frame[["config_id", *_CORE]], metrics], axis=1).set_index("config_id")
    return out.sort_values("rank")


# -- promotion cycles --------------------------------------------------------------------
def save_cycle(db: Database, cycle: Cycle, *, time_key: str, snapshot_id: int | None) -> int:
    with db.begin() as conn:
        cid = conn.execute(
            insert(table("promotion_cycles")).values(
                time_key=time_key,
                at=cycle.at.replace(tzinfo=None),
                snapshot_id=snapshot_id,
                active=json.dumps(list(cycle.active)),
                note=cycle.note,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        rows = [
            {
                "cycle_id": cid,
                "config_id": d.config_id,
                "action": d.action,
                "rank": d.rank,
                "score": _clean(d.score) if d.score is not None else None,
                "reason": d.reason,
            }
            for d in (*cycle.decisions, *cycle.skipped)
        ]
        upsert(conn, table("promotions"), rows, keys=["cycle_id", "config_id"])
    return int(cid)


@dataclass(frozen=True)
class CycleInfo:
    id: int
    time_key: str
    at: datetime
    active: tuple[str, ...]
    note: str


def cycle_by_key(db: Database, time_key: str) -> CycleInfo | None:
    with db.session() as s:
        row = s.scalars(select(PromotionCycle).where(PromotionCycle.time_key == time_key)).first()
        return (
            None
            if row is None
            else CycleInfo(row.id, row.time_key, row.at, tuple(json.loads(row.active)), row.note)
        )


def latest_cycle(db: Database) -> CycleInfo | None:
    with db.session() as s:
        row = s.scalars(
            select(PromotionCycle).order_by(PromotionCycle.at.desc(), PromotionCycle.id.desc())
        ).first()
        return (
            None
            if row is None
            else CycleInfo(row.id, row.time_key, row.at, tuple(json.loads(row.active)), row.note)
        )


HEALTH_SUFFIX = "/health"  # time key of a health demotion: "<monitor key of its bar>/health"


def cycle_in_force(db: Database, bar: datetime) -> CycleInfo | None:
    """The live set as it stood at ``bar``: the newest cycle decided on information up to
    ``bar`` — a promotion cycle whose snapshot rated bars up to ``bar``, or a health
    demotion judged at a bar up to ``bar``. A cycle whose bar is unknown (no snapshot, or
    its snapshot pruned) counts as in force. None when no cycle qualifies."""
    c, snap = PromotionCycle.__table__, RatingSnapshot.__table__
    stmt = (
        select(c.c.id, c.c.time_key, c.c.at, c.c.active, c.c.note, snap.c.as_of)
        .outerjoin(snap, c.c.snapshot_id == snap.c.id)
        .order_by(c.c.at.desc(), c.c.id.desc())
    )
    with db.begin() as conn:
        for row in conn.execute(stmt):
            decided_on = row.as_of if row.as_of is not None else _health_bar(row.time_key)
            if decided_on is None or decided_on <= bar:
                active = tuple(json.loads(row.active))
                return CycleInfo(row.id, row.time_key, row.at, active, row.note)
    return None


def _health_bar(time_key: str) -> datetime | None:
    if not time_key.endswith(HEALTH_SUFFIX):
        return None
    try:
        return datetime.strptime(time_key.removesuffix(HEALTH_SUFFIX), "%Y-%m-%dT%H:%M")
    except ValueError:
        return None


def cycle_decisions(db: Database, cycle_id: int) -> pd.DataFrame:
    t = Promotion.__table__
    with db.begin() as conn:
        return read_frame(conn, select(t).where(t.c.cycle_id == cycle_id).order_by(t.c.rank))


def incumbents(db: Database) -> dict[str, datetime]:
    """The active set of the latest cycle, each with the time of its latest promotion."""
    cycle = latest_cycle(db)
    if cycle is None or not cycle.active:
        return {}
    p = Promotion.__table__
    c = PromotionCycle.__table__
    with db.begin() as conn:
        rows = conn.execute(
            select(p.c.config_id, c.c.at)
            .join(c, p.c.cycle_id == c.c.id)
            .where(p.c.action == "promoted", p.c.config_id.in_(list(cycle.active)))
        ).all()
    since: dict[str, datetime] = {}
    for cid, at in rows:
        if cid not in since or at > since[cid]:
            since[cid] = at
    return {cid: since.get(cid, cycle.at) for cid in cycle.active}


# -- rebalances --------------------------------------------------------------------------
def save_rebalance(
    db: Database,
    *,
    time_key: str,
    bar_ts: datetime,
    at: datetime,
    cycle_id: int | None,
    n_active: int,
    weights: pd.Series,
    gross: float,
    note: str,
    export_path: str | None,
) -> int:
    with db.begin() as conn:
        t = table("rebalances")
        old = conn.execute(select(t.c.id).where(t.c.time_key == time_key)).scalar_one_or_none()
        if old is not None:
            conn.execute(
                delete(table("rebalance_weights")).where(
                    table("rebalance_weights").c.rebalance_id == old
                )
            )
            conn.execute(delete(t).where(t.c.id == old))
        rid = conn.execute(
            insert(t).values(
                time_key=time_key,
                bar_ts=bar_ts,
                at=at,
                cycle_id=cycle_id,
                n_active=n_active,
                gross=gross,
                note=note,
                export_path=export_path,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        rows = [
            {"rebalance_id": rid, "asset": str(a), "weight": float(w)} for a, w in weights.items()
        ]
        upsert(conn, table("rebalance_weights"), rows, keys=["rebalance_id", "asset"])
    return int(rid)


@dataclass(frozen=True)
class RebalanceInfo:
    id: int
    time_key: str
    bar_ts: datetime
    at: datetime
    n_active: int
    gross: float
    note: str
    export_path: str | None
    weights: dict[str, float]


def _rebalance_info(db: Database, row: Rebalance) -> RebalanceInfo:
    t = RebalanceWeight.__table__
    with db.begin() as conn:
        weights = dict(
            conn.execute(
                select(t.c.asset, t.c.weight).where(t.c.rebalance_id == row.id).order_by(t.c.asset)
            ).all()
        )
    return RebalanceInfo(
        row.id,
        row.time_key,
        row.bar_ts,
        row.at,
        row.n_active,
        row.gross,
        row.note,
        row.export_path,
        weights,
    )


def rebalance_by_key(db: Database, time_key: str) -> RebalanceInfo | None:
    with db.session() as s:
        row = s.scalars(select(Rebalance).where(Rebalance.time_key == time_key)).first()
    return None if row is None else _rebalance_info(db, row)


def latest_rebalance(db: Database) -> RebalanceInfo | None:
    with db.session() as s:
        row = s.scalars(
            select(Rebalance).order_by(Rebalance.bar_ts.desc(), Rebalance.id.desc())
        ).first()
    return None if row is None else _rebalance_info(db, row)


def previous_rebalance(db: Database, bar_ts: datetime) -> RebalanceInfo | None:
    """The latest rebalance of a bar before ``bar_ts`` (what the book holds going in)."""
    with db.session() as s:
        row = s.scalars(
            select(Rebalance)
            .where(Rebalance.bar_ts < bar_ts)
            .order_by(Rebalance.bar_ts.desc(), Rebalance.id.desc())
        ).first()
    return None if row is None else _rebalance_info(db, row)


# -- job runs ----------------------------------------------------------------------------
def run_status(db: Database, job: str, time_key: str) -> str | None:
    t = Run.__table__
    with db.begin() as conn:
        return conn.execute(
            select(t.c.status).where(t.c.job == job, t.c.time_key == time_key)
        ).scalar_one_or_none()


def last_done_key(db: Database, job: str) -> str | None:
    """The greatest time key with a finished run of ``job`` (keys that sort in time, such
    as the monitor's bar keys), or None."""
    t = Run.__table__
    with db.begin() as conn:
        return conn.execute(
            select(func.max(t.c.time_key)).where(t.c.job == job, t.c.status == "done")
        ).scalar_one_or_none()


def record_run(
    db: Database,
    job: str,
    time_key: str,
    *,
    status: str,
    at: datetime,
    detail: str = "",
    error: str | None = None,
) -> None:
    row = {
        "job": job,
        "time_key": time_key,
        "status": status,
        "started_at": at,
        "finished_at": at if status != "running" else None,
        "detail": detail,
        "error": error,
    }
    with db.begin() as conn:
        upsert(
            conn,
            table("runs"),
            [row],
            keys=["job", "time_key"],
            update=["status", "finished_at", "detail", "error"],
        )


def recent_runs(db: Database, limit: int = 20) -> Sequence[Run]:
    with db.session() as s:
        return list(s.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)))
