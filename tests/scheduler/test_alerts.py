"""Alerts: always logged; POSTed as JSON to ``[alerts] webhook_url`` (a local HTTP server
here); a webhook that fails or is unreachable never stops the loop."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.monitor.alerts import Alert, send_alerts
from scheduler.backends import SerialBackend
from scheduler.daemon import tick
from tests.factory.helpers import make_test_app


class Hook:
    """A local webhook: records each POSTed JSON body, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"  # nothing listens there any more


AT = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def test_alerts_are_logged_and_posted_as_json(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    alerts = [
        Alert("health_red", "cfg1 health green -> red", subject="cfg1", detail={"state": "red"}),
        Alert("quarantined", "bad.csv quarantined", subject="bad.csv", severity="warning"),
    ]
    with caplog.at_level(logging.WARNING, logger="factory.alerts"):
        out = send_alerts(alerts, at=AT, webhook_url=hook.url)
    assert (out.logged, out.delivered, out.failed) == (2, 2, 0)
    assert hook.received == [
        {
            "kind": "health_red",
            "severity": "error",
            "subject": "cfg1",
            "message": "cfg1 health green -> red",
            "at": "2026-12-04T06:00:00+00:00",
            "detail": {"state": "red"},
        },
        {
            "kind": "quarantined",
            "severity": "warning",
            "subject": "bad.csv",
            "message": "bad.csv quarantined",
            "at": "2026-12-04T06:00:00+00:00",
            "detail": {},
        },
    ]
    assert sum("ALERT" in r.getMessage() for r in caplog.records) == 2


def test_without_a_webhook_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="factory.alerts"):
        out = send_alerts([Alert("job_failed", "job rate failed")], at=AT)
    assert (out.logged, out.delivered, out.failed) == (1, 0, 0)
    assert "job rate failed" in caplog.text


def test_a_failing_or_unreachable_webhook_is_logged_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = Hook(status=500)
    try:
        with caplog.at_level(logging.WARNING, logger="factory.alerts"):
            out = send_alerts([Alert("job_failed", "x")], at=AT, webhook_url=failing.url)
            down = send_alerts(
                [Alert("job_failed", "y")], at=AT, webhook_url=_closed_port_url(), timeout_s=2
            )
    finally:
        failing.close()
    assert len(failing.received) == 1 and (out.delivered, out.failed) == (0, 1)
    assert (down.delivered, down.failed) == (0, 1)
    assert caplog.text.count("not delivered to the webhook") == 2


# -- from the daemon -------------------------------------------------------------------
def test_a_quarantined_file_alerts_the_webhook(workdir: Path, db_url: str, hook: Hook) -> None:
    a = make_test_app(
        workdir,
        db_url,
        **{
            "ingest.drop_dir": str(workdir / "drop"),
            "ingest.settle_seconds": 0,
            "alerts.webhook_url": hook.url,
        },
    )
    try:
        (workdir / "drop").mkdir()
        bad = pd.DataFrame(
            {"timestamp": pd.bdate_range("2024-01-01", periods=3), "asset": "AAA"}
            | {"open": 10.0, "high": 8.0, "low": 9.0, "close": 10.0, "volume": 1.0}
        )  # high below low
        bad.to_csv(workdir / "drop" / "bad.csv", index=False)
        results = tick(a, SerialBackend())
    finally:
        a.close()
    assert results[0].job == "ingest"
    assert [(m["kind"], m["subject"]) for m in hook.received] == [("quarantined", "bad.csv")]
    assert "high" in hook.received[0]["message"]


@pytest.fixture
def barred(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(workdir, db_url, **{"plan.architectures": ["arima"]})
    import_frame(a.db, synth_universe(2, 300, seed=1).bars, kind="bars", source="s", at=a.now())
    yield a
    a.close()


def test_a_failed_job_alerts_and_a_dead_webhook_does_not_stop_the_tick(
    barred: App, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scheduler.daemon as daemon

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("worker pool gone")

    monkeypatch.setattr(daemon, "run_sweep", broken)
    barred.settings = barred.settings.with_overrides(**{"alerts.webhook_url": hook.url})
    results = {r.job: r.status for r in tick(barred, SerialBackend())}
    assert results["evaluate"] == "failed"
    assert [(m["kind"], m["subject"]) for m in hook.received] == [("job_failed", "evaluate")]
    assert "worker pool gone" in hook.received[0]["message"]
    # The webhook is gone: the next tick still runs (the failure is retried) and returns.
    barred.settings = barred.settings.with_overrides(**{"alerts.webhook_url": _closed_port_url()})
    again = {r.job: r.status for r in tick(barred, SerialBackend())}
    assert again["evaluate"] == "failed"
