"""The autonomous loop: jobs run once per time key, resume after a crash, retry failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.monitor.job import monitor_key
from factory.storage import decisions
from factory.storage.bars import load_market_data
from scheduler.backends import SerialBackend
from scheduler.daemon import JOBS, due_jobs, monitor_keys, run_forever, tick
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
    keys: dict[str, str | list[str] | None] = {
        "evaluate": "e1",
        "monitor": ["m1", "m2", "m3"],
        "rate": "r1",
        "promote": None,
        "rebalance": "b1",
        "prune": "p1",
    }
    done = {("rate", "r1"), ("prune", "p1"), ("monitor", "m2")}
    assert due_jobs(keys, lambda j, k: (j, k) in done) == [
        ("evaluate", "e1"),
        ("monitor", "m1"),
        ("monitor", "m3"),
        ("rebalance", "b1"),
    ]


def test_monitor_catch_up_keys_are_every_missed_bar_once_in_order() -> None:
    bars = [datetime(2026, 1, d) for d in range(1, 11)]
    # Never ran: only the last bar (no backfill of history).
    assert monitor_keys(bars, None, 5) == [(monitor_key(bars[-1]), bars[-1])]
    # Down since day 6: days 7..10, oldest first.
    got = monitor_keys(bars, monitor_key(bars[5]), 48)
    assert [b for _, b in got] == bars[6:]
    assert [k for k, _ in got] == sorted(k for k, _ in got)
    # Longer than catch_up_bars: the newest ones only, still in order.
    assert [b for _, b in monitor_keys(bars, monitor_key(bars[0]), 3)] == bars[7:]
    assert monitor_keys(bars, monitor_key(bars[-1]), 3) == []


def test_each_job_runs_once_per_time_key(loop_app: App, caplog: pytest.LogCaptureFixture) -> None:
    a = loop_app
    clock = a.clock
    assert isinstance(clock, FakeClock)
    be = SerialBackend()
    # ingest is due only when a feed has something waiting (none is configured here)
    with caplog.at_level(logging.WARNING, logger="factory.alerts"):
        assert ran(tick(a, be)) == dict.fromkeys(set(JOBS) - {"ingest"}, "done")
    # Nothing is eligible on 500 bars yet: the first cycle's empty live set is an alert.
    assert decisions.latest_cycle(a.db).active == ()  # type: ignore[union-attr]
    assert "ALERT empty_live_set" in caplog.text
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
    results = tick(a, be)
    assert ran(results) == {
        "evaluate": "done",
        "monitor": "done",
        "challenge": "done",
        "rebalance": "done",
    }
    # The monitor catches up: once for each of the 3 new bars, oldest first; the challenge
    # job runs once, for the last bar.
    assert [r.time_key for r in results if r.job == "challenge"] == [
        monitor_key(load_market_data(a.db).timestamps[-1])
    ]
    new_bars = sorted(load_market_data(a.db).timestamps)[-3:]
    assert [r.time_key for r in results if r.job == "monitor"] == [monitor_key(b) for b in new_bars]
    clock.advance(timedelta(days=1))
    assert set(ran(tick(a, be))) == {"rate", "promote", "prune", "refine"}
    assert decisions.latest_cycle(a.db) is not None
    monitor_runs = [r for r in decisions.recent_runs(a.db, limit=100) if r.job == "monitor"]
    assert len(monitor_runs) == 4 and {r.status for r in monitor_runs} == {"done"}


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


def test_monitor_catch_up_stops_at_a_failure_and_resumes_in_order(
    workdir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scheduler.daemon as daemon

    a = make_test_app(workdir, db_url, **{"plan.architectures": ["arima"]})
    clock = a.clock
    assert isinstance(clock, FakeClock)

    def no_sweep(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no evaluation in this test")

    monkeypatch.setattr(daemon, "run_sweep", no_sweep)
    try:
        bars = synth_universe(2, 200, seed=1).bars
        days = sorted(bars["timestamp"].unique())
        import_frame(
            a.db, bars[bars["timestamp"] <= days[195]], kind="bars", source="s", at=a.now()
        )
        first = [r for r in tick(a, SerialBackend()) if r.job == "monitor"]
        assert [r.time_key for r in first] == [monitor_key(days[195])]  # no backfill
        # Down for four days: four new bars; the monitor fails on the second one.
        clock.advance(timedelta(days=4))
        import_frame(a.db, bars, kind="bars", source="s", at=a.now())
        real = daemon.monitor_job

        def flaky(app: App, **kwargs: object) -> object:
            if kwargs["time_key"] == monitor_key(days[197]):
                raise RuntimeError("flaky")
            return real(app, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(daemon, "monitor_job", flaky)
        second = [(r.time_key, r.status) for r in tick(a, SerialBackend()) if r.job == "monitor"]
        assert second == [(monitor_key(days[196]), "done"), (monitor_key(days[197]), "failed")]
        monkeypatch.setattr(daemon, "monitor_job", real)
        third = [(r.time_key, r.status) for r in tick(a, SerialBackend()) if r.job == "monitor"]
        assert third == [(monitor_key(d), "done") for d in days[197:]]
        assert [r for r in tick(a, SerialBackend()) if r.job == "monitor"] == []
        done = [
            r.time_key
            for r in decisions.recent_runs(a.db, limit=100)
            if r.job == "monitor" and r.status == "done"
        ]
        assert sorted(done) == [monitor_key(d) for d in days[195:]]  # each bar exactly once
    finally:
        a.close()
