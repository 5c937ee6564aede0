"""Configs, evaluation state, signals, returns and artifact records.

`store_result` writes everything one evaluation produced in a single transaction, so a
crash leaves either the old state or the new one, never half of it. Signals and returns
are upserted on their natural keys, so re-running an evaluation rewrites the same rows.
When the evaluation settings changed (a different ``eval_key``), the config's old rows are
deleted first: they answer a different question.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import delete, func, select

from factory.evaluation.engine import EvaluationResult
from factory.plan import ModelConfig
from factory.storage.database import Database, bulk_upsert, read_frame, table, upsert
from factory.storage.schema import Artifact, Config, ConfigReturn, Evaluation, Signal


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
    config_id: str
    eval_key: str
    status: str
    last_ts: datetime | None
    error: str | None
    fit_seconds: float
    predict_seconds: float
    n_predictions: int


def evaluation_states(db: Database) -> dict[str, EvaluationState]:
    with db.session() as s:
        rows = s.scalars(select(Evaluation)).all()
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
            )
            for r in rows
        }


def store_result(db: Database, result: EvaluationResult, *, eval_key: str, at: datetime) -> None:
    cid = result.config_id
    with db.begin() as conn:
        previous = conn.execute(
            select(Evaluation.__table__.c.eval_key).where(Evaluation.__table__.c.config_id == cid)
        ).scalar_one_or_none()
        if previous is not None and previous != eval_key:
            for name in ("signals", "config_returns"):
                conn.execute(delete(table(name)).where(table(name).c.config_id == cid))
        first_ts = None
        if result.status == "done":
            sig = result.signals_frame()
            long = pd.Series(sig.stack(future_stack=True), name="signal").dropna().reset_index()
            long.columns = ["ts", "asset", "signal"]
            long.insert(0, "config_id", cid)
            long["signal"] = long["signal"].astype("float64")
            bulk_upsert(
                conn, table("signals"), long, keys=["config_id", "asset", "ts"], update=["signal"]
            )
            ret = result.returns_frame().reset_index()
            ret.columns = ["ts", "net_return", "gross_return", "turnover"]
            ret.insert(0, "config_id", cid)
            bulk_upsert(
                conn,
                table("config_returns"),
                ret,
                keys=["config_id", "ts"],
                update=["net_return", "gross_return", "turnover"],
            )
            first_ts = (
                pd.Timestamp(result.signal_ts[0]).to_pydatetime() if len(result.signal_ts) else None
            )
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
                }
                for ref in result.artifacts
            ]
            upsert(
                conn,
                table("artifacts"),
                art_rows,
                keys=["config_id", "trained_at"],
                update=["uri", "sha256", "size_bytes", "feature_schema", "created_at", "pruned"],
            )
        state = {
            "config_id": cid,
            "eval_key": eval_key,
            "status": result.status,
            "error": result.error,
            "first_ts": first_ts,
            "last_ts": result.last_ts,
            "last_retrain_ts": result.last_retrain_ts,
            "n_retrains": result.n_retrains,
            "n_predictions": result.n_predictions,
            "fit_seconds": result.fit_seconds,
            "predict_seconds": result.predict_seconds,
            "updated_at": at,
        }
        if result.status == "failed" and previous == eval_key:
            # Keep the last good range; record the failure.
            keep = {"first_ts", "last_ts", "last_retrain_ts", "n_retrains", "n_predictions"}
            update = [k for k in state if k != "config_id" and k not in keep]
        else:
            update = [k for k in state if k != "config_id"]
        upsert(conn, table("evaluations"), [state], keys=["config_id"], update=update)


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
    t = ConfigReturn.__table__
    stmt = select(t.c.config_id, t.c.ts, t.c[column])
    if ids is not None:
        stmt = stmt.where(t.c.config_id.in_(list(ids)))
    with db.begin() as conn:
        long = read_frame(conn, stmt, datetimes=["ts"])
    if long.empty:
        return pd.DataFrame(dtype=float)
    wide = long.pivot(index="ts", columns="config_id", values=column).sort_index()
    wide.index.name = "timestamp"
    return wide.astype("float64")


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
