"""``POST /predict``: the engine's signals for the stored bars, the 422s that say what is
missing, the prediction log, the pipeline cache and artifact verification."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from architectures import registry
from factory.api import create_app
from factory.app import App
from factory.artifacts import ArtifactStore
from factory.data.market import MarketData
from factory.data.synth import synth_universe
from factory.evaluation.engine import EvalParams, evaluate_config
from factory.evaluation.inputs import build_inputs, compute_features
from factory.storage import decisions
from factory.storage.bars import load_market_data
from factory.storage.predictions import count_predictions, recent_predictions
from factory.storage.results import artifacts_for, latest_signals, store_result, upsert_configs
from factory.storage.schema import Artifact
from features.registry import get_feature_set
from tests.api.helpers import Golden, copy_artifacts, serving_app, utc
from tests.factory.helpers import tiny_config


def payload(data: MarketData, last: int | None = None) -> list[dict[str, Any]]:
    """Bars as the JSON body lists them (``last`` = only each asset's newest bars)."""
    bars = data.bars.reset_index()
    if last is not None:
        bars = bars.groupby("asset", group_keys=False).tail(last)
    bars["timestamp"] = bars["timestamp"].map(lambda t: t.isoformat())
    return [
        {k: v for k, v in row.items() if not (isinstance(v, float) and np.isnan(v))}
        for row in bars.to_dict("records")
    ]


def test_predict_on_stored_bars_returns_the_engines_signals(
    client: TestClient, served: App
) -> None:
    data = load_market_data(served.db)
    cycle = decisions.latest_cycle(served.db)
    assert cycle is not None and cycle.active
    r = client.post("/predict", json={"bars": payload(data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert utc(body["bar_ts"]) == data.timestamps[-1]
    assert [c["config_id"] for c in body["configs"]] == list(cycle.active)
    assert body["skipped"] == []
    stored = latest_signals(served.db, list(cycle.active))
    assert (stored["ts"] == data.timestamps[-1]).all()
    for served_config in body["configs"]:
        cid = served_config["config_id"]
        mine = stored[stored.config_id == cid].set_index("asset")["signal"]
        got = pd.Series(served_config["signals"])
        assert sorted(got.index) == sorted(mine.index)
        np.testing.assert_allclose(got[mine.index], mine, rtol=1e-5, atol=1e-6)
        assert served_config["artifact_sha256"] == artifacts_for(served.db, cid)[-1].sha256
    wide = stored.pivot(index="config_id", columns="asset", values="signal")
    ens = pd.Series(body["ensemble"])
    np.testing.assert_allclose(ens[wide.columns], wide.mean(axis=0), rtol=1e-5, atol=1e-6)

    # Every served signal is in the log, with the artifact that produced it.
    logged = recent_predictions(served.db, request_id=body["request_id"], limit=1000)
    assert len(logged) == sum(len(c["signals"]) for c in body["configs"])
    by_key = {(p.config_id, p.asset): p for p in logged}
    for c in body["configs"]:
        for asset, signal in c["signals"].items():
            p = by_key[(c["config_id"], asset)]
            assert p.signal == pytest.approx(signal)
            assert p.artifact_sha256 == c["artifact_sha256"]
            assert p.bar_ts == utc(body["bar_ts"])
            assert p.requested_at == served.now()
    listed = client.get("/predictions", params={"request_id": body["request_id"]}).json()
    assert len(listed) == len(logged)


def test_loaded_pipelines_are_cached_by_checksum(client: TestClient, served: App) -> None:
    data = payload(load_market_data(served.db), last=200)
    predictor = client.app.state.predictor  # type: ignore[attr-defined]
    first = client.post("/predict", json={"bars": data})
    assert first.status_code == 200, first.text
    loads = predictor.cache.loads
    assert loads == len(first.json()["configs"])
    second = client.post("/predict", json={"bars": data})
    assert second.json()["configs"] == first.json()["configs"]
    assert predictor.cache.loads == loads
    assert count_predictions(served.db) == 2 * sum(
        len(c["signals"]) for c in first.json()["configs"]
    )


def test_too_few_bars_says_how_many_are_needed(client: TestClient, served: App) -> None:
    data = load_market_data(served.db)
    r = client.post("/predict", json={"bars": payload(data, last=20)})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "too few bars" in detail and "'momentum'" in detail
    (need,) = (int(n) for n in re.findall(r"send at least (\d+) bars", detail))
    assert "'SYN000' (20 bars)" in detail
    assert need > 20
    # The number is right: that many bars are served, one fewer is refused.
    assert client.post("/predict", json={"bars": payload(data, last=need)}).status_code == 200
    short = client.post("/predict", json={"bars": payload(data, last=need - 1)})
    assert short.status_code == 422 and f"send at least {need} bars" in short.json()["detail"]
    assert f"'SYN000' ({need - 1} bars)" in short.json()["detail"]


def test_an_asset_without_a_bar_at_the_last_timestamp_is_named(
    client: TestClient, served: App
) -> None:
    bars = payload(load_market_data(served.db), last=300)
    last = max(b["timestamp"] for b in bars)
    bars = [b for b in bars if not (b["asset"] == "SYN001" and b["timestamp"] == last)]
    r = client.post("/predict", json={"bars": bars})
    assert r.status_code == 422
    assert "no bar at the last timestamp" in r.json()["detail"]
    assert "'SYN001'" in r.json()["detail"] and "'SYN000'" not in r.json()["detail"]


def test_bad_bars_are_refused_with_the_import_rules(client: TestClient, served: App) -> None:
    bars = payload(load_market_data(served.db), last=200)
    broken = [dict(b) for b in bars]
    broken[5]["high"] = broken[5]["low"] / 2
    r = client.post("/predict", json={"bars": broken})
    assert r.status_code == 422 and "high < low" in r.json()["detail"]
    hostile = [{**b, "asset": "<script>alert(1)</script>"} for b in bars[:3]]
    r = client.post("/predict", json={"bars": hostile})
    assert r.status_code == 422 and "invalid asset" in r.json()["detail"]
    r = client.post("/predict", json={"bars": [{**bars[0], "mystery": 1.0}]})
    assert r.status_code == 422 and "mystery" in r.text
    assert client.post("/predict", json={"bars": []}).status_code == 422
    r = client.post("/predict", json={"bars": bars, "configs": ["0123abcd"]})
    assert r.status_code == 422 and "unknown config id(s): 0123abcd" in r.json()["detail"]
    r = client.post("/predict", json={"bars": bars, "configs": ["not-an-id"]})
    assert r.status_code == 422 and "not-an-id" in r.text
    assert count_predictions(served.db) == 0


def test_a_missing_feature_is_named(golden: Golden, db_url: str, workdir: Path) -> None:
    """A config trained with quote sizes (order-flow features from bid/ask sizes), asked
    with bars that have none: 422 naming a feature the model needs."""
    served = serving_app(
        golden, db_url, workdir, artifacts=str(copy_artifacts(golden, workdir / "a"))
    )
    client = TestClient(create_app(served))
    fs = get_feature_set("orderflow")
    spec = registry.get("lightgbm")
    config = tiny_config(spec, fs, lookback=8)
    u = synth_universe(3, 400, seed=4, extras=("book",))
    trained_on = MarketData.from_long(u.bars)
    inputs = build_inputs(trained_on, fs)
    result = evaluate_config(
        config,
        spec,
        inputs,
        EvalParams(min_train=250, retrain_every=150),
        store=ArtifactStore(served.settings.artifacts),
    )
    assert result.status == "done", result.error
    upsert_configs(served.db, [config], at=served.now())
    store_result(served.db, result, eval_key="t", at=served.now())
    needed = json.loads(artifacts_for(served.db, config.config_id)[-1].feature_schema)

    plain = MarketData.from_long(u.bars.drop(columns=["bid_size", "ask_size"]))
    available = compute_features(plain, fs).names
    missing = [f for f in needed["preprocessor"]["input_names"] if f not in available]
    assert missing  # the premise: without sizes some inputs cannot be computed
    r = client.post("/predict", json={"bars": payload(plain), "configs": [config.config_id]})
    assert r.status_code == 422
    assert repr(missing[0]) in r.json()["detail"]
    with_sizes = client.post(
        "/predict", json={"bars": payload(trained_on), "configs": [config.config_id]}
    )
    assert with_sizes.status_code == 200, with_sizes.text
    stored = result.signals_frame().iloc[-1].dropna()
    got = pd.Series(with_sizes.json()["configs"][0]["signals"])[stored.index]
    np.testing.assert_allclose(got, stored, rtol=1e-5, atol=1e-6)
    served.close()


def test_a_tampered_artifact_is_skipped_not_served(
    golden: Golden, db_url: str, workdir: Path
) -> None:
    arts = copy_artifacts(golden, workdir / "arts")
    app = serving_app(golden, db_url, workdir, artifacts=str(arts))
    victim = decisions.latest_cycle(app.db).active[0]  # type: ignore[union-attr]
    newest = artifacts_for(app.db, victim)[-1]
    with (arts / newest.uri).open("ab") as fh:
        fh.write(b"tampered")
    with TestClient(create_app(app)) as c:
        r = c.post("/predict", json={"bars": payload(load_market_data(app.db), last=200)})
    app.close()
    assert r.status_code == 200, r.text
    body = r.json()
    assert victim not in [cfg["config_id"] for cfg in body["configs"]]
    assert body["configs"]  # the others are served
    (skip,) = body["skipped"]
    assert skip["config_id"] == victim and "sha256" in skip["reason"]


def test_empty_live_set_is_409(golden: Golden, db_url: str, workdir: Path) -> None:
    app = serving_app(golden, db_url, workdir)
    cycle = decisions.latest_cycle(app.db)
    assert cycle is not None
    with app.db.begin() as conn:
        conn.execute(update(decisions.table("promotion_cycles")).values(active="[]"))
    with TestClient(create_app(app)) as c:
        r = c.post("/predict", json={"bars": payload(load_market_data(app.db), last=200)})
        assert r.status_code == 409 and "live set is empty" in r.json()["detail"]
        # Named configs are served even with an empty live set.
        named = c.post(
            "/predict",
            json={
                "bars": payload(load_market_data(app.db), last=200),
                "configs": [cycle.active[0]],
            },
        )
        assert named.status_code == 200 and len(named.json()["configs"]) == 1
    app.close()


def test_pruned_artifacts_are_not_served(client: TestClient, served: App) -> None:
    """Only the newest unpruned artifact serves; when every artifact of a config is
    pruned it is skipped with a reason."""
    victim = decisions.latest_cycle(served.db).active[0]  # type: ignore[union-attr]
    with served.db.begin() as conn:
        conn.execute(
            update(Artifact.__table__).where(Artifact.config_id == victim).values(pruned=True)
        )
    r = client.post("/predict", json={"bars": payload(load_market_data(served.db), last=200)})
    assert r.status_code == 200
    assert [s["config_id"] for s in r.json()["skipped"]] == [victim]


def test_auxiliary_series_are_read_from_extra_keys(
    golden: Golden, db_url: str, workdir: Path
) -> None:
    """A sentiment config: bars with ``sentiment_score`` keys get the engine's signals;
    bars without them get a 422 naming the missing column."""
    served = serving_app(
        golden, db_url, workdir, artifacts=str(copy_artifacts(golden, workdir / "a"))
    )
    fs = get_feature_set("sentiment")
    spec = registry.get("lightgbm")
    config = tiny_config(spec, fs, lookback=5)
    u = synth_universe(2, 400, seed=6, extras=("sentiment",))
    assert u.sentiment is not None
    bars = u.bars.set_index(["timestamp", "asset"])
    bars = bars.join(u.sentiment.set_index(["timestamp", "asset"]).add_prefix("sentiment_"))
    data = MarketData(bars.sort_index().astype("float64"))
    result = evaluate_config(
        config,
        spec,
        build_inputs(data, fs),
        EvalParams(min_train=250, retrain_every=150),
        store=ArtifactStore(served.settings.artifacts),
    )
    assert result.status == "done", result.error
    upsert_configs(served.db, [config], at=served.now())
    store_result(served.db, result, eval_key="t", at=served.now())
    with TestClient(create_app(served)) as client:
        ok = client.post("/predict", json={"bars": payload(data), "configs": [config.config_id]})
        assert ok.status_code == 200, ok.text
        stored = result.signals_frame().iloc[-1].dropna()
        got = pd.Series(ok.json()["configs"][0]["signals"])[stored.index]
        np.testing.assert_allclose(got, stored, rtol=1e-5, atol=1e-6)
        plain = MarketData(
            data.bars.drop(columns=[c for c in data.columns if c.startswith("sentiment_")])
        )
        r = client.post("/predict", json={"bars": payload(plain), "configs": [config.config_id]})
        assert r.status_code == 422 and "sentiment_score" in r.json()["detail"]
    served.close()
