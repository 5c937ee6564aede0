"""The ``challenge`` job: carry out what the monitor asked for (`factory.monitor.retrain`).

Runs after the monitor, once per last bar:

1. **refits** — a ``pending`` refit row whose config has been evaluated past its bar is
   marked ``applied`` (the evaluate job did the refit: the sweep hands every config its
   `ScheduleChange`\\ s, `factory.storage.retrains.schedule_changes`);
2. **challengers** — every ``running`` shadow row is evaluated over the bars that arrived
   since its last run, with the same engine, settings and costs as any config
   (`evaluate_config` from its stored state, with a forced block start at the first bar
   after the request). Its returns over the first ``[monitor] challenger_bars`` bars are
   compounded as they come; when the window is complete and the champion's record covers
   it too, the two are compared: a challenger with strictly more after costs **wins** —
   the champion switches to its model at the first bar after its own last evaluated bar
   — otherwise it **loses**. A ``challenger_won`` / ``challenger_lost`` event says by how
   much. A challenger whose config left the pool, or whose settings are no longer the
   evaluation's, is cancelled; one that fails is marked failed with its error.

Challengers run in-process, one after another: at most a few live configs are yellow at
a time, and each costs one fit and a few predictions. Everything is written in one
transaction at the end; a crash before it leaves the rows as they were, and the rerun
repeats the work (the artifacts it wrote are orphans, never referenced).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from architectures import registry
from factory.app import App
from factory.catalog import eval_params
from factory.data.market import MarketData
from factory.evaluation.engine import EvalInputs, EvaluationResult, ScheduleChange, evaluate_config
from factory.evaluation.inputs import build_inputs
from factory.monitor.retrain import Comparison, complete_record, extend, window_bars
from factory.plan import ModelConfig
from factory.storage.bars import load_market_data
from factory.storage.database import Database
from factory.storage.events import EventRecord, insert_events
from factory.storage.results import EvaluationState, evaluation_states, load_returns
from factory.storage.retrains import ChallengerUpdate, RetrainRow, load_retrains, save_challengers
from features.registry import get_feature_set


@dataclass(frozen=True)
class ChallengeOutcome:
    applied: int = 0  # refit rows marked applied
    running: int = 0  # challengers still running after this run
    won: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    def summary(self) -> str:
        if not (
            self.applied or self.running or self.won or self.lost or self.cancelled or self.failed
        ):
            return "no retrains pending"
        return (
            f"{self.applied} refit(s) applied; challengers: {self.running} running, "
            f"{len(self.won)} won, {len(self.lost)} lost, {len(self.cancelled)} cancelled, "
            f"{len(self.failed)} failed"
        )


def challenge_job(
    app: App, *, configs: Sequence[ModelConfig], data: MarketData | None = None
) -> ChallengeOutcome:
    """See the module docstring. ``configs``: the evaluated pool."""
    db = app.db
    settings = app.settings
    params = eval_params(settings)
    now = app.now().replace(tzinfo=None)
    rows = load_retrains(db, statuses=("pending", "running"))
    if not rows:
        return ChallengeOutcome()
    states = evaluation_states(db, sorted({r.config_id for r in rows}))
    applied = [r.id for r in rows if r.mode == "refit" and _evaluated_past(states, r)]
    shadows = [r for r in rows if r.mode == "shadow"]
    if data is None and shadows:
        data = load_market_data(db, assets=settings.data.assets or None)
    pool = {c.config_id: c for c in configs}
    n = settings.monitor.challenger_bars
    inputs: dict[str, EvalInputs] = {}
    updates: list[ChallengerUpdate] = []
    events: list[EventRecord] = []
    for row in shadows:
        config = pool.get(row.config_id)
        if row.eval_key != params.key or config is None or row.state is None:
            why = (
                "the evaluation settings changed"
                if row.eval_key != params.key
                else "the config left the pool"
                if config is None
                else "no champion state to start from"
            )
            updates.append(_closed(row, "cancelled", now, why))
            events.append(_event(row, "challenger_cancelled", f"challenger cancelled: {why}"))
            continue
        assert data is not None
        fs = config.feature_set
        if fs not in inputs:
            inputs[fs] = build_inputs(data, get_feature_set(fs), settings.cache_dir)
        result = evaluate_config(
            config,
            registry.get(config.architecture, config.arch_version),
            inputs[fs],
            params,
            store=app.store,
            state=row.state,
            changes=(ScheduleChange(row.after_ts),),
        )
        if result.status == "failed":
            first = (result.error or "").splitlines()[0] if result.error else "failed"
            updates.append(_closed(row, "failed", now, first))
            events.append(_event(row, "challenger_failed", f"challenger failed: {first}", "error"))
            continue
        update, event = _advance(row, result, data.timestamps, states, n, now, db)
        updates.append(update)
        if event is not None:
            events.append(event)
    with db.begin() as conn:
        save_challengers(conn, updates, applied)
        insert_events(conn, events, at=now)
    config_of = {r.id: r.config_id for r in rows}

    def ended(status: str) -> tuple[str, ...]:
        return tuple(config_of[u.id] for u in updates if u.status == status)

    return ChallengeOutcome(
        applied=len(applied),
        running=sum(u.status == "running" for u in updates),
        won=ended("won"),
        lost=ended("lost"),
        cancelled=ended("cancelled"),
        failed=ended("failed"),
    )


def _evaluated_past(states: dict[str, EvaluationState], row: RetrainRow) -> bool:
    st = states.get(row.config_id)
    return st is not None and st.last_ts is not None and st.last_ts > row.after_ts


def _advance(
    row: RetrainRow,
    result: EvaluationResult,
    timestamps: pd.DatetimeIndex,
    states: dict[str, EvaluationState],
    n: int,
    now: datetime,
    db: Database,
) -> tuple[ChallengerUpdate, EventRecord | None]:
    """The challenger's new bars counted into its window; decided when complete (only
    then is the champion's record read)."""
    window = window_bars(timestamps, row.after_ts, n)
    net = result.returns_frame()["net"]
    challenger_net, bars = extend(row.challenger_net or 0.0, row.bars, net, window)
    running = ChallengerUpdate(row.id, "running", result.state, bars, challenger_net=challenger_net)
    if bars < n:
        return running, None
    champions = load_returns(db, ids=[row.config_id])
    champion = champions.get(row.config_id, pd.Series(dtype=float))
    champion_net = complete_record(champion, window)
    champion_state = states.get(row.config_id)
    if champion_net is None or champion_state is None or champion_state.last_ts is None:
        return running, None  # the champion has not been evaluated over the window yet
    c = Comparison(n, champion_net, challenger_net)
    figures = (
        f"{c.challenger_net:+.2%} vs the champion's {c.champion_net:+.2%} after costs over "
        f"{n} bars ({window[0]:%Y-%m-%d}..{window[-1]:%Y-%m-%d})"
    )
    if c.challenger_wins:
        assert result.state is not None and result.state.model is not None
        decided = replace(
            running,
            status="won",
            champion_net=champion_net,
            swap_after_ts=champion_state.last_ts,
            model=result.state.model,
            decided_at=now,
            note=f"won: {figures}; the champion switches after {champion_state.last_ts:%Y-%m-%d}",
        )
        return decided, _event(row, "challenger_won", f"challenger won: {figures}")
    decided = replace(
        running, status="lost", champion_net=champion_net, decided_at=now, note=f"lost: {figures}"
    )
    return decided, _event(row, "challenger_lost", f"challenger lost: {figures}")


def _closed(row: RetrainRow, status: str, now: datetime, why: str) -> ChallengerUpdate:
    return ChallengerUpdate(
        row.id,
        status,
        row.state,
        row.bars,
        champion_net=row.champion_net,
        challenger_net=row.challenger_net,
        decided_at=now,
        note=why,
    )


def _event(row: RetrainRow, kind: str, message: str, severity: str = "info") -> EventRecord:
    return EventRecord(
        kind=kind,
        subject=row.config_id,
        severity=severity,
        message=message,
        detail={"retrain_id": row.id, "after": row.after_ts.isoformat()},
    )
