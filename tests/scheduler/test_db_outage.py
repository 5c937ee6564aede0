"""The database goes away while `factory run` is running (the connection to PostgreSQL is
cut by a TCP proxy that stands in for the server): ticks fail and back off, the loop
keeps running, and when the database is back the missed work is done exactly once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.storage import decisions
from scheduler.backends import SerialBackend
from scheduler.daemon import JobResult, backoff, run_forever
from tests.conftest import PG_URL
from tests.factory.helpers import make_test_app


class Proxy:
    """A TCP forwarder to the PostgreSQL server that can be cut and restored on the same
    port: cut = no listener and every open connection reset, as when the server stops."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close alone leaves it listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[str, Proxy]]:
    assert PG_URL is not None
    target = urlsplit(PG_URL.replace("postgresql+psycopg", "postgresql"))
    proxy = Proxy((target.hostname or "127.0.0.1", target.port or 5432))
    proxy.up()
    url = db_url.replace(f"{target.hostname}:{target.port or 5432}", f"127.0.0.1:{proxy.port}")
    yield url, proxy
    proxy.down()


def test_backoff_doubles_to_a_cap() -> None:
    assert [backoff(n, 60) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff(10, 60) == 600


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # an outage is a server's
def test_the_loop_survives_a_database_outage_and_does_each_job_once(
    proxied: tuple[str, Proxy], workdir: Path
) -> None:
    url, proxy = proxied
    a: App = make_test_app(workdir, url, **{"plan.architectures": ["ridge"]})
    import_frame(
        a.db,
        synth_universe(3, 400, seed=4, signal="planted").bars,
        kind="bars",
        source="s",
        at=a.now(),
    )
    proxy.down()  # the server goes away before the first tick
    ticks: list[list[JobResult]] = []
    slept: list[float] = []

    def on_tick(_now: object, results: list[JobResult]) -> None:
        ticks.append(results)
        if len(ticks) == 3:
            proxy.up()  # back after two failed ticks

    run_forever(
        a,
        SerialBackend(),
        interval_s=5,
        on_tick=on_tick,
        sleep=slept.append,
        monotonic=lambda: 0.0,
        max_ticks=5,
    )
    statuses = [[r.status for r in t] for t in ticks]
    assert statuses[0] == ["failed"] and statuses[1] == ["failed"], statuses
    assert "database unreachable" in ticks[0][0].detail
    assert {r.job for r in ticks[3] if r.status == "done"} >= {"evaluate", "rate", "promote"}
    assert ticks[4] == []  # everything done once; nothing due again
    # waited 5 s, then 10 s (doubling), then back to the interval
    assert sum(slept[:5]) == pytest.approx(5) and sum(slept[5:15]) == pytest.approx(10)
    runs = decisions.recent_runs(a.db, limit=100)
    keys = [(r.job, r.time_key) for r in runs]
    assert len(keys) == len(set(keys)) and all(r.status == "done" for r in runs)
    a.close()
