"""Named leases: at most one process holds a lease name at a time, across processes and
machines sharing the database. They keep two ``factory run`` daemons started by mistake on
one database from running the same job for the same time key::

    with job_lease(db, f"{job}:{time_key}") as lease:
        if not lease:
            return  # another process holds it: skip, the job is theirs
        ...  # run the job; `lease.held` turns False if the lease was lost meanwhile

How a lease is held depends on the database:

* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a connection
  opened for the lease alone and closed when it is released. The lock's 64-bit key is
  the first 8 bytes of sha256(current schema, NUL, name), so factories in different
  schemas of one database do not block each other. If the holder dies, its connection
  closes and the server frees the lock at once; a holder cut off by the network keeps
  the lock until the server's TCP keepalive gives up on the connection (``tcp_keepalives_*``
  server settings; Linux's default is two hours). Nothing expires by time; ``ttl_s`` only
  sets how often the keep-alive pings the connection (which also keeps it from being
  closed by ``idle_session_timeout``).
* **SQLite**: a row of the ``leases`` table (name, holder, token, acquired_at, expires_at).
  Acquiring is one ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE expires_at <= now
  RETURNING token``: the statement opens the write transaction, so SQLite's single writer
  makes it atomic without ``BEGIN IMMEDIATE``, and a row comes back only when the lease is
  new or expired. The holder renews it before ``ttl_s`` runs out (the keep-alive thread of
  `job_lease` does so every ``ttl_s / 3``); a crashed holder's lease can be taken over
  ``ttl_s`` after its last renewal. Every acquisition draws a fresh token, and renew and
  release match it, so a holder that was paused past its expiry and taken over cannot
  extend or delete the new holder's lease: its `Lease.renew` returns False instead.

A lease is not re-entrant: a second acquisition of a held name fails, also in the same
process and for the same holder. Time is naive UTC from the injected clock (SQLite only),
the database's convention; on SQLite all processes share one machine and so one clock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, delete, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from factory.clock import Clock, SystemClock
from factory.storage.database import Database, table

DEFAULT_TTL_S = 60.0

log = logging.getLogger(__name__)


def default_holder() -> str:
    """``host:pid:random`` — unique per call, readable in the ``leases`` table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def advisory_key(schema: str, name: str) -> int:
    """The signed 64-bit PostgreSQL advisory-lock key of lease ``name`` in ``schema``."""
    digest = hashlib.sha256(f"{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Backend(Protocol):
    def acquire(self) -> bool: ...
    def renew(self) -> bool: ...
    def release(self) -> None: ...


class Lease:
    """One attempt by ``holder`` to hold lease ``name``; truthy while held.

    `acquire` once, then `renew` (SQLite: before ``ttl_s`` runs out) and `release`.
    `job_lease` does all three. Thread-safe for one thread renewing while another reads
    `held`; acquire, renew and release themselves must not run concurrently.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str | None = None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("a lease needs a name")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.name = name
        self.holder = holder or default_holder()
        self.ttl_s = ttl_s
        self._acquired = False
        self._lost = threading.Event()
        self._released = False
        backend = db.engine.dialect.name
        self._backend: _Backend
        if backend == "postgresql":
            self._backend = _PostgresLease(db, name, self.holder)
        elif backend == "sqlite":
            self._backend = _SqliteLease(db, name, self.holder, ttl_s, clock or SystemClock())
        else:  # pragma: no cover - Database accepts only SQLite and PostgreSQL
            raise NotImplementedError(f"leases are not implemented for {backend}")

    def acquire(self) -> bool:
        """Take the lease if nobody holds it (or, on SQLite, if its holder let it expire).
        Returns whether it is now held; never waits for another holder."""
        if self._acquired:
            raise RuntimeError(f"lease {self.name!r} was already acquired by this object")
        self._acquired = self._backend.acquire()
        return self._acquired

    def renew(self) -> bool:
        """Extend the lease (SQLite: expiry = now + ttl; PostgreSQL: check that the lock's
        connection is alive). False, and `held` turns False, when it was lost."""
        if not self.held:
            return False
        if self._backend.renew():
            return True
        self._lost.set()
        return False

    def release(self) -> None:
        """Give the lease up (a no-op when it was never acquired or is already released)."""
        if self._acquired and not self._released:
            self._released = True
            self._backend.release()

    @property
    def held(self) -> bool:
        """Acquired, not released, and no renewal found it lost."""
        return self._acquired and not self._released and not self._lost.is_set()

    def __bool__(self) -> bool:
        return self.held

    def __repr__(self) -> str:
        return f"Lease({self.name!r}, holder={self.holder!r}, held={self.held})"


@contextmanager
def job_lease(
    db: Database,
    name: str,
    holder: str | None = None,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    clock: Clock | None = None,
    keepalive: bool = True,
    renew_every_s: float | None = None,
) -> Iterator[Lease]:
    """Try to take lease ``name`` for the duration of the block; yields the `Lease`, truthy
    if acquired. While held, a background thread renews it every ``renew_every_s`` seconds
    (default ``ttl_s / 3``; ``keepalive=False`` leaves renewing to the caller); it is
    released on exit, also when the block raises."""
    lease = Lease(db, name, holder, ttl_s=ttl_s, clock=clock)
    every = ttl_s / 3 if renew_every_s is None else renew_every_s
    keeper = _Keepalive(lease, every) if lease.acquire() and keepalive else None
    try:
        yield lease
    finally:
        if keeper is not None:
            keeper.stop()
        lease.release()


class _Keepalive:
    """Renews a lease every ``interval_s`` seconds on a daemon thread until stopped or lost."""

    def __init__(self, lease: Lease, interval_s: float) -> None:
        self._lease = lease
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-keepalive:{lease.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if not self._lease.renew():
                    log.warning("lease %r was lost", self._lease.name)
                    return
            except Exception as exc:  # e.g. SQLite busy past its timeout: try again
                log.warning("renewing lease %r failed, will retry: %s", self._lease.name, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _PostgresLease:
    """A session-level advisory lock on a connection of its own."""

    def __init__(self, db: Database, name: str, holder: str) -> None:
        self._db = db
        self._name = name
        self._holder = holder
        self._conn: Connection | None = None
        self._key = 0

    def acquire(self) -> bool:
        conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            schema = conn.execute(text("SELECT current_schema()")).scalar() or ""
            self._key = advisory_key(schema, self._name)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            if not got:
                _discard(conn)
                return False
            # Shows the holder in pg_stat_activity (joined to pg_locks on pid).
            conn.execute(
                text("SELECT set_config('application_name', :a, false)"),
                {"a": f"factory lease {self._holder}"[:63]},
            )
        except BaseException:
            _discard(conn)
            raise
        self._conn = conn
        return True

    def renew(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except DBAPIError:
            _discard(self._conn)
            self._conn = None
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Unlock explicitly: closing the socket frees the lock too, but only once the
            # server has noticed, which a waiting contender could race.
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except DBAPIError:
            pass  # the connection is gone, and with it the lock
        finally:
            _discard(conn)


def _discard(conn: Connection) -> None:
    """Close the connection for good (never back to the pool: it may hold a session lock
    or a changed application_name)."""
    try:
        conn.invalidate()
    finally:
        conn.close()


class _SqliteLease:
    """A row of ``leases`` with an expiry, renewed by its holder."""

    def __init__(self, db: Database, name: str, holder: str, ttl_s: float, clock: Clock) -> None:
        self._db = db
        self._name = name
        self._holder = holder
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        self._token = ""

    def _now(self) -> datetime:
        return self._clock.now().replace(tzinfo=None)

    def acquire(self) -> bool:
        leases = table("leases")
        now = self._now()
        token = uuid.uuid4().hex
        row = {
            "name": self._name,
            "holder": self._holder,
            "token": token,
            "acquired_at": now,
            "expires_at": now + self._ttl,
        }
        insert = sqlite_insert(leases).values(row)
        stmt = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={c: insert.excluded[c] for c in ("holder", "token", "acquired_at", "expires_at")},
            where=leases.c.expires_at <= now,
        ).returning(leases.c.token)
        with self._db.begin() as conn:
            won = conn.execute(stmt).scalar()
        if won != token:
            return False
        self._token = token
        return True

    def renew(self) -> bool:
        leases = table("leases")
        stmt = (
            update(leases)
            .where(leases.c.name == self._name, leases.c.token == self._token)
            .values(expires_at=self._now() + self._ttl)
        )
        with self._db.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def release(self) -> None:
        leases = table("leases")
        with self._db.begin() as conn:
            conn.execute(
                delete(leases).where(leases.c.name == self._name, leases.c.token == self._token)
            )
