"""Named leases (factory/storage/lease.py) on SQLite and PostgreSQL: one holder at a time,
across processes; a crashed holder's lease is taken over after its expiry (SQLite) or
once its connection is gone (PostgreSQL)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from factory.clock import FakeClock
from factory.storage.database import Database, table
from factory.storage.lease import Lease, advisory_key, job_lease

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TTL = 60.0

# A competitor in its own process: opens the database, says "ready", waits for "go",
# tries the lease once and says whether it got it, then holds it until told to release.
CHILD = r"""
import sys
from factory.storage.database import Database
from factory.storage.lease import Lease

url, name, holder = sys.argv[1:4]
lease = Lease(Database(url, auto_migrate=False), name, holder, ttl_s=60.0)
print("ready", flush=True)
sys.stdin.readline()
print("acquired" if lease.acquire() else "refused", flush=True)
sys.stdin.readline()
lease.release()
print("released", flush=True)
"""


class Child:
    """A competitor process, driven line by line over stdin/stdout."""

    def __init__(self, db_url: str, name: str, holder: str) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, db_url, name, holder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put("<eof>")

    def read(self, timeout: float = 120.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = "<timeout>"
        if line in ("<eof>", "<timeout>"):
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"child said {line}; stderr:\n{err}")
        return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.send("release")
            assert self.read() == "released"
            self.proc.wait(timeout=60)


@pytest.fixture
def children(db_url: str) -> Iterator[Callable[[str, str], Child]]:
    started: list[Child] = []

    def start(name: str, holder: str) -> Child:
        child = Child(db_url, name, holder)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait(timeout=60)


def is_sqlite(db: Database) -> bool:
    return db.engine.dialect.name == "sqlite"


# Time-based expiry is SQLite's; a PostgreSQL lock lives exactly as long as its connection.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


# -- one process -----------------------------------------------------------------------------
def test_one_holder_at_a_time_and_names_are_independent(db: Database) -> None:
    first = Lease(db, "evaluate:2026-03-02", "a")
    assert first.acquire() and first.held and bool(first)
    rival = Lease(db, "evaluate:2026-03-02", "b")
    assert not rival.acquire() and not rival.held and not rival
    assert Lease(db, "evaluate:2026-03-03", "b").acquire()  # another name: free
    first.release()
    assert not first.held
    assert Lease(db, "evaluate:2026-03-02", "b").acquire()


def test_not_reentrant_even_for_the_same_holder(db: Database) -> None:
    lease = Lease(db, "promote:2026-03-02", "same")
    assert lease.acquire()
    assert not Lease(db, "promote:2026-03-02", "same").acquire()
    with pytest.raises(RuntimeError, match="already acquired"):
        lease.acquire()
    lease.release()


def test_job_lease_releases_on_exit_and_on_error(db: Database) -> None:
    with job_lease(db, "rate:12:05", "a") as lease:
        assert lease
        with job_lease(db, "rate:12:05", "b") as other:
            assert not other
    with pytest.raises(ZeroDivisionError):
        with job_lease(db, "rate:12:05", "b") as lease:
            assert lease
            _ = 1 / 0
    with job_lease(db, "rate:12:05", "c") as lease:
        assert lease  # the failed block released it


@sqlite_only
def test_sqlite_lease_expires_unless_renewed(db: Database) -> None:
    clock = FakeClock(T0)
    first = Lease(db, "rebalance:2026-03-02", "a", ttl_s=TTL, clock=clock)
    assert first.acquire()
    clock.advance(timedelta(seconds=50))
    assert first.renew()  # expiry moves to T0 + 110 s
    clock.advance(timedelta(seconds=55))  # T0 + 105 s: the first expiry has passed
    assert not Lease(db, "rebalance:2026-03-02", "b", ttl_s=TTL, clock=clock).acquire()
    clock.advance(timedelta(seconds=5))  # T0 + 110 s: expired
    taker = Lease(db, "rebalance:2026-03-02", "b", ttl_s=TTL, clock=clock)
    assert taker.acquire()
    # The old holder learns that it lost the lease and cannot touch the new holder's row.
    assert not first.renew() and not first.held
    first.release()
    assert not Lease(db, "rebalance:2026-03-02", "c", ttl_s=TTL, clock=clock).acquire()
    with db.begin() as conn:
        holder = conn.execute(select(table("leases").c.holder)).scalar_one()
    assert holder == "b"


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@sqlite_only
def test_sqlite_keepalive_renews_and_notices_a_takeover(db: Database) -> None:
    clock = FakeClock(T0)
    leases = table("leases")

    def expiry() -> datetime:
        with db.begin() as conn:
            return conn.execute(select(leases.c.expires_at)).scalar_one()

    with job_lease(db, "evaluate:x", "a", ttl_s=TTL, clock=clock, renew_every_s=0.05) as lease:
        clock.advance(timedelta(seconds=50))
        renewed = (clock.now() + timedelta(seconds=TTL)).replace(tzinfo=None)
        assert wait_for(lambda: expiry() == renewed)
        # Paused past its expiry (the fake clock of the holder stands still) and taken over:
        later = FakeClock(clock.now() + timedelta(seconds=TTL + 1))
        assert Lease(db, "evaluate:x", "b", ttl_s=TTL, clock=later).acquire()
        assert wait_for(lambda: not lease.held)
    with db.begin() as conn:
        assert conn.execute(select(leases.c.holder)).scalar_one() == "b"


@postgres_only
def test_postgres_lease_is_lost_with_its_connection(db: Database) -> None:
    lease = Lease(db, "evaluate:y", "a")
    assert lease.acquire() and lease.renew()
    with db.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'factory lease a'"
            )
        ).scalars()
        assert list(killed) == [True]
    taker = Lease(db, "evaluate:y", "b")
    assert wait_for(taker.acquire)
    assert not lease.renew() and not lease.held
    lease.release()  # the connection is gone: nothing to do, no error
    taker.release()


@postgres_only
def test_postgres_schemas_do_not_share_leases(db: Database, db_url: str) -> None:
    base = db_url.split("?")[0]
    other = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other}"'))
    second = Database(f"{base}?options=-csearch_path%3D{other}")
    try:
        assert advisory_key("a", "n") != advisory_key("b", "n")
        here = Lease(db, "promote:2026-03-02", "a")
        there = Lease(second, "promote:2026-03-02", "b")
        assert here.acquire() and there.acquire()
        here.release()
        there.release()
    finally:
        second.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
        admin.dispose()


# -- several processes -----------------------------------------------------------------------
def test_processes_competing_for_a_lease_exactly_one_wins(
    db: Database, children: Callable[[str, str], Child]
) -> None:
    racers = [children("evaluate:2026-03-02T00:00/abc", f"p{i}") for i in range(2)]
    assert [c.read() for c in racers] == ["ready"] * 2
    for c in racers:
        c.send("go")
    outcomes = [c.read() for c in racers]
    assert sorted(outcomes) == ["acquired", "refused"], outcomes
    for c in racers:
        c.finish()
    assert Lease(db, "evaluate:2026-03-02T00:00/abc", "after").acquire()


def test_a_crashed_holders_lease_is_taken_over(
    db: Database, children: Callable[[str, str], Child]
) -> None:
    name = "rebalance:2026-03-02"
    holder = children(name, "doomed")
    assert holder.read() == "ready"
    holder.send("go")
    assert holder.read() == "acquired"
    assert not Lease(db, name, "waiting").acquire()
    holder.kill()  # SIGKILL: no release, no cleanup
    if is_sqlite(db):
        # The row outlives the process until it expires (the child's TTL is 60 s).
        assert not Lease(db, name, "too-early").acquire()
        later = FakeClock(datetime.now(UTC) + timedelta(seconds=TTL + 1))
        assert Lease(db, name, "after-expiry", clock=later).acquire()
    else:
        # The server frees the lock when it sees the connection close.
        taker = Lease(db, name, "after-death")
        assert wait_for(taker.acquire)
        taker.release()
