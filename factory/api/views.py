"""The API's read side: storage records turned into the response models of
`factory.api.models`. The JSON routes and the dashboard pages both call these, so a page
shows exactly what the matching endpoint returns.

Everything here only reads; a function returns None where the thing asked for does not
exist (the route turns that into a 404).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from factory.api.models import (
    ActiveMember,
    ActiveSetOut,
    ArtifactOut,
    ComputeCost,
    ConfigHealthOut,
    ConfigSignals,
    ConfigSummary,
    CycleOut,
    DatabaseHealth,
    DecisionOut,
    EvaluationOut,
    Health,
    LeaderboardOut,
    LeaderboardRow,
    ModelCard,
    RatingPoint,
    RebalanceOut,
    RetrainOut,
    RunOut,
    SignalsOut,
    SnapshotOut,
)
from factory.app import App
from factory.leaderboard import COLUMNS, leaderboard
from factory.portfolio import ensemble_signals
from factory.storage import decisions
from factory.storage.bars import last_bar_ts
from factory.storage.database import Database
from factory.storage.health import HealthRow, load_health
from factory.storage.results import artifacts_for, latest_signals, load_configs
from factory.storage.retrains import RetrainRow, load_retrains
from factory.storage.schema import (
    Config,
    Evaluation,
    Promotion,
    PromotionCycle,
    Rating,
    RatingSnapshot,
    Rebalance,
    RebalanceWeight,
    Run,
)


def plain(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf -> None, timestamps ->
    datetime (pydantic renders them as ISO 8601)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


# -- health ---------------------------------------------------------------------------------
def health(app: App) -> Health:
    """Database reachable, newest bar, live set size, newest run of each job."""
    db = app.db
    backend = db.engine.dialect.name
    try:
        last_bar = last_bar_ts(db)
        cycle = decisions.latest_cycle(db)
        runs = last_runs(db)
        verdicts = load_health(db)
        retrains = {r.config_id: r for r in load_retrains(db)}  # the latest per config
    except SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        return Health(
            status="unavailable",
            now=app.now(),
            database=DatabaseHealth(reachable=False, backend=backend, error=message),
        )
    failed = any(r.status == "failed" for r in runs.values())
    return Health(
        status="degraded" if failed else "ok",
        now=app.now(),
        database=DatabaseHealth(reachable=True, backend=backend),
        last_bar=last_bar,
        live_set_size=len(cycle.active) if cycle else 0,
        last_cycle=cycle.time_key if cycle else None,
        last_runs=runs,
        configs=config_health(verdicts, cycle.active if cycle else (), retrains),
    )


_ORDER = {"red": 0, "yellow": 1, "green": 2}


def config_health(
    verdicts: Mapping[str, HealthRow],
    live: Sequence[str],
    retrains: Mapping[str, RetrainRow] | None = None,
) -> list[ConfigHealthOut]:
    """The stored verdicts, red first, then yellow, then green (by config id within), each
    with the latest retrain asked for."""
    rows = sorted(verdicts.values(), key=lambda r: (_ORDER.get(r.state, 3), r.config_id))
    retrains = retrains or {}
    return [
        ConfigHealthOut(
            config_id=r.config_id,
            state=r.state,
            live=r.config_id in live,
            since=r.since,
            checked_at=r.checked_at,
            as_of=r.as_of,
            reasons=list(r.reasons),
            metrics=dict(r.metrics),
            retrain=_retrain_out(retrains.get(r.config_id)),
        )
        for r in rows
    ]


def _retrain_out(r: RetrainRow | None) -> RetrainOut | None:
    if r is None:
        return None
    return RetrainOut(
        id=r.id,
        mode=r.mode,
        status=r.status,
        requested_at=r.requested_at,
        after=r.after_ts,
        reason=r.reason,
        bars=r.bars,
        champion_net=r.champion_net,
        challenger_net=r.challenger_net,
        note=r.note,
    )


def _run_out(r: Run) -> RunOut:
    return RunOut(
        job=r.job,
        time_key=r.time_key,
        status=r.status,
        started_at=r.started_at,
        finished_at=r.finished_at,
        detail=r.detail,
        error=r.error,
    )


def last_runs(db: Database) -> dict[str, RunOut]:
    with db.session() as s:
        jobs = list(s.scalars(select(Run.job).distinct()))
        out = {}
        for job in sorted(jobs):
            row = s.scalars(
                select(Run).where(Run.job == job).order_by(Run.started_at.desc(), Run.id.desc())
            ).first()
            if row is not None:
                out[job] = _run_out(row)
        return out


def runs(db: Database, *, job: str | None = None, limit: int = 50) -> list[RunOut]:
    stmt = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
    if job is not None:
        stmt = stmt.where(Run.job == job)
    with db.session() as s:
        return [_run_out(r) for r in s.scalars(stmt)]


# -- leaderboard ------------------------------------------------------------------------------
def snapshot_out(s: decisions.SnapshotInfo) -> SnapshotOut:
    return SnapshotOut(**plain(s.__dict__))


def leaderboard_out(db: Database, *, top: int | None = None) -> LeaderboardOut | None:
    """The newest snapshot as ``factory leaderboard --format json`` prints it: the
    leaderboard columns first, then every other stored metric."""
    lb = leaderboard(db)
    if lb is None:
        return None
    table = (lb.table if top is None else lb.table.head(top)).reset_index()
    cols = [c for c in COLUMNS if c in table.columns]
    ordered = cols + [c for c in table.columns if c not in cols]
    rows = [LeaderboardRow(**plain(r)) for r in table[ordered].to_dict("records")]
    return LeaderboardOut(snapshot=snapshot_out(lb.snapshot), active=list(lb.active), rows=rows)


def leaderboard_version(db: Database) -> tuple[object, ...]:
    """Changes whenever the leaderboard would: a new or retaken snapshot, a promotion
    cycle (the status column), an evaluation (failures)."""
    snap = select(RatingSnapshot.id, RatingSnapshot.at).order_by(
        RatingSnapshot.at.desc(), RatingSnapshot.id.desc()
    )
    with db.begin() as conn:
        newest = conn.execute(snap.limit(1)).first()
        cycle = conn.execute(select(func.max(PromotionCycle.id))).scalar()
        evaluated = conn.execute(select(func.max(Evaluation.updated_at))).scalar()
    return (tuple(newest) if newest else None, cycle, evaluated)


def rebalance_version(db: Database) -> tuple[object, ...]:
    """Changes with every new or recomputed rebalance. Not the id alone: a recomputed
    rebalance replaces the row, and SQLite may hand the new row the same id."""
    with db.begin() as conn:
        row = conn.execute(
            select(Rebalance.id, Rebalance.time_key, Rebalance.at, Rebalance.gross)
            .order_by(Rebalance.bar_ts.desc(), Rebalance.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return (None,)
        w = RebalanceWeight.__table__
        weights = conn.execute(
            select(func.count(), func.sum(w.c.weight)).where(w.c.rebalance_id == row.id)
        ).first()
    return (*row, *(weights or ()))


# -- configs ----------------------------------------------------------------------------------
def _summary(row: Config, ev: Evaluation | None, active: Sequence[str]) -> ConfigSummary:
    return ConfigSummary(
        config_id=row.config_id,
        architecture=row.architecture,
        arch_version=row.arch_version,
        family=row.family,
        feature_set=row.feature_set,
        feature_selection=row.feature_selection,
        lookback=row.lookback,
        params=json.loads(row.params) if row.params else {},
        created_at=row.created_at,
        status=ev.status if ev is not None else "pending",
        active=row.config_id in active,
        last_ts=ev.last_ts if ev is not None else None,
    )


def _active(db: Database) -> tuple[str, ...]:
    cycle = decisions.latest_cycle(db)
    return cycle.active if cycle else ()


def config_summaries(
    db: Database,
    *,
    ids: Sequence[str] | None = None,
    architecture: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[ConfigSummary]:
    """Configs ordered by id, with evaluation status and live-set membership."""
    active = _active(db)
    stmt = select(Config, Evaluation).outerjoin(
        Evaluation, Evaluation.config_id == Config.config_id
    )
    if ids is not None:
        stmt = stmt.where(Config.config_id.in_(list(ids)))
    if architecture is not None:
        stmt = stmt.where(Config.architecture == architecture)
    if status == "pending":
        stmt = stmt.where(Evaluation.config_id.is_(None))
    elif status is not None:
        stmt = stmt.where(Evaluation.status == status)
    stmt = stmt.order_by(Config.config_id).limit(limit).offset(offset)
    with db.session() as s:
        return [_summary(c, e, active) for c, e in s.execute(stmt)]


def model_card(db: Database, config_id: str, *, history: int = 50) -> ModelCard | None:
    """The model card of one config (None if the id is unknown)."""
    found = config_summaries(db, ids=[config_id])
    if not found:
        return None
    summary = found[0]
    arts = artifacts_for(db, config_id, include_pruned=True)
    schemas = [json.loads(a.feature_schema) for a in arts]
    artifacts = [
        ArtifactOut(
            trained_at=a.trained_at,
            train_start=_dt(sch.get("train_start")),
            train_end=_dt(sch.get("train_end")),
            n_train=sch.get("n_train"),
            uri=a.uri,
            sha256=a.sha256,
            size_bytes=a.size_bytes,
            pruned=a.pruned,
        )
        for a, sch in zip(arts, schemas, strict=True)
    ]
    newest = schemas[-1] if schemas else {}
    with db.session() as s:
        ev = s.get(Evaluation, config_id)
        evaluation = compute = None
        if ev is not None:
            evaluation = EvaluationOut(
                status=ev.status,
                error=ev.error,
                eval_key=ev.eval_key,
                first_ts=ev.first_ts,
                last_ts=ev.last_ts,
                last_retrain_ts=ev.last_retrain_ts,
                n_retrains=ev.n_retrains,
                n_predictions=ev.n_predictions,
                updated_at=ev.updated_at,
            )
            compute = ComputeCost(
                fit_seconds=ev.fit_seconds,
                predict_seconds=ev.predict_seconds,
                n_predictions=ev.n_predictions,
                seconds_per_prediction=(ev.fit_seconds + ev.predict_seconds) / ev.n_predictions
                if ev.n_predictions
                else None,
            )
        rating_rows = s.execute(
            select(Rating, RatingSnapshot)
            .join(RatingSnapshot, Rating.snapshot_id == RatingSnapshot.id)
            .where(Rating.config_id == config_id)
            .order_by(RatingSnapshot.at.desc(), RatingSnapshot.id.desc())
            .limit(history)
        )
        ratings = [
            (
                RatingPoint(
                    time_key=snap.time_key,
                    at=snap.at,
                    rank=r.rank,
                    score=plain(r.score),
                    eligible=r.eligible,
                    gate=r.gate,
                ),
                r,
            )
            for r, snap in rating_rows
        ]
    latest = None
    if ratings:
        point, row = ratings[0]
        latest = {
            "snapshot": point.time_key,
            "rank": point.rank,
            "score": point.score,
            "eligible": point.eligible,
            "gate": point.gate,
            **plain(json.loads(row.metrics)),
        }
    return ModelCard(
        config=summary,
        feature_set_version=newest.get("feature_set_version"),
        features=list(newest.get("features", [])),
        input_kind=newest.get("input"),
        horizon=newest.get("horizon"),
        artifacts=artifacts,
        evaluation=evaluation,
        compute=compute,
        latest_rating=latest,
        rating_history=[p for p, _ in ratings],
        promotions=decisions_for(db, config_id=config_id, limit=history),
    )


def _dt(value: Any) -> datetime | None:
    return None if value is None else pd.Timestamp(value).to_pydatetime()


# -- promotion cycles and the active set --------------------------------------------------------
def decisions_for(
    db: Database,
    *,
    config_id: str | None = None,
    cycle_id: int | None = None,
    include_skipped: bool = True,
    limit: int | None = None,
) -> list[DecisionOut]:
    stmt = select(Promotion, PromotionCycle).join(
        PromotionCycle, Promotion.cycle_id == PromotionCycle.id
    )
    if config_id is not None:
        stmt = stmt.where(Promotion.config_id == config_id)
    if cycle_id is not None:
        stmt = stmt.where(Promotion.cycle_id == cycle_id)
    if not include_skipped:
        stmt = stmt.where(Promotion.action != "skipped")
    stmt = stmt.order_by(
        PromotionCycle.at.desc(), Promotion.rank.is_(None), Promotion.rank, Promotion.config_id
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    with db.session() as s:
        return [
            DecisionOut(
                cycle=c.time_key,
                at=c.at,
                config_id=p.config_id,
                action=p.action,
                rank=p.rank,
                score=plain(p.score),
                reason=p.reason,
            )
            for p, c in s.execute(stmt)
        ]


def _cycle_out(db: Database, row: PromotionCycle, *, include_skipped: bool) -> CycleOut:
    return CycleOut(
        time_key=row.time_key,
        at=row.at,
        active=list(json.loads(row.active)),
        note=row.note,
        decisions=decisions_for(db, cycle_id=row.id, include_skipped=include_skipped),
    )


def cycles(db: Database, *, limit: int = 20, include_skipped: bool = False) -> list[CycleOut]:
    """Promotion cycles, newest first, each with its decisions and their reasons."""
    with db.session() as s:
        rows = list(
            s.scalars(
                select(PromotionCycle)
                .order_by(PromotionCycle.at.desc(), PromotionCycle.id.desc())
                .limit(limit)
            )
        )
    return [_cycle_out(db, r, include_skipped=include_skipped) for r in rows]


def cycle(db: Database, time_key: str, *, include_skipped: bool = True) -> CycleOut | None:
    with db.session() as s:
        row = s.scalars(select(PromotionCycle).where(PromotionCycle.time_key == time_key)).first()
    return None if row is None else _cycle_out(db, row, include_skipped=include_skipped)


def active_set(db: Database) -> ActiveSetOut:
    """The live set of the newest cycle, best first, with when each entered it."""
    latest = decisions.latest_cycle(db)
    if latest is None:
        return ActiveSetOut(note="no promotion cycle yet")
    since = decisions.incumbents(db)
    summaries = {c.config_id: c for c in config_summaries(db, ids=list(latest.active))}
    snap = decisions.latest_snapshot(db)
    ranks: dict[str, tuple[int, float | None]] = {}
    if snap is not None and latest.active:
        with db.session() as s:
            ranks = {
                cid: (rank, plain(score))
                for cid, rank, score in s.execute(
                    select(Rating.config_id, Rating.rank, Rating.score).where(
                        Rating.snapshot_id == snap.id, Rating.config_id.in_(list(latest.active))
                    )
                )
            }
    members = [
        ActiveMember(
            config=summaries[cid],
            since=since.get(cid),
            rank=ranks.get(cid, (None, None))[0],
            score=ranks.get(cid, (None, None))[1],
        )
        for cid in latest.active
        if cid in summaries
    ]
    return ActiveSetOut(cycle=latest.time_key, at=latest.at, note=latest.note, configs=members)


# -- rebalances and signals -------------------------------------------------------------------
def rebalance_out(info: decisions.RebalanceInfo) -> RebalanceOut:
    return RebalanceOut(
        time_key=info.time_key,
        bar_ts=info.bar_ts,
        at=info.at,
        n_active=info.n_active,
        gross=info.gross,
        note=info.note,
        export_file=PurePath(info.export_path).name if info.export_path else None,
        weights={str(a): float(w) for a, w in info.weights.items()},
    )


def rebalance(db: Database, day: date | None = None) -> RebalanceOut | None:
    """The rebalance of a bar date, or the newest one."""
    info = (
        decisions.latest_rebalance(db)
        if day is None
        else decisions.rebalance_by_key(db, f"{day:%Y-%m-%d}")
    )
    return None if info is None else rebalance_out(info)


def signals(db: Database, ids: Sequence[str] | None = None) -> SignalsOut:
    """Each config's newest signals (default: the live set) and their ensemble over the
    configs whose newest signal is for the newest stored bar — what a rebalance now uses."""
    chosen = list(ids) if ids is not None else list(_active(db))
    last_bar = last_bar_ts(db)
    if not chosen:
        return SignalsOut(last_bar=last_bar, configs=[], ensemble={})
    frame = latest_signals(db, chosen)
    out = []
    fresh_rows = []
    for cid in chosen:
        rows = frame[frame["config_id"] == cid]
        if rows.empty:
            continue
        ts = pd.Timestamp(rows["ts"].iloc[0]).to_pydatetime()
        fresh = last_bar is not None and ts == last_bar
        values = {str(a): float(v) for a, v in zip(rows["asset"], rows["signal"], strict=True)}
        out.append(ConfigSignals(config_id=cid, ts=ts, fresh=fresh, signals=values))
        if fresh:
            fresh_rows.append(pd.Series(values, name=cid))
    ensemble = ensemble_signals(pd.DataFrame(fresh_rows)) if fresh_rows else pd.Series(dtype=float)
    return SignalsOut(
        last_bar=last_bar,
        configs=out,
        ensemble={str(a): float(v) for a, v in ensemble.items()},
    )


def count_configs(db: Database) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(Config.__table__)).scalar_one())


def known_ids(db: Database, ids: Sequence[str]) -> set[str]:
    return set(load_configs(db, list(ids)).index)
