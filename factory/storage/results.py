"""Configs, evaluation records, signals, returns, artifacts and trials.

`store_results` appends what evaluations produced in a single transaction, so a crash
leaves either the old records or the new ones, never half of them. A config's signals
and returns for a bar are final once written (point in time): later evaluations only
append bars. When the evaluation settings change (a different ``eval_key``) the config's
record is retired — its summary stays in ``trials`` and counts in the multiple-testing
population — and a new record starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, func, select

from factory.evaluation.engine import EvalState, EvaluationResult
from factory.plan import ModelConfig
from factory.storage import return_cache
from factory.storage.database import Database, bulk_upsert, read_frame, table, upsert
from factory.storage.schema import Artifact, Config, Evaluation, Signal


def upsert_configs(db: Database, configs: Iterable[ModelConfig], *, at: datetime) -> int:
    """Record configs (existing ids are left untouched). Returns how many were new."""
    rows = [
        {
            "config_id": c.config_id,
            "architecture": c.architecture,
            "arch_version": c.arch_version,
            "family": c.family,
            "lookback": c.lookback,
            "feature_set": c.feature_set,
            "feature_selection": c.feature_selection,
            "params": c.params_json(),
            "created_at": at,
        }
        for c in configs
    ]
    t = table("configs")
    with db.begin() as conn:
        before = conn.execute(select(func.count()).select_from(t)).scalar_one()
        upsert(conn, t, rows, keys=["config_id"])
        after = conn.execute(select(func.count()).select_from(t)).scalar_one()
    return int(after - before)


@dataclass(frozen=True)
class EvaluationState:
    """A config's evaluation record as stored (``state`` is the engine's resumable state,
    None when the config never produced a record)."""

    config_id: str
    eval_key: str
    status: str
    last_ts: datetime | None
    error: str | None
    fit_seconds: float
    predict_seconds: float
    n_predictions: int
    attempts: int = 0
    next_retry_at: datetime | None = None
    state: EvalState | None = None
    first_ts: datetime | None = None


def evaluation_states(db: Database, ids: Sequence[str] | None = None) -> dict[str, EvaluationState]:
    with db.session() as s:
        stmt = select(Evaluation)
        if ids is not None:
            stmt = stmt.where(Evaluation.config_id.in_(list(ids)))
        rows = s.scalars(stmt).all()
        return {
            r.config_id: EvaluationState(
                r.config_id,
                r.eval_key,
                r.status,
                r.last_ts,
                r.error,
                r.fit_seconds,
                r.predict_seconds,
                r.n_predictions,
                r.attempts or 0,
                r.next_retry_at,
                None if r.state is None else EvalState.from_json(json.loads(r.state)),
                r.first_ts,
            )
            for r in rows
        }


def record_settings(
    db: Database, eval_key: str, settings: Mapping[str, Any], *, at: datetime
) -> None:
    """Remember what an evaluation settings key stands for (first use wins)."""
    row = {
        "eval_key": eval_key,
        "settings": json.dumps(settings, sort_keys=True),
        "first_used_at": at,
    }
    with db.begin() as conn:
        upsert(conn, table("eval_settings"), [row], keys=["eval_key"])


@dataclass(frozen=True)
class RetryPolicy:
    """A failing config is retried after ``backoff`` (doubling per attempt) until
    ``max_attempts`` consecutive failures; then it is given up (``next_retry_at`` None)."""

    max_attempts: int = 3
    backoff: timedelta = timedelta(minutes=30)

    def next_retry(self, attempts: int, at: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        return at + self.backoff * (2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class StoreItem:
    """One evaluation result to store. ``fresh``: it started from no state (a first or a
    forced evaluation), so any earlier record of the config is replaced."""

    result: EvaluationResult
    fresh: bool


def store_result(
    db: Database,
    result: EvaluationResult,
    *,
    eval_key: str,
    at: datetime,
    fresh: bool = True,
    retry: RetryPolicy | None = None,
) -> list[str]:
    """Store one result (see `store_results`)."""
    return store_results(db, [StoreItem(result, fresh)], eval_key=eval_key, at=at, retry=retry)


def store_results(
    db: Database,
    items: Sequence[StoreItem],
    *,
    eval_key: str,
    at: datetime,
    retry: RetryPolicy | None = None,
) -> list[str]:
    """Append what evaluations produced, all in one transaction: a crash leaves either
    the old records or the new ones. Returns the ids of configs given up on (their
    ``max_attempts``-th consecutive failure).

    * done: the new bars' signals and ledger rows are *appended* (rows of earlier bars are
      never touched), the artifacts recorded, the state replaced;
    * failed with a record under the same settings: the record stays (status "done",
      the error and the attempt count set, a retry scheduled);
    * failed without one: status "failed";
    * a fresh evaluation, or one under new settings, first retires the config's earlier
      record: its summary stays in ``trials`` (it was tried and counts), its rows go.
    """
    retry = retry or RetryPolicy()
    given_up: list[str] = []
    with db.begin() as conn:
        for item in items:
            if _store_one(conn, item, eval_key=eval_key, at=at, retry=retry):
                given_up.append(item.result.config_id)
    return given_up


def _store_one(
    conn: Connection, item: StoreItem, *, eval_key: str, at: datetime, retry: RetryPolicy
) -> bool:
    result = item.result
    cid = result.config_id
    ev = table("evaluations")
    prev = conn.execute(
        select(ev.c.eval_key, ev.c.state, ev.c.attempts).where(ev.c.config_id == cid)
    ).first()
    has_record = prev is not None and prev.state is not None and prev.eval_key == eval_key
    replaces = prev is not None and (prev.eval_key != eval_key or item.fresh)
    if result.status == "failed":
        attempts = (prev.attempts or 0) + 1 if prev is not None and prev.eval_key == eval_key else 1
        nxt = retry.next_retry(attempts, at)
        if has_record and not item.fresh:
            conn.execute(
                ev.update()
                .where(ev.c.config_id == cid)
                .values(error=result.error, attempts=attempts, next_retry_at=nxt, updated_at=at)
            )
        else:
            if replaces:
                _retire_record(conn, cid, at)
            row = _evaluation_row(cid, eval_key, at)
            row.update(status="failed", error=result.error, attempts=attempts, next_retry_at=nxt)
            upsert(conn, ev, [row], keys=["config_id"], update=[k for k in row if k != "config_id"])
            _trial(conn, cid, eval_key, "failed", at)
        return nxt is None
    state = result.state
    assert state is not None
    if replaces:
        _retire_record(conn, cid, at)
    _append_rows(conn, result)
    art_rows = [
        {
            "config_id": cid,
            "trained_at": ref.trained_at,
            "uri": ref.uri,
            "sha256": ref.sha256,
            "size_bytes": ref.size_bytes,
            "feature_schema": json.dumps(ref.schema, sort_keys=True, default=str),
            "created_at": at,
            "pruned": False,
            "eval_key": eval_key,
        }
        for ref in result.artifacts
    ]
    upsert(conn, table("artifacts"), art_rows, keys=["uri"])
    row = _evaluation_row(cid, eval_key, at)
    row.update(
        status="done",
        error=None,
        state=json.dumps(state.to_json(), sort_keys=True),
        first_ts=state.first_row_ts,
        last_ts=state.last_ts,
        last_retrain_ts=None if state.model is None else state.model.trained_at,
        n_retrains=state.n_retrains,
        n_predictions=state.n_predictions,
        fit_seconds=state.fit_seconds,
        predict_seconds=state.predict_seconds,
        attempts=0,
        next_retry_at=None,
    )
    upsert(conn, ev, [row], keys=["config_id"], update=[k for k in row if k != "config_id"])
    _trial(conn, cid, eval_key, "done", at)
    return False


def _evaluation_row(cid: str, eval_key: str, at: datetime) -> dict[str, Any]:
    return {
        "config_id": cid,
        "eval_key": eval_key,
        "status": "failed",
        "error": None,
        "state": None,
        "first_ts": None,
        "last_ts": None,
        "last_retrain_ts": None,
        "n_retrains": 0,
        "n_predictions": 0,
        "fit_seconds": 0.0,
        "predict_seconds": 0.0,
        "attempts": 0,
        "next_retry_at": None,
        "updated_at": at,
    }


def _append_rows(conn: Connection, result: EvaluationResult) -> None:
    cid = result.config_id
    sig = result.signals_frame()
    long = pd.Series(sig.stack(future_stack=True), name="signal").dropna().reset_index()
    long.columns = ["ts", "asset", "signal"]
    long.insert(0, "config_id", cid)
    long["signal"] = long["signal"].astype("float64")
    bulk_upsert(conn, table("signals"), long, keys=["config_id", "asset", "ts"])
    ret = result.returns_frame().reset_index()
    ret.columns = ["ts", "net_return", "gross_return", "turnover", "cost"]
    ret.insert(0, "config_id", cid)
    bulk_upsert(conn, table("config_returns"), ret, keys=["config_id", "ts"])


def _retire_record(conn: Connection, cid: str, at: datetime) -> None:
    """Archive the config's current record into ``trials`` and remove its rows (a new
    trial — other settings, or a forced re-evaluation — replaces it)."""
    ev, cr, tr = table("evaluations"), table("config_returns"), table("trials")
    key = conn.execute(select(ev.c.eval_key).where(ev.c.config_id == cid)).scalar_one_or_none()
    if key is None:
        return
    stats = conn.execute(
        select(
            func.count(cr.c.net_return),
            func.avg(cr.c.net_return),
            func.avg(cr.c.net_return * cr.c.net_return),
        ).where(cr.c.config_id == cid)
    ).one()
    n, mean, mean_sq = int(stats[0] or 0), stats[1], stats[2]
    sharpe = None
    if n > 1 and mean is not None and mean_sq is not None:
        var = (float(mean_sq) - float(mean) ** 2) * n / (n - 1)
        sharpe = float(mean) / var**0.5 if var > 0 else None
    conn.execute(
        tr.update()
        .where(tr.c.config_id == cid, tr.c.eval_key == key)
        .values(ended_at=at, n_obs=n, sharpe=sharpe)
    )
    for name in ("signals", "config_returns"):
        conn.execute(delete(table(name)).where(table(name).c.config_id == cid))
    # Readers that cache records (factory.storage.return_cache) see a new generation.
    conn.execute(
        ev.update().where(ev.c.config_id == cid).values(record_version=ev.c.record_version + 1)
    )
    art = table("artifacts")
    conn.execute(art.update().where(art.c.config_id == cid).values(pruned=True))


def _trial(conn: Connection, cid: str, eval_key: str, status: str, at: datetime) -> None:
    row = {
        "config_id": cid,
        "eval_key": eval_key,
        "status": status,
        "started_at": at,
        "ended_at": None,
        "n_obs": 0,
        "sharpe": None,
    }
    tr = table("trials")
    existing = conn.execute(
        select(tr.c.status).where(tr.c.config_id == cid, tr.c.eval_key == eval_key)
    ).scalar_one_or_none()
    if existing is None:
        upsert(conn, tr, [row], keys=["config_id", "eval_key"])
    elif existing != status and status == "done":
        conn.execute(
            tr.update()
            .where(tr.c.config_id == cid, tr.c.eval_key == eval_key)
            .values(status="done")
        )


@dataclass(frozen=True)
class TrialCounts:
    """The multiple-testing population behind the deflated Sharpe ratio: every (config,
    evaluation settings) pair tried. ``current`` under the current settings, ``earlier``
    under settings since changed (their returns are gone, the trial still counts)."""

    current: int
    current_failed: int
    earlier: int


def trial_counts(db: Database, eval_key: str) -> TrialCounts:
    tr = table("trials")
    with db.begin() as conn:
        rows = conn.execute(
            select(tr.c.eval_key, tr.c.status, func.count()).group_by(tr.c.eval_key, tr.c.status)
        ).all()
    current = sum(int(n) for key, _, n in rows if key == eval_key)
    failed = sum(int(n) for key, status, n in rows if key == eval_key and status == "failed")
    earlier = sum(int(n) for key, _, n in rows if key != eval_key)
    return TrialCounts(current, failed, earlier)


def tuning_trials(db: Database) -> int:
    """Trials run by hyperparameter studies (`factory tune`, the refine job): the sum of
    the ``tuning_studies`` ledger — every trial, complete, pruned or failed."""
    t = table("tuning_studies")
    with db.begin() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(t.c.n_trials), 0))).scalar_one())


def bred_ids(db: Database) -> list[str]:
    """Configs bred by tuning studies (``lineage`` set), retired or not."""
    t = table("configs")
    with db.begin() as conn:
        return list(conn.execute(select(t.c.config_id).where(t.c.lineage.is_not(None))).scalars())


def retired_ids(db: Database) -> set[str]:
    """Configs retired from the pool (`factory.refine.pool`): history kept, not evaluated
    or rated any more."""
    t = table("configs")
    with db.begin() as conn:
        return set(conn.execute(select(t.c.config_id).where(t.c.retired_at.is_not(None))).scalars())


def load_configs(db: Database, ids: Sequence[str] | None = None) -> pd.DataFrame:
    t = Config.__table__
    stmt = select(t)
    if ids is not None:
        stmt = stmt.where(t.c.config_id.in_(list(ids)))
    with db.begin() as conn:
        return read_frame(conn, stmt.order_by(t.c.config_id), datetimes=["created_at"]).set_index(
            "config_id"
        )


def load_returns(
    db: Database, column: str = "net_return", ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """``T x configs`` matrix of a config_returns column (NaN where a config has no row)."""
    return load_return_matrices(db, (column,), ids=ids)[column]


def load_return_matrices(
    db: Database, columns: Sequence[str], ids: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Several config_returns columns as ``T x configs`` matrices, read in one pass; the
    whole pool (``ids=None``, the rating snapshot) incrementally through
    `factory.storage.return_cache`."""
    if ids is None:
        return return_cache.cached_matrices(db, columns)
    return return_cache.to_matrices(return_cache.read_long(db, columns, ids=ids), columns)


def latest_signals(db: Database, ids: Sequence[str]) -> pd.DataFrame:
    """For each config: its signals at its latest signal bar (rows config_id, asset, ts, signal)."""
    t = Signal.__table__
    with db.begin() as conn:
        last = (
            select(t.c.config_id, func.max(t.c.ts).label("ts"))
            .where(t.c.config_id.in_(list(ids)))
            .group_by(t.c.config_id)
            .subquery()
        )
        stmt = select(t.c.config_id, t.c.asset, t.c.ts, t.c.signal).join(
            last, (t.c.config_id == last.c.config_id) & (t.c.ts == last.c.ts)
        )
        return read_frame(conn, stmt, datetimes=["ts"])


def load_signals(db: Database, config_id: str) -> pd.DataFrame:
    """``T x assets`` signals of one config."""
    t = Signal.__table__
    with db.begin() as conn:
        long = read_frame(
            conn,
            select(t.c.ts, t.c.asset, t.c.signal).where(t.c.config_id == config_id),
            datetimes=["ts"],
        )
    if long.empty:
        return pd.DataFrame(dtype=float)
    return long.pivot(index="ts", columns="asset", values="signal").sort_index()


@dataclass(frozen=True)
class MeasuredCost:
    """What evaluations of one architecture cost so far (seconds per config)."""

    configs: int
    fit_seconds: float
    predict_seconds: float
    retrains: float


def architecture_cost(db: Database, architecture: str) -> MeasuredCost | None:
    """Mean fit / predict seconds and refits per evaluated config of ``architecture``
    (None when none was evaluated in this database)."""
    ev, cf = table("evaluations"), table("configs")
    stmt = (
        select(
            func.count(),
            func.avg(ev.c.fit_seconds),
            func.avg(ev.c.predict_seconds),
            func.avg(ev.c.n_retrains),
        )
        .select_from(ev.join(cf, ev.c.config_id == cf.c.config_id))
        .where(cf.c.architecture == architecture, ev.c.status == "done")
    )
    with db.begin() as conn:
        n, fit, predict, retrains = conn.execute(stmt).one()
    if not n:
        return None
    return MeasuredCost(int(n), float(fit or 0), float(predict or 0), float(retrains or 0))


def compute_costs(states: Mapping[str, EvaluationState]) -> dict[str, float]:
    """Seconds of fit + predict per prediction, per config (from evaluation records)."""
    return {
        cid: (st.fit_seconds + st.predict_seconds) / st.n_predictions
        for cid, st in states.items()
        if st.n_predictions > 0
    }


def artifacts_for(db: Database, config_id: str, *, include_pruned: bool = False) -> list[Artifact]:
    with db.session() as s:
        stmt = select(Artifact).where(Artifact.config_id == config_id)
        if not include_pruned:
            stmt = stmt.where(Artifact.pruned.is_(False))
        return list(s.scalars(stmt.order_by(Artifact.trained_at)))


def mark_pruned(db: Database, ids: Sequence[int]) -> None:
    if not ids:
        return
    t = table("artifacts")
    with db.begin() as conn:
        conn.execute(t.update().where(t.c.id.in_(list(ids))).values(pruned=True))


def signals_between(
    db: Database,
    start: datetime | None = None,
    end: datetime | None = None,
    ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Stored signals with ``start <= ts <= end`` (either bound optional), of ``ids`` or of
    every config: long rows ``config_id, asset, ts, signal``."""
    t = Signal.__table__
    stmt = select(t.c.config_id, t.c.asset, t.c.ts, t.c.signal)
    if start is not None:
        stmt = stmt.where(t.c.ts >= start)
    if end is not None:
        stmt = stmt.where(t.c.ts <= end)
    if ids is not None:
        stmt = stmt.where(t.c.config_id.in_(list(ids)))
    with db.begin() as conn:
        return read_frame(conn, stmt, datetimes=["ts"])
