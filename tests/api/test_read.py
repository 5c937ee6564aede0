"""Every read-only JSON endpoint against a database with evaluated, rated, promoted and
rebalanced configs, on SQLite and PostgreSQL. Expected values are read from storage
through the storage layer, not from the API's own code."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from factory.api import create_app
from factory.app import App
from factory.cli import app as cli
from factory.storage import decisions
from factory.storage.bars import last_bar_ts
from factory.storage.results import artifacts_for, evaluation_states, latest_signals, load_configs
from tests.api.helpers import utc
from tests.factory.helpers import make_test_app


def test_health(client: TestClient, served: App) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["backend"] == served.db.engine.dialect.name
    assert utc(body["last_bar"]) == last_bar_ts(served.db)
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    assert body["live_set_size"] == len(cycle.active) > 0
    assert body["last_cycle"] == cycle.time_key
    assert {"rate", "promote", "rebalance"} <= set(body["last_runs"])
    assert all(run["status"] == "done" for run in body["last_runs"].values())


def test_health_degraded_when_a_job_failed(client: TestClient, served: App) -> None:
    decisions.record_run(
        served.db, "rebalance", "2099-01-01", status="failed", at=served.now(), error="boom"
    )
    body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert body["last_runs"]["rebalance"]["error"] == "boom"


def test_leaderboard_is_what_the_cli_prints(client: TestClient, served: App) -> None:
    result = CliRunner().invoke(
        cli, ["--db", served.settings.db_url, "leaderboard", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)
    got = client.get("/leaderboard").json()
    for key, value in expected["snapshot"].items():  # times: the API adds the Z (UTC)
        mine = got["snapshot"][key]
        assert (utc(mine) if key in ("at", "as_of") else mine) == (
            datetime.fromisoformat(value) if key in ("at", "as_of") else value
        )
    assert got["active"] == expected["active"]
    assert [r["config_id"] for r in got["rows"]] == [r["config_id"] for r in expected["rows"]]
    for mine, theirs in zip(got["rows"], expected["rows"], strict=True):
        assert list(mine)[: len(theirs)] == list(theirs)  # same keys, same order
        assert {k: mine[k] for k in theirs} == theirs
    top = client.get("/leaderboard", params={"top": 1}).json()
    assert len(top["rows"]) == 1 and top["rows"][0]["rank"] == 1


def test_leaderboard_404_before_any_rating(workdir: Path, db_url: str) -> None:
    empty = make_test_app(workdir, db_url)
    with TestClient(create_app(empty)) as c:
        r = c.get("/leaderboard")
        assert r.status_code == 404 and "factory rate" in r.json()["detail"]
        assert c.get("/rebalance/latest").status_code == 404
        assert c.get("/active").json()["configs"] == []
        assert c.get("/health").json()["live_set_size"] == 0
    empty.close()


def test_configs(client: TestClient, served: App) -> None:
    configs = load_configs(served.db)
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    rows = client.get("/configs").json()
    assert [r["config_id"] for r in rows] == sorted(configs.index)
    for r in rows:
        c = configs.loc[r["config_id"]]
        assert (r["architecture"], r["feature_set"], r["lookback"]) == (
            c["architecture"],
            c["feature_set"],
            c["lookback"],
        )
        assert r["params"] == json.loads(c["params"])
        assert r["status"] == "done"
        assert r["active"] == (r["config_id"] in cycle.active)
    lgb = client.get("/configs", params={"architecture": "lightgbm"}).json()
    assert {r["config_id"] for r in lgb} == set(configs.index[configs.architecture == "lightgbm"])
    assert client.get("/configs", params={"status": "pending"}).json() == []
    assert len(client.get("/configs", params={"limit": 1, "offset": 1}).json()) == 1
    assert client.get("/configs", params={"status": "bogus"}).status_code == 422


def test_model_card(client: TestClient, served: App) -> None:
    cid = decisions.latest_cycle(served.db).active[0]  # type: ignore[union-attr]
    card = client.get(f"/configs/{cid}").json()
    arts = artifacts_for(served.db, cid, include_pruned=True)
    newest = json.loads(arts[-1].feature_schema)
    assert card["config"]["config_id"] == cid and card["config"]["active"] is True
    assert card["features"] == newest["features"] and card["features"]
    assert card["feature_set_version"] == newest["feature_set_version"]
    assert [a["sha256"] for a in card["artifacts"]] == [a.sha256 for a in arts]
    assert [utc(a["train_end"]) for a in card["artifacts"]] == [
        datetime.fromisoformat(json.loads(a.feature_schema)["train_end"]) for a in arts
    ]
    state = evaluation_states(served.db)[cid]
    assert card["evaluation"]["status"] == state.status == "done"
    assert card["compute"]["fit_seconds"] == pytest.approx(state.fit_seconds)
    assert card["compute"]["n_predictions"] == state.n_predictions
    snap = decisions.latest_snapshot(served.db)
    assert snap is not None
    assert card["latest_rating"]["snapshot"] == snap.time_key
    ratings = decisions.snapshot_table(served.db, snap.id)
    assert card["latest_rating"]["rank"] == ratings.loc[cid, "rank"]
    assert card["latest_rating"]["sharpe_all"] == pytest.approx(ratings.loc[cid, "sharpe_all"])
    assert [p["action"] for p in card["promotions"]] == ["promoted"]
    assert card["promotions"][0]["reason"]
    r = client.get("/configs/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_active_set(client: TestClient, served: App) -> None:
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    body = client.get("/active").json()
    assert body["cycle"] == cycle.time_key
    assert [m["config"]["config_id"] for m in body["configs"]] == list(cycle.active)
    since = decisions.incumbents(served.db)
    for m in body["configs"]:
        assert utc(m["since"]) == since[m["config"]["config_id"]]
        assert m["rank"] is not None


def test_promotions(client: TestClient, served: App) -> None:
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    stored = decisions.cycle_decisions(served.db, cycle.id)
    cycles = client.get("/promotions").json()
    assert [c["time_key"] for c in cycles] == [cycle.time_key]
    shown = {d["config_id"]: d for d in cycles[0]["decisions"]}
    for row in stored.itertuples():
        if row.action == "skipped":
            assert row.config_id not in shown
            continue
        assert shown[row.config_id]["action"] == row.action
        assert shown[row.config_id]["reason"] == row.reason
    one = client.get(f"/promotions/{cycle.time_key}").json()
    assert len(one["decisions"]) == len(stored)
    assert one["active"] == list(cycle.active)
    assert client.get("/promotions/1999-01-01").status_code == 404


def test_rebalance_latest_and_dated(client: TestClient, served: App) -> None:
    info = decisions.latest_rebalance(served.db)
    assert info is not None
    latest = client.get("/rebalance/latest").json()
    assert latest["time_key"] == info.time_key
    assert latest["weights"] == pytest.approx(info.weights)
    assert latest["gross"] == pytest.approx(info.gross)
    assert latest["export_file"] == Path(info.export_path or "").name
    dated = client.get(f"/rebalance/{info.time_key}").json()
    assert dated == latest
    assert client.get("/rebalance/1999-01-01").status_code == 404
    assert client.get("/rebalance/not-a-date").status_code == 422


def test_latest_signals_and_ensemble(client: TestClient, served: App) -> None:
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None
    stored = latest_signals(served.db, list(cycle.active))
    body = client.get("/signals/latest").json()
    assert utc(body["last_bar"]) == last_bar_ts(served.db)
    assert [c["config_id"] for c in body["configs"]] == list(cycle.active)
    for c in body["configs"]:
        mine = stored[stored.config_id == c["config_id"]]
        assert c["signals"] == pytest.approx(dict(zip(mine.asset, mine.signal, strict=True)))
        assert c["fresh"] is True
    wide = stored.pivot(index="config_id", columns="asset", values="signal")
    assert body["ensemble"] == pytest.approx(wide.mean(axis=0).to_dict())
    # The rebalance at this bar is the ensemble, equally weighted over assets.
    weights = pd.Series(client.get("/rebalance/latest").json()["weights"])
    ens = pd.Series(body["ensemble"])
    scale = min(1.0, 1.0 / float((ens / len(ens)).abs().sum()))
    np.testing.assert_allclose(weights.sort_index(), (ens / len(ens) * scale).sort_index())
    one = list(cycle.active)[:1]
    only = client.get("/signals/latest", params={"config_id": one}).json()
    assert [c["config_id"] for c in only["configs"]] == one


def test_runs(client: TestClient) -> None:
    runs = client.get("/runs").json()
    assert {r["job"] for r in runs} == {"rate", "promote", "rebalance"}
    rate = client.get("/runs", params={"job": "rate"}).json()
    assert rate and all(r["job"] == "rate" for r in rate)
    assert len(client.get("/runs", params={"limit": 1}).json()) == 1


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/health",
        "/leaderboard",
        "/configs",
        "/configs/{config_id}",
        "/active",
        "/promotions",
        "/promotions/{time_key}",
        "/rebalance/latest",
        "/rebalance/{day}",
        "/signals/latest",
        "/runs",
        "/predictions",
        "/predict",
        "/jobs/{job}",
    ):
        assert path in spec["paths"], path
    assert spec["paths"]["/jobs/{job}"]["post"]["security"] == [{"HTTPBearer": []}]


def test_hot_reads_are_rebuilt_only_when_the_data_changes(client: TestClient, served: App) -> None:
    cache = client.app.state.cache  # type: ignore[attr-defined]
    first = client.get("/leaderboard").json()
    builds = cache.builds
    assert client.get("/leaderboard").json() == first
    assert client.get("/rebalance/latest").status_code == 200
    assert client.get("/rebalance/latest").status_code == 200
    assert cache.builds == builds + 1  # the second leaderboard and rebalance were hits
    # A failed re-evaluation changes the leaderboard's status column: rebuilt.
    from sqlalchemy import update

    from factory.storage.schema import Evaluation

    victim = first["rows"][-1]["config_id"]
    with served.db.begin() as conn:
        conn.execute(
            update(Evaluation.__table__)
            .where(Evaluation.__table__.c.config_id == victim)
            .values(status="failed", updated_at=served.now().replace(year=2030))
        )
    from factory.storage import decisions as d

    d.record_run(served.db, "noop", "k", status="done", at=served.now())
    after = client.get("/leaderboard").json()
    assert cache.builds == builds + 2
    status = {r["config_id"]: r["status"] for r in after["rows"]}
    assert status[victim] == ("active" if victim in after["active"] else "failed")


def test_an_unreadable_database_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from factory.api import views

    def down(*_: object, **__: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(views, "last_bar_ts", down)
    r = client.get("/health")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable" and body["database"]["reachable"] is False
    assert "server closed the connection" in body["database"]["error"]
    r = client.get("/signals/latest")
    assert r.status_code == 503 and r.json()["detail"].startswith("database unavailable")
