"""The ``retrains`` table: what the health monitor asked the evaluation to do, and what
became of it (`factory.monitor.retrain` has the policy, `factory.monitor.challenger` runs
the shadow challengers).

Two kinds of row:

* ``refit`` — a config turned red: its next bar (the first after ``after_ts``) starts a
  new block fitted from scratch. Status ``pending`` until the config's evaluation has
  passed that bar, then ``applied``.
* ``shadow`` — a config turned yellow: a challenger (the same config refitted at the
  first bar after ``after_ts``) runs beside it, status ``running``; after
  ``[monitor] challenger_bars`` bars it is ``won`` or ``lost`` (or ``cancelled`` /
  ``failed``). A won challenger's model is switched in at the first bar after
  ``swap_after_ts``.

Both become `ScheduleChange`\\ s of the config's evaluation (`schedule_changes`), so a full
re-evaluation of the config repeats them at the same bars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from factory.evaluation.engine import EvalState, ModelRef, ScheduleChange
from factory.storage.database import Database, table

REFIT_STATUSES = ("pending", "applied")


@dataclass(frozen=True)
class RetrainRequest:
    """A new row, as the monitor decides it."""

    config_id: str
    mode: str  # refit | shadow
    eval_key: str
    requested_bar: datetime
    after_ts: datetime
    reason: str
    state: EvalState | None = None  # shadow: the champion's state the challenger starts from


@dataclass(frozen=True)
class RetrainRow:
    id: int
    config_id: str
    mode: str
    status: str
    eval_key: str
    requested_at: datetime
    requested_bar: datetime
    after_ts: datetime
    reason: str
    state: EvalState | None
    bars: int
    champion_net: float | None
    challenger_net: float | None
    swap_after_ts: datetime | None
    model: ModelRef | None
    decided_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class ChallengerUpdate:
    """A running challenger's progress, or its decision (``status`` other than running)."""

    id: int
    status: str
    state: EvalState | None
    bars: int
    champion_net: float | None = None
    challenger_net: float | None = None
    swap_after_ts: datetime | None = None
    model: ModelRef | None = None
    decided_at: datetime | None = None
    note: str | None = None


def insert_requests(conn: Connection, requests: Sequence[RetrainRequest], *, at: datetime) -> None:
    """Insert ``requests`` (refit rows ``pending``, shadow rows ``running``) and cancel the
    running challengers of every config that gets a refit: inside the caller's
    transaction (the monitor stores them with its verdicts)."""
    if not requests:
        return
    refits = sorted({r.config_id for r in requests if r.mode == "refit"})
    if refits:
        t = table("retrains")
        conn.execute(
            update(t)
            .where(t.c.config_id.in_(refits), t.c.status == "running")
            .values(status="cancelled", decided_at=at, note="superseded by a forced refit (red)")
        )
    conn.execute(
        insert(table("retrains")),
        [
            {
                "config_id": r.config_id,
                "eval_key": r.eval_key,
                "mode": r.mode,
                "status": "pending" if r.mode == "refit" else "running",
                "requested_at": at,
                "requested_bar": r.requested_bar,
                "after_ts": r.after_ts,
                "reason": r.reason,
                "state": None if r.state is None else json.dumps(r.state.to_json(), sort_keys=True),
                "bars": 0,
            }
            for r in requests
        ],
    )


def load_retrains(
    db: Database,
    *,
    statuses: Sequence[str] | None = None,
    config_ids: Sequence[str] | None = None,
) -> list[RetrainRow]:
    """Rows in request order, optionally only those with one of ``statuses`` / of
    ``config_ids``."""
    t = table("retrains")
    stmt = select(t).order_by(t.c.id)
    if statuses is not None:
        stmt = stmt.where(t.c.status.in_(list(statuses)))
    if config_ids is not None:
        stmt = stmt.where(t.c.config_id.in_(list(config_ids)))
    with db.begin() as conn:
        return [_row(r) for r in conn.execute(stmt).mappings()]


def _row(r: Any) -> RetrainRow:
    return RetrainRow(
        id=r["id"],
        config_id=r["config_id"],
        mode=r["mode"],
        status=r["status"],
        eval_key=r["eval_key"],
        requested_at=r["requested_at"],
        requested_bar=r["requested_bar"],
        after_ts=r["after_ts"],
        reason=r["reason"],
        state=None if r["state"] is None else EvalState.from_json(json.loads(r["state"])),
        bars=r["bars"],
        champion_net=r["champion_net"],
        challenger_net=r["challenger_net"],
        swap_after_ts=r["swap_after_ts"],
        model=None if r["model"] is None else ModelRef.from_json(json.loads(r["model"])),
        decided_at=r["decided_at"],
        note=r["note"],
    )


def schedule_changes(
    db: Database, eval_key: str, config_ids: Sequence[str] | None = None
) -> dict[str, tuple[ScheduleChange, ...]]:
    """Each config's out-of-schedule block starts under ``eval_key``, oldest first: every
    refit row (pending or applied) and every won challenger's switch. Rows under other
    settings are not replayed (a new evaluation key starts a new record)."""
    rows = load_retrains(db, statuses=(*REFIT_STATUSES, "won"), config_ids=config_ids)
    out: dict[str, list[tuple[datetime, int, ScheduleChange]]] = {}
    for r in rows:
        if r.eval_key != eval_key:
            continue
        if r.mode == "refit":
            change = ScheduleChange(r.after_ts)
            when = r.after_ts
        else:
            assert r.swap_after_ts is not None and r.model is not None
            change = ScheduleChange(r.swap_after_ts, r.model)
            when = r.swap_after_ts
        out.setdefault(r.config_id, []).append((when, r.id, change))
    return {cid: tuple(c for _, _, c in sorted(items)) for cid, items in out.items()}


def save_challengers(
    conn: Connection, updates: Sequence[ChallengerUpdate], applied: Sequence[int] = ()
) -> None:
    """Write challengers' progress and decisions, and mark refit rows ``applied`` —
    inside the caller's transaction."""
    t = table("retrains")
    if applied:
        conn.execute(update(t).where(t.c.id.in_(list(applied))).values(status="applied"))
    for u in updates:
        conn.execute(
            update(t)
            .where(t.c.id == u.id)
            .values(
                status=u.status,
                state=None if u.state is None else json.dumps(u.state.to_json(), sort_keys=True),
                bars=u.bars,
                champion_net=u.champion_net,
                challenger_net=u.challenger_net,
                swap_after_ts=u.swap_after_ts,
                model=None if u.model is None else json.dumps(u.model.to_json(), sort_keys=True),
                decided_at=u.decided_at,
                note=u.note,
            )
        )
