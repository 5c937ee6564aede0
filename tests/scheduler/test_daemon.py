"""The autonomous loop: jobs run once per time key, resume after a crash, retry failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.storage import decisions
from scheduler.backends import SerialBackend
from scheduler.daemon import JOBS, due_jobs, run_forever, tick
from tests.factory.helpers import make_test_app


@pytest.fixture
def loop_app(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(workdir, db_url, **{"plan.architectures": ["lightgbm", "arima"]})
    import_frame(
        a.db,
        synth_universe(4, 500, seed=6, signal="planted").bars,
        kind="bars",
        source="s",
        at=a.now(),
    )
    yield a
    a.close()


def ran(results: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.job: r.status for r in results}


def test_due_jobs_policy() -> None:
    keys = {"evaluate": "e1", "rate": "r1", "promote": None, "rebalance": "b1", "prune": "p1"}
    done = {("rate", "r1"), ("prune", "p1")}
    assert due_jobs(keys, lambda j, k: (j, k) in done) == [("evaluate", "e1"), ("rebalance", "b1")]


def test_each_job_runs_once_per_time_key(loop_app: App) -> None:
    a = loop_app
    clock = a.clock
    assert isinstance(clock, FakeClock)
    be = SerialBackend()
    # ingest is due only when a feed has something waiting (none is configured here)
    assert ran(tick(a, be)) == dict.fromkeys(set(JOBS) - {"ingest"}, "done")
    assert tick(a, be) == []  # nothing due at the same time
    clock.advance(timedelta(minutes=5))
    assert ran(tick(a, be)) == {"rate": "done"}
    # New bars: evaluate (new last bar) and rebalance (new bar date) become due.
    import_frame(
        a.db,
        synth_universe(4, 503, seed=6, signal="planted").bars,
        kind="bars",
        source="s",
        at=a.now(),
    )
    assert ran(tick(a, be)) == {"evaluate": "done", "rebalance": "done"}
    clock.advance(timedelta(days=1))
    assert set(ran(tick(a, be))) == {"rate", "promote", "prune", "refine"}
    assert decisions.latest_cycle(a.db) is not None


def test_a_crash_mid_job_resumes_and_a_failure_is_retried(
    loop_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = loop_app
    be = SerialBackend()
    import scheduler.daemon as daemon

    def broken(app: App) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(daemon, "promote_job", broken)
    first = ran(tick(a, be))
    assert first["promote"] == "failed" and first["rebalance"] == "skipped"  # no cycle yet
    runs = {(r.job, r.status) for r in decisions.recent_runs(a.db)}
    assert ("promote", "failed") in runs
    monkeypatch.undo()
    # A run left "running" by a crash is not finished either: it runs again.
    decisions.record_run(a.db, "prune", daemon.cycle_key(a.now()), status="running", at=a.now())
    second = ran(tick(a, be))
    assert second == {"promote": "done", "rebalance": "done", "prune": "done"}


def test_run_forever_sleeps_the_interval_between_ticks(loop_app: App) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    n = run_forever(
        loop_app, SerialBackend(), interval_s=3, sleep=sleep, monotonic=lambda: now[0], max_ticks=2
    )
    # Ticks take no time on this clock: exactly one 3-second pause, in steps of at most 1 s.
    assert n == 2 and sum(slept) == pytest.approx(3.0) and max(slept) <= 1.0


def test_data_is_reloaded_only_after_an_import(
    loop_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scheduler.daemon as daemon

    loads: list[int] = []
    real = daemon.load_market_data

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(daemon, "load_market_data", counting)
    cache = daemon.DataCache()
    first = cache.get(loop_app)
    assert cache.get(loop_app) is first and len(loads) == 1
    more = synth_universe(4, 502, seed=6, signal="planted").bars
    import_frame(loop_app.db, more, kind="bars", source="s", at=loop_app.now())
    assert len(cache.get(loop_app).timestamps) == 502 and len(loads) == 2
