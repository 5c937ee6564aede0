"""The jobs the CLI runs by hand and the daemon runs on a timer: rate, promote, rebalance,
prune. Each is idempotent for its time key (a second run for the same key returns what
the first decided unless ``force``) and records a row in ``runs``.

Time keys: a rating snapshot per 5 minutes (``2026-11-22T03:05``), a promotion cycle per
UTC day (``2026-11-22``), a rebalance per bar date (``2018-12-31``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from factory import catalog
from factory.app import App
from factory.artifacts import ArtifactPathError
from factory.artifacts_verify import record_problems, verify_artifacts
from factory.book.benchmark import universe_returns
from factory.data.market import MarketData
from factory.monitor.freshness import last_returns, stale_configs
from factory.portfolio import TargetPortfolio
from factory.portfolio.live import book_rebalance, ensure_booked, plan_rebalance
from factory.storage import decisions
from factory.storage.bars import last_bar_ts, load_market_data
from factory.storage.events import EventRecord, record_events
from factory.storage.health import health_states
from factory.storage.results import (
    artifacts_for,
    bred_ids,
    compute_costs,
    evaluation_states,
    latest_signals,
    load_configs,
    load_return_matrices,
    mark_pruned,
    retired_ids,
    trial_counts,
    tuning_trials,
)
from features.cache import FeatureCache
from rating.engine import Ratings, rate
from rating.policy import RatingPolicy
from rating.promotion import PromotionCycle, decide_promotions


def snapshot_key(now: datetime) -> str:
    return f"{now:%Y-%m-%dT%H}:{now.minute - now.minute % 5:02d}"


def cycle_key(now: datetime) -> str:
    return f"{now:%Y-%m-%d}"


def rebalance_key(bar_ts: datetime) -> str:
    return f"{bar_ts:%Y-%m-%d}"


class NothingToDo(RuntimeError):
    """A job lacks its inputs (no evaluations, no active set...); the message says what to run."""


# -- rate ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RatingInputs:
    """What a rating needs beyond the stored returns: the market data (for the
    benchmark) and the planned config ids (for the multiple-testing population). Both
    are loaded/expanded from the database and settings when not given."""

    data: MarketData | None = None
    planned: Sequence[str] | None = None


@dataclass(frozen=True)
class RatingContext:
    """Everything a rating reads from storage and settings, shared by the rate job and the
    historical simulation (``factory.review``): the stored net returns (a NaN column for
    each config whose current evaluation failed), their turnover, the failed ids, compute
    costs, the trials without returns (``extra_trials``), the benchmark series (None
    unless ``[rating] benchmark = "universe"``), the policy and the market data; ``stale``:
    why each stale config is stale (left the plan, or its returns lag the last bar by more
    than ``[rating] max_lag_bars``; ``factory.monitor.freshness``)."""

    returns: pd.DataFrame
    turnover: pd.DataFrame
    failed: tuple[str, ...]
    compute_cost: dict[str, float]
    extra_trials: dict[str, int]
    benchmark: pd.Series | None
    policy: RatingPolicy
    data: MarketData
    stale: Mapping[str, str] = field(default_factory=dict)


def rating_context(
    app: App, inputs: RatingInputs | None = None, *, include_retired: bool = False
) -> RatingContext:
    """Load the rating inputs (see :class:`RatingContext`); raises :class:`NothingToDo`
    when nothing has been evaluated yet. Retired configs (`factory.refine.pool`) leave
    the ranking but stay counted in N; ``include_retired`` keeps their returns instead
    (the historical replay: a config retired today was in the pool in the past, and
    leaving it out would flatter the replay with survivorship bias)."""
    inputs = inputs or RatingInputs()
    db = app.db
    settings = app.settings
    params = catalog.eval_params(settings)
    matrices = load_return_matrices(db, ("net_return", "turnover"))
    returns = matrices["net_return"]
    states = evaluation_states(db)
    # Retired configs keep their history but leave the ranking; they stay counted in N.
    retired = set() if include_retired else retired_ids(db)
    returns = returns.drop(columns=[c for c in returns.columns if c in retired])
    current = {
        cid: st for cid, st in states.items() if st.eval_key == params.key and cid not in retired
    }
    failed = sorted(cid for cid, st in current.items() if st.status == "failed")
    if returns.empty and not failed:
        raise NothingToDo("no evaluated configs yet: run `factory evaluate` first")
    for cid in failed:
        if cid not in returns.columns:
            returns[cid] = float("nan")
    turnover = matrices["turnover"].reindex(index=returns.index, columns=returns.columns)
    data = inputs.data
    if data is None:
        data = load_market_data(db, assets=settings.data.assets or None)
    planned = inputs.planned
    if planned is None:
        planned = [c.config_id for c in catalog.plan(settings, catalog.profile(data)).configs]
        planned = [*planned, *bred_ids(db)]
    planned = [cid for cid in planned if cid not in retired]
    tried = trial_counts(db, params.key)
    extra = {
        # planned configs without a record yet: not evaluated, or waiting for enough data
        "pending": len(set(planned) - set(returns.columns) - set(failed)),
        "earlier_settings": tried.earlier,
        "tuning": tuning_trials(db),
        # retired configs evaluated under the current settings (earlier ones are counted
        # under earlier_settings)
        "retired": sum(
            1 for cid, st in states.items() if cid in retired and st.eval_key == params.key
        ),
    }
    policy = settings.rating.policy()
    benchmark = None
    if policy.benchmark == "universe":
        panel = data.panel()
        benchmark = universe_returns(
            panel["close"],
            open_=panel["open"] if "open" in panel else None,
            execution=params.execution,
            max_gap=params.max_gap_bars,
        )
    fresh_check = last_returns(returns.drop(columns=failed, errors="ignore"))
    stale = stale_configs(fresh_check, data.timestamps, planned, settings.rating.max_lag_bars)
    return RatingContext(
        returns=returns,
        turnover=turnover,
        failed=tuple(failed),
        compute_cost=compute_costs(states),
        extra_trials=extra,
        benchmark=benchmark,
        policy=policy,
        data=data,
        stale=stale,
    )


def compute_ratings(app: App, inputs: RatingInputs | None = None) -> Ratings:
    """Rate every evaluated config from the stored returns (failed ones included, as
    failed), deflating by the whole population tried and, with ``[rating] benchmark =
    "universe"``, net of the equal-weight universe. Stale configs fail the freshness gate
    and red ones (the monitor's stored verdicts) the health gate."""
    ctx = rating_context(app, inputs)
    cycle = decisions.latest_cycle(app.db)
    # One BLAS thread: the correlation matrices are small and multi-threaded BLAS degrades
    # badly when the cores are busy with evaluations (measured in bench/rating.py).
    with threadpool_limits(limits=1):
        return rate(
            ctx.returns,
            policy=ctx.policy,
            active=cycle.active if cycle else (),
            compute_cost=ctx.compute_cost,
            turnover=ctx.turnover,
            failed=ctx.failed,
            benchmark=ctx.benchmark,
            extra_trials=ctx.extra_trials,
            health=health_states(app.db),
            stale=ctx.stale,
        )


@dataclass(frozen=True)
class RateOutcome:
    snapshot: decisions.SnapshotInfo
    reused: bool


def rate_job(
    app: App,
    *,
    force: bool = False,
    time_key: str | None = None,
    inputs: RatingInputs | None = None,
) -> RateOutcome:
    now = app.now()
    key = time_key or snapshot_key(now)
    existing = decisions.snapshot_by_key(app.db, key)
    if existing is not None and not force:
        return RateOutcome(existing, reused=True)
    if existing is not None and decisions.snapshot_in_use(app.db, existing.id):
        raise NothingToDo(
            f"snapshot {key} is the basis of a promotion cycle and is kept as its record; "
            "the next snapshot can be taken in the next 5-minute slot"
        )
    ratings = compute_ratings(app, inputs)
    decisions.save_snapshot(app.db, ratings, time_key=key, at=now)
    decisions.record_run(
        app.db, "rate", key, status="done", at=now, detail=f"{len(ratings.table)} configs"
    )
    snap = decisions.snapshot_by_key(app.db, key)
    assert snap is not None
    return RateOutcome(snap, reused=False)


# -- promote -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromoteOutcome:
    cycle: decisions.CycleInfo
    decisions: pd.DataFrame
    reused: bool
    result: PromotionCycle | None = None


def promote_job(
    app: App, *, time_key: str | None = None, inputs: RatingInputs | None = None
) -> PromoteOutcome:
    """Today's cycle. Cycles are never rewritten: a second call for the same UTC day
    returns the first one's decisions."""
    now = app.now()
    key = time_key or cycle_key(now)
    db = app.db
    existing = decisions.cycle_by_key(db, key)
    if existing is not None:
        return PromoteOutcome(existing, decisions.cycle_decisions(db, existing.id), reused=True)
    ratings = compute_ratings(app, inputs)
    snapshot_id = decisions.save_snapshot(db, ratings, time_key=snapshot_key(now), at=now)
    cycle = decide_promotions(ratings, decisions.incumbents(db), now, app.settings.rating.policy())
    cycle_id = decisions.save_cycle(db, cycle, time_key=key, snapshot_id=snapshot_id)
    decisions.record_run(db, "promote", key, status="done", at=now, detail=cycle.note)
    info = decisions.cycle_by_key(db, key)
    assert info is not None
    return PromoteOutcome(info, decisions.cycle_decisions(db, cycle_id), reused=False, result=cycle)


# -- rebalance -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RebalanceOutcome:
    rebalance: decisions.RebalanceInfo
    reused: bool
    portfolio: TargetPortfolio | None = None


def rebalance_job(app: App, *, force: bool = False) -> RebalanceOutcome:
    db = app.db
    now = app.now()
    bar_ts = last_bar_ts(db)
    if bar_ts is None:
        raise NothingToDo("no bars stored: import data first")
    key = rebalance_key(bar_ts)
    existing = decisions.rebalance_by_key(db, key)
    if existing is not None and not force:
        ensure_booked(app, existing)
        return RebalanceOutcome(existing, reused=True)
    cycle = decisions.latest_cycle(db)
    notes: list[str] = []
    if cycle is None:
        raise NothingToDo("no promotion cycle yet: run `factory promote` first")
    active = list(cycle.active)
    signals = (
        latest_signals(db, active)
        if active
        else pd.DataFrame(columns=["config_id", "asset", "ts", "signal"])
    )
    fresh = signals[signals["ts"] == pd.Timestamp(bar_ts)]
    stale = sorted(set(active) - set(fresh["config_id"]))
    if stale:
        notes.append(
            f"{len(stale)} active config(s) have no signal at {key} and do not vote: {', '.join(stale)}"
        )
    if not active:
        notes.append(f"the live set is empty ({cycle.note})")
    wide = (
        fresh.pivot(index="config_id", columns="asset", values="signal")
        if not fresh.empty
        else pd.DataFrame()
    )
    # Everything is computed before anything is written: a cycle that cannot complete
    # leaves the previous rebalance published.
    before = decisions.previous_rebalance(db, bar_ts)
    previous = pd.Series(before.weights, dtype=float) if before is not None else None
    portfolio = plan_rebalance(app, cycle, bar_ts, wide, previous)
    if portfolio.note:
        notes.append(portfolio.note)
    export = write_export(app.output_dir, key, portfolio)
    rid = decisions.save_rebalance(
        db,
        time_key=key,
        bar_ts=bar_ts,
        at=now,
        cycle_id=cycle.id,
        n_active=portfolio.n_configs,
        weights=portfolio.weights,
        gross=portfolio.gross,
        note="; ".join(notes),
        export_path=str(export),
    )
    book_rebalance(app, bar_ts, portfolio.weights, rid)
    decisions.record_run(
        db, "rebalance", key, status="done", at=now, detail=f"gross {portfolio.gross:.3f}"
    )
    info = decisions.rebalance_by_key(db, key)
    assert info is not None
    return RebalanceOutcome(info, reused=False, portfolio=portfolio)


def write_export(directory: Path, key: str, portfolio: TargetPortfolio) -> Path:
    """``rebalance-<date>.csv`` (asset, weight, ensemble_signal), written atomically."""
    path = directory / f"rebalance-{key}.csv"
    frame = pd.DataFrame(
        {
            "asset": portfolio.weights.index,
            "weight": portfolio.weights.to_numpy(),
            "ensemble_signal": portfolio.ensemble.reindex(portfolio.weights.index).to_numpy(),
        }
    )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".rebalance-", suffix=".csv")
    with os.fdopen(fd, "w") as fh:
        frame.to_csv(fh, index=False, float_format="%.8f")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # readable like any file (mkstemp makes it 0600)
    os.replace(tmp, path)
    return path


# -- prune ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PruneOutcome:
    deleted: int  # artifacts
    kept_active: int  # live configs whose artifacts were left alone
    snapshots: int  # rating snapshots deleted
    cache_files: int  # feature cache files deleted
    problems: int = 0  # stored artifacts that failed verification (recorded as events)
    refused: int = 0  # deletions refused: the recorded path leads outside the artifact root


def prune_job(app: App) -> PruneOutcome:
    """Verification and retention. First every stored artifact is verified (exists,
    inside the artifact root, size and sha256 as recorded); each problem becomes an
    ``artifact_problem`` event. Then retention: all but the newest ``artifact_retention``
    artifacts of each config (never those of the live set), rating snapshots older than
    ``snapshot_retention_days`` that no promotion cycle points at, and the feature cache
    down to ``cache_max_gb``. A recorded path that leads outside the artifact root is
    never deleted (an ``artifact_delete_refused`` event says so)."""
    s = app.settings
    db = app.db
    report = verify_artifacts(db, app.store)
    record_problems(db, report, at=app.now())
    cycle = decisions.latest_cycle(db)
    active = set(cycle.active) if cycle else set()
    doomed = []
    if s.artifact_retention > 0:
        for cid in load_configs(db).index:
            if cid not in active:
                doomed.extend(artifacts_for(db, cid)[: -s.artifact_retention])
    # Mark first, delete after: a crash in between leaves orphan files, never rows that
    # point at missing files.
    mark_pruned(db, [a.id for a in doomed])
    refused: list[EventRecord] = []
    for art in doomed:
        try:
            app.store.delete(art.uri)
        except ArtifactPathError as exc:
            refused.append(
                EventRecord(
                    kind="artifact_delete_refused",
                    subject=art.config_id,
                    severity="error",
                    message=f"prune left artifact {art.id} alone: {exc}",
                    detail={"artifact_id": art.id, "uri": art.uri},
                )
            )
    record_events(db, refused, at=app.now())
    snapshots = 0
    if s.snapshot_retention_days > 0:
        cutoff = app.now() - timedelta(days=s.snapshot_retention_days)
        snapshots = decisions.prune_snapshots(db, older_than=cutoff)
    cache_files = 0
    if s.cache_max_gb > 0:
        cache_files = len(FeatureCache(Path(s.cache_dir)).prune(int(s.cache_max_gb * 1e9)))
    return PruneOutcome(
        len(doomed) - len(refused),
        len(active),
        snapshots,
        cache_files,
        problems=len(report.problems),
        refused=len(refused),
    )
