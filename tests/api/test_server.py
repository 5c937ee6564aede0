"""Against a real uvicorn server on loopback: the body limit on a chunked (streamed)
request, and `factory serve`'s defaults."""

from __future__ import annotations

import gc
import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from factory.api import create_app
from tests.api.helpers import Golden, running_server, serving_app


@pytest.fixture
def server(golden: Golden, workdir: Path) -> Iterator[str]:
    app = serving_app(
        golden, f"sqlite:///{workdir / 'factory.db'}", workdir, **{"api.max_body_bytes": 4096}
    )
    with running_server(create_app(app)) as url:
        yield url
    app.close()


def test_chunked_body_over_the_limit_is_cut_off(server: str) -> None:
    parsed = urlparse(server)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b'{"bars": [' + b" " * 1000
    try:
        for _ in range(8):  # 8 KB in 1 KB chunks, no Content-Length
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the client finishes
    response = conn.getresponse()
    assert response.status == 413
    assert b"4096" in response.read()
    conn.close()


def test_declared_and_small_bodies_over_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.post("/predict", content=b"x" * 5000).status_code == 413
        assert c.get("/health").json()["status"] == "ok"
        assert c.get("/").status_code == 200


def test_serve_command_binds_loopback_by_default(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factory serve` hands uvicorn the app on 127.0.0.1:8000 unless told otherwise."""
    import uvicorn
    from fastapi import FastAPI
    from typer.testing import CliRunner

    from factory.cli import app as cli

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(gc, "freeze", lambda: None)  # keep the test process as it is
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    runner = CliRunner()
    assert runner.invoke(cli, ["serve"]).exit_code == 0
    assert runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "9001"]).exit_code == 0
    monkeypatch.setenv("FACTORY_API__PORT", "9100")
    assert runner.invoke(cli, ["serve"]).exit_code == 0
    assert [(c["host"], c["port"]) for c in calls] == [
        ("127.0.0.1", 8000),
        ("0.0.0.0", 9001),
        ("127.0.0.1", 9100),
    ]
    assert all(isinstance(c["app"], FastAPI) for c in calls)
