"""The autonomous loop behind ``factory run``.

Every tick computes, for each job, the time key it would run under *now* and runs the
jobs whose key has no finished run yet, in this order:

=========  ===================================================  =====================
job        time key                                             effect
=========  ===================================================  =====================
ingest     what the feed has waiting (none: not due)            import / quarantine
evaluate   last bar + planned config ids (+ latest due retry)   incremental sweep
monitor    each bar since the last monitored one (catch-up)     health of the live set
challenge  the last bar                                         refits applied, challengers run
rate       now floored to 5 minutes                             rating snapshot
promote    UTC date of now                                      promotion cycle
rebalance  date of the last bar                                 target weights + export
prune      UTC date of now                                      artifact check + retention
refine     UTC date of now                                      retire + breed (pool)
=========  ===================================================  =====================

The evaluated pool is the plan's configs plus those bred by tuning studies, minus the
retired ones (`factory.refine.pool`).

A job records ``running`` then ``done`` (or ``failed`` with its error) in the ``runs``
table. Because every job is idempotent for its key, a crash or restart resumes where it
stopped and repeats nothing already finished; a failed job is retried at the next tick.
Policy (`due_jobs`) is a pure function; `tick` executes.

Ingest runs first, so bars dropped into ``[ingest] drop_dir`` are evaluated, rated and
rebalanced on in the same tick (`factory.ingest`). The monitor runs before rate and
promote, so a config it finds red fails the health gate in the same tick. What a turn of
health asks for (a forced refit, a shadow challenger: `factory.monitor.retrain`) is done by
the next evaluate (refits) and by ``challenge`` (challengers), from the next bar on.

Catch-up. The monitor is the one job with a key per *bar*: after downtime (or an import
of several bars) it runs once for each bar after the last one it finished, oldest first,
each judged as of its own bar against the live set of that bar (at most ``[monitor]
catch_up_bars``, the newest), and stops
at the first failure so that keys are never finished out of order (`monitor_keys`). The
other jobs deliberately do not replay missed keys: a rating snapshot or a promotion cycle
for a past slot would be computed on today's data and back-dated, and a rebalance for a
past bar cannot be traded; they run once for the current key (docs/operations.md).

Alerts (`factory.monitor.alerts`): a failed job, a config turned red, an empty live set
and a quarantined file are logged and, with ``[alerts] webhook_url``, POSTed as JSON.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.exc import InterfaceError, OperationalError

from factory import catalog
from factory.app import App
from factory.data.market import MarketData
from factory.ingest.job import feed_for, ingest, ingest_key
from factory.jobs import (
    NothingToDo,
    PruneOutcome,
    RatingInputs,
    cycle_key,
    promote_job,
    prune_job,
    rate_job,
    rebalance_job,
    rebalance_key,
    snapshot_key,
)
from factory.monitor.alerts import Alert, send_alerts
from factory.monitor.challenger import challenge_job
from factory.monitor.job import monitor_job, monitor_key
from factory.plan import ModelConfig
from factory.refine.job import refine_job
from factory.refine.pool import pool_configs
from factory.storage import decisions
from factory.storage.bars import data_version, load_market_data
from factory.storage.lease import job_lease
from factory.storage.results import EvaluationState, evaluation_states
from scheduler.backends import Backend
from scheduler.sweep import run_sweep

# The database went away (server down, network cut): the loop waits and retries.
DB_UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

log = logging.getLogger(__name__)

JOBS = (
    "ingest",
    "evaluate",
    "monitor",
    "challenge",
    "rate",
    "promote",
    "rebalance",
    "prune",
    "refine",
)


@dataclass(frozen=True)
class JobResult:
    job: str
    time_key: str
    status: str  # done | failed | skipped
    detail: str


def due_jobs(
    keys: Mapping[str, str | Sequence[str] | None], finished: Callable[[str, str], bool]
) -> list[tuple[str, str]]:
    """(job, key) pairs to run now: jobs with a key (None = cannot run yet) whose key has
    no finished run, in `JOBS` order; a job given several keys (catch-up) runs once for
    each unfinished one, in the order given."""
    out: list[tuple[str, str]] = []
    for job in JOBS:
        given = keys.get(job)
        if given is None:
            continue
        for key in (given,) if isinstance(given, str) else given:
            if not finished(job, key):
                out.append((job, key))
    return out


def monitor_keys(
    bars: Sequence[datetime], last_done: str | None, limit: int
) -> list[tuple[str, datetime]]:
    """The monitor's (key, bar) pairs to catch up, oldest first: every bar after the last
    finished key (only the last bar when the monitor never ran), at most the newest
    ``limit``."""
    if not bars:
        return []
    if last_done is None:
        return [(monitor_key(bars[-1]), bars[-1])]
    pending = [(k, b) for b in bars if (k := monitor_key(b)) > last_done]
    return pending[-limit:]


def plan_fingerprint(config_ids: Sequence[str]) -> str:
    return hashlib.sha256(",".join(sorted(config_ids)).encode()).hexdigest()[:8]


def due_retry(states: Iterable[EvaluationState], now: datetime) -> datetime | None:
    """The latest retry time that has come (None when no failed config is due): a new
    one gives the evaluate job a new key, so a retry runs even without a new bar."""
    due = [
        s.next_retry_at for s in states if s.next_retry_at is not None and s.next_retry_at <= now
    ]
    return max(due) if due else None


def evaluate_key(last_bar: datetime, config_ids: Sequence[str], retry: datetime | None) -> str:
    """The evaluate job's time key: the last bar, the planned configs and the latest due
    retry — it changes when there is new work."""
    key = f"{last_bar:%Y-%m-%dT%H:%M}/{plan_fingerprint(config_ids)}"
    return key if retry is None else f"{key}/retry@{retry:%Y%m%dT%H%M}"


class DataCache:
    """The market data of the last tick, reloaded only when an import changed the data
    (a tick runs every minute; reading every bar each time would dominate it)."""

    def __init__(self) -> None:
        self._version = -1
        self._data: MarketData | None = None

    def get(self, app: App) -> MarketData:
        version = data_version(app.db)
        if self._data is None or version != self._version:
            self._data = load_market_data(app.db, assets=app.settings.data.assets or None)
            self._version = version
        return self._data


def tick(
    app: App, backend: Backend, *, progress: bool = False, cache: DataCache | None = None
) -> list[JobResult]:
    """Run every due job once. Never raises for a job's failure (it is recorded)."""
    now = app.now()
    results = _ingest(app)
    try:
        data = (cache or DataCache()).get(app)
    except LookupError:
        return [*results, JobResult("evaluate", "-", "skipped", "no bars stored yet")]
    last_bar = data.timestamps[-1].to_pydatetime()
    planned = catalog.plan(app.settings, catalog.profile(data)).configs
    configs = pool_configs(app.db, planned)
    catch_up = monitor_keys(
        list(data.timestamps.to_pydatetime()),
        decisions.last_done_key(app.db, "monitor"),
        app.settings.monitor.catch_up_bars,
    )
    bar_of = dict(catch_up)
    keys: dict[str, str | Sequence[str] | None] = {
        "evaluate": evaluate_key(
            last_bar,
            [c.config_id for c in configs],
            due_retry(evaluation_states(app.db).values(), app.now()),
        ),
        "monitor": [k for k, _ in catch_up],
        "challenge": monitor_key(last_bar),
        "rate": snapshot_key(now),
        "promote": cycle_key(now),
        "rebalance": rebalance_key(last_bar),
        "prune": cycle_key(now),
        "refine": cycle_key(now),
    }

    inputs = RatingInputs(data=data, planned=[c.config_id for c in configs])

    def finished(job: str, key: str) -> bool:
        return decisions.run_status(app.db, job, key) == "done"

    alerts: list[Alert] = []

    def monitor(key: str) -> str:
        out = monitor_job(app, as_of=bar_of[key], time_key=key, data=data)
        alerts.extend(out.alerts)
        return out.summary()

    def promote() -> str:
        out = promote_job(app, time_key=str(keys["promote"]), inputs=inputs)
        if not out.reused and not out.cycle.active:
            alerts.append(Alert("empty_live_set", f"the live set is empty: {out.cycle.note}"))
        return out.cycle.note

    actions: dict[str, Callable[[], str]] = {
        "evaluate": lambda: _evaluate(app, backend, data, configs, progress),
        "challenge": lambda: challenge_job(app, configs=configs, data=data).summary(),
        # Jobs get the key computed at the start of the tick, so a tick that crosses a
        # 5-minute boundary or midnight records the run under the key it did the work for.
        "rate": lambda: (
            f"snapshot {rate_job(app, time_key=str(keys['rate']), inputs=inputs).snapshot.time_key}"
        ),
        "promote": promote,
        "rebalance": lambda: f"gross {rebalance_job(app).rebalance.gross:.3f}",
        "prune": lambda: _pruned(prune_job(app)),
        "refine": lambda: refine_job(app, planned=planned, inputs=inputs).summary(),
    }
    stopped: set[str] = set()
    ran: list[JobResult] = []
    for job, key in due_jobs(keys, finished):
        if job in stopped:
            continue  # an earlier key of this job failed: keys finish in order only
        action = partial(monitor, key) if job == "monitor" else actions[job]
        result = _run_job(app, job, key, action)
        ran.append(result)
        if result.status != "done" and job == "monitor":
            stopped.add(job)
    results.extend(ran)
    alerts.extend(_failure_alerts(ran))
    _send(app, alerts)
    return results


def _failure_alerts(results: Sequence[JobResult]) -> list[Alert]:
    return [
        Alert(
            "job_failed",
            f"job {r.job} failed for {r.time_key}: {r.detail}",
            subject=r.job,
            detail={"job": r.job, "time_key": r.time_key},
        )
        for r in results
        if r.status == "failed"
    ]


def _send(app: App, alerts: Sequence[Alert]) -> None:
    if alerts:
        a = app.settings.alerts
        send_alerts(
            alerts, at=app.clock.now(), webhook_url=a.webhook_url, timeout_s=a.timeout_seconds
        )


def _run_job(app: App, job: str, key: str, action: Callable[[], str]) -> JobResult:
    """Run one job for its key under the job's lease (a second daemon on the same database
    skips it), recording running, then done / skipped / failed."""
    # Leases live in real time (they arbitrate between processes), whatever app.clock says.
    ttl = app.settings.scheduler.lease_ttl_seconds
    with job_lease(app.db, f"job:{job}", ttl_s=ttl) as lease:
        if not lease:
            return JobResult(job, key, "skipped", "another daemon holds this job's lease")
        if decisions.run_status(app.db, job, key) == "done":
            return JobResult(job, key, "skipped", "done meanwhile by another daemon")
        return _run_leased(app, job, key, action)


def _run_leased(app: App, job: str, key: str, action: Callable[[], str]) -> JobResult:
    decisions.record_run(app.db, job, key, status="running", at=app.now())
    try:
        detail = action()
    except NothingToDo as exc:
        decisions.record_run(app.db, job, key, status="skipped", at=app.now(), detail=str(exc))
        return JobResult(job, key, "skipped", str(exc))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        decisions.record_run(app.db, job, key, status="failed", at=app.now(), error=error)
        return JobResult(job, key, "failed", f"{type(exc).__name__}: {exc}")
    decisions.record_run(app.db, job, key, status="done", at=app.now(), detail=detail)
    return JobResult(job, key, "done", detail)


def _ingest(app: App) -> list[JobResult]:
    """The ingest job, when a feed is configured and has something waiting."""
    feed = feed_for(app)
    if feed is None:
        return []
    deliveries = feed.poll()
    key = ingest_key(deliveries)
    if key is None or decisions.run_status(app.db, "ingest", key) == "done":
        return []
    alerts: list[Alert] = []

    def run() -> str:
        out = ingest(app, feed, deliveries)
        alerts.extend(
            Alert("quarantined", f"{name} quarantined: {reason}", subject=name, severity="warning")
            for name, reason in out.quarantined
        )
        return out.summary()

    result = _run_job(app, "ingest", key, run)
    _send(app, [*alerts, *_failure_alerts([result])])
    return [result]


def _pruned(out: PruneOutcome) -> str:
    text = (
        f"pruned {out.deleted} artifacts, {out.snapshots} snapshots, {out.cache_files} cache files"
    )
    if out.problems:
        text += (
            f"; {out.problems} artifact(s) failed verification (events; `factory artifacts verify`)"
        )
    if out.refused:
        text += f"; {out.refused} deletion(s) refused: path outside the artifact root (events)"
    return text


def _evaluate(
    app: App, backend: Backend, data: MarketData, configs: Sequence[ModelConfig], progress: bool
) -> str:
    report = run_sweep(app.db, app.settings, data, configs, backend, app.clock, progress=progress)
    w = report.work
    return (
        f"evaluated {report.evaluated} (new {w.get('cold', 0)}, refitted {w.get('refit', 0)}, "
        f"predict-only {w.get('predict', 0)}), failed {report.failed}, "
        f"up to date {report.skipped}"
    )


def backoff(failures: int, interval_s: float, cap_s: float = 600.0) -> float:
    """Seconds to wait after ``failures`` consecutive ticks without a database: the tick
    interval, doubling, at most ``cap_s`` (10 minutes)."""
    return float(min(cap_s, max(interval_s, 1.0) * 2 ** (failures - 1)))


def run_forever(
    app: App,
    backend: Backend,
    *,
    interval_s: float = 60.0,
    on_tick: Callable[[datetime, list[JobResult]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    max_ticks: int | None = None,
) -> int:
    """Tick every ``interval_s`` seconds until SIGINT/SIGTERM (or ``max_ticks``). Returns
    the number of ticks run. When the database cannot be reached the tick is reported as
    failed and the next one waits ``backoff`` (the interval, doubling, at most 10 min)."""
    stop = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    ticks = 0
    outage = 0  # consecutive ticks the database could not be reached
    cache = DataCache()
    try:
        while not stop and (max_ticks is None or ticks < max_ticks):
            started = monotonic()
            try:
                results = tick(app, backend, cache=cache)
            except DB_UNREACHABLE as exc:
                # Nothing of the tick was recorded as done, so the next one redoes it.
                outage += 1
                first_line = (str(exc).strip().splitlines() or [""])[0]
                log.warning(
                    "database unreachable (%s: %s); retrying in %.0f s",
                    type(exc).__name__,
                    first_line,
                    backoff(outage, interval_s),
                )
                results = [JobResult("tick", "-", "failed", f"database unreachable: {first_line}")]
            else:
                if outage:
                    log.warning("database reachable again after %d failed tick(s)", outage)
                outage = 0
            ticks += 1
            if on_tick is not None:
                on_tick(app.now(), results)
            wait = backoff(outage, interval_s) if outage else interval_s
            remaining = wait - (monotonic() - started)
            while remaining > 0 and not stop and (max_ticks is None or ticks < max_ticks):
                step = min(remaining, 1.0)
                sleep(step)
                remaining -= step
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return ticks
