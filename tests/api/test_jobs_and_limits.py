"""State-changing endpoints refuse calls without the configured bearer token (and are
off with none configured); authorised calls run the same jobs as the CLI. Request
bodies over the limit get 413, declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factory.api import create_app
from factory.app import App
from factory.clock import FakeClock
from factory.storage import decisions
from tests.api.conftest import TOKEN
from tests.api.helpers import Golden, serving_app
from tests.factory.helpers import make_test_app

JOBS = ("rate", "promote", "rebalance")


def run_log(app: App) -> list[tuple[object, ...]]:
    return [
        (r.job, r.time_key, r.status, r.finished_at)
        for r in decisions.recent_runs(app.db, limit=100)
    ]


@pytest.mark.parametrize("job", JOBS)
def test_jobs_refuse_missing_or_wrong_tokens(client: TestClient, served: App, job: str) -> None:
    # A day later every job would have something new to do (rebalance: forced).
    clock = served.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=1))
    before = run_log(served)
    r = client.post(f"/jobs/{job}", params={"force": True})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = client.post(
        f"/jobs/{job}", params={"force": True}, headers={"Authorization": "Bearer wrong"}
    )
    assert r.status_code == 401 and "invalid" in r.json()["detail"]
    r = client.post(f"/jobs/{job}", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    r = client.post(f"/jobs/{job}", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert r.status_code == 401
    assert run_log(served) == before  # nothing ran
    ok = client.post(
        f"/jobs/{job}", params={"force": True}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert ok.status_code == 200 and ok.json()["reused"] is False
    assert run_log(served) != before  # so the check above could have failed


@pytest.mark.parametrize("job", JOBS)
def test_jobs_are_off_without_a_configured_token(
    golden: Golden, db_url: str, workdir: Path, job: str
) -> None:
    app = serving_app(golden, db_url, workdir)  # no api.token
    assert app.settings.api.token is None
    with TestClient(create_app(app)) as c:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            r = c.post(f"/jobs/{job}", headers=headers)
            assert r.status_code == 403 and "disabled" in r.json()["detail"]
    app.close()


def test_authorised_jobs_run_like_the_cli(
    client: TestClient, served: App, auth: dict[str, str]
) -> None:
    clock = served.clock
    assert isinstance(clock, FakeClock)
    # The golden database was rated, promoted and rebalanced at this clock time.
    board = client.get("/leaderboard").json()
    latest = client.get("/rebalance/latest").json()
    rate = client.post("/jobs/rate", headers=auth).json()
    assert rate["reused"] is True and rate["snapshot"]["n_configs"] == 3
    clock.advance(timedelta(minutes=5))
    fresh = client.post("/jobs/rate", headers=auth).json()
    assert fresh["reused"] is False and fresh["time_key"] != rate["time_key"]
    snap = decisions.latest_snapshot(served.db)
    assert snap is not None and snap.time_key == fresh["time_key"]
    assert (
        next(r.time_key for r in decisions.recent_runs(served.db) if r.job == "rate")
        == (fresh["time_key"])
    )
    # Cached reads follow the data: the leaderboard now shows the new snapshot.
    assert board["snapshot"]["time_key"] == rate["time_key"] != fresh["time_key"]
    assert client.get("/leaderboard").json()["snapshot"]["time_key"] == fresh["time_key"]

    promote = client.post("/jobs/promote", headers=auth).json()
    assert promote["reused"] is True
    clock.advance(timedelta(days=1))
    nxt = client.post("/jobs/promote", headers=auth).json()
    assert nxt["reused"] is False
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None and nxt["cycle"]["time_key"] == cycle.time_key
    assert nxt["cycle"]["active"] == list(cycle.active)

    reb = client.post("/jobs/rebalance", headers=auth).json()
    assert reb["reused"] is True
    forced = client.post("/jobs/rebalance", params={"force": True}, headers=auth).json()
    assert forced["reused"] is False
    info = decisions.latest_rebalance(served.db)
    assert info is not None and forced["rebalance"]["weights"] == pytest.approx(info.weights)
    now_latest = client.get("/rebalance/latest").json()
    assert now_latest["at"] == forced["rebalance"]["at"] != latest["at"]
    assert client.post("/jobs/evaluate", headers=auth).status_code == 422  # not a job here


def test_a_job_without_inputs_is_409(workdir: Path, db_url: str) -> None:
    app = make_test_app(workdir, db_url, **{"api.token": TOKEN})
    with TestClient(create_app(app)) as c:
        r = c.post("/jobs/rate", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 409 and "factory evaluate" in r.json()["detail"]
    app.close()


@pytest.fixture
def small_limit(served: App) -> Iterator[TestClient]:
    app = App(served.settings.with_overrides(**{"api.max_body_bytes": 2048}), served.clock)
    with TestClient(create_app(app)) as c:
        yield c
    app.close()


def test_declared_body_over_the_limit_is_413(small_limit: TestClient) -> None:
    r = small_limit.post(
        "/predict", content=b"x" * 4096, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "2048" in r.json()["detail"]
    r = small_limit.post("/jobs/rate", content=b"x" * 4096)
    assert r.status_code == 413  # checked before anything else, auth included
    r = small_limit.post("/predict", content=b"{}", headers={"Content-Length": "abc"})
    assert r.status_code == 400


def test_streamed_body_over_the_limit_is_413(small_limit: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b'{"bars": [' + b" " * 500

    r = small_limit.post("/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    # A small streamed body passes the limit (and then fails validation as it should).
    r = small_limit.post(
        "/predict", content=iter([b'{"bars": []}']), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
