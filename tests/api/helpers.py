"""A factory database with evaluated, rated, promoted and rebalanced configs, built once
per test session and cloned into each test's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, insert, select

from factory import catalog
from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.jobs import promote_job, rate_job, rebalance_job
from factory.settings import load_settings
from factory.storage.bars import load_market_data
from factory.storage.database import Database
from factory.storage.schema import Base
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import SMALL_PLAN, make_test_app

# 2 architectures (a pooled tree model, a per-asset series model) x 2 feature sets
# (ohlcv, momentum: 126 bars of warm-up) x lookback 8 = 4 configs on 4 assets x 520 bars.
PLAN: dict[str, Any] = {
    "plan.architectures": ["lightgbm", "arima"],
    "evaluation.retrain_every": 150,
    "rating.min_track_record": 60,
    "rating.dsr_threshold": 0.0,
    "rating.dsr_exit_threshold": 0.0,
    "rating.min_active": 1,
    "rating.max_active": 4,
    "rating.top_k": 3,
    "rating.compute_pbo": False,
}
ASSETS = 4
NOW = datetime(2026, 3, 2, 21, 0)  # the golden build's clock (make_test_app)
BARS = 520


@dataclass(frozen=True)
class Golden:
    root: Path  # holds factory.db (SQLite) and artifacts/
    db_path: Path
    artifacts: Path
    active: tuple[str, ...]


def build_golden(root: Path) -> Golden:
    app = make_test_app(root, None, **PLAN)
    u = synth_universe(ASSETS, BARS, seed=3, signal="planted")
    import_frame(app.db, u.bars, kind="bars", source="synth", at=app.now())
    data = load_market_data(app.db)
    configs = catalog.plan(app.settings, catalog.profile(data)).configs
    report = run_sweep(
        app.db, app.settings, data, configs, SerialBackend(), app.clock, progress=False
    )
    assert report.failed == 0 and report.evaluated == len(configs) >= 3, report
    rate_job(app)
    cycle = promote_job(app)
    rebalance_job(app)
    app.close()
    return Golden(root, root / "factory.db", root / "artifacts", cycle.cycle.active)


def clone_into(golden: Golden, url: str) -> None:
    """Copy the golden database into ``url`` (an empty SQLite file path or PostgreSQL
    schema); the artifacts stay where they are (the store root is a setting)."""
    if url.startswith("sqlite:///"):
        target = Path(url.removeprefix("sqlite:///"))
        src = sqlite3.connect(golden.db_path)
        dst = sqlite3.connect(target)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return
    Database(url).dispose()  # create the schema by migration
    source = create_engine(f"sqlite:///{golden.db_path}")
    target_db = Database(url)
    with source.connect() as src, target_db.begin() as dst:
        for tbl in reversed(Base.metadata.sorted_tables):
            dst.execute(delete(tbl))
        for tbl in Base.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(select(tbl))]
            if rows:
                dst.execute(insert(tbl), rows)
        if dst.dialect.name == "postgresql":  # move serial sequences past copied ids
            for tbl in Base.metadata.sorted_tables:
                if "id" in tbl.c and tbl.c.id.autoincrement is True:
                    dst.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{tbl.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {tbl.name}), 0) + 1, false)"
                    )
    source.dispose()
    target_db.dispose()


def serving_app(golden: Golden, url: str, tmp: Path, **overrides: Any) -> App:
    """An App on a clone of the golden database, sharing its artifacts."""
    clone_into(golden, url)
    settings = load_settings(
        None,
        db_url=url,
        output_dir=str(tmp / "out"),
        cache_dir=str(tmp / "cache"),
        **{**SMALL_PLAN, **PLAN, "artifacts": str(golden.artifacts), **overrides},
    )
    return App(settings, clock=FakeClock(NOW))


def copy_artifacts(golden: Golden, to: Path) -> Path:
    shutil.copytree(golden.artifacts, to)
    return to


HOSTILE_ASSET = "<script>alert(1)</script>"
HOSTILE_FEATURE = "<img src=x onerror=alert(2)>"
HOSTILE_ARCH = '"><svg onload=alert(3)>'


def inject_hostile(db: Database, config_id: str) -> None:
    """Hostile names where user-supplied strings reach the pages: an asset in the newest
    rebalance, a feature name in the config's newest artifact schema and its
    architecture name (none of them can pass the import or registry rules; this writes
    them straight into the tables, as a compromised or buggy writer could)."""
    import json

    import pandas as pd
    from sqlalchemy import update

    from factory.storage import decisions
    from factory.storage.results import artifacts_for
    from factory.storage.schema import Artifact, Config

    latest = decisions.latest_rebalance(db)
    assert latest is not None
    weights = pd.Series({**latest.weights, HOSTILE_ASSET: 0.05})
    decisions.save_rebalance(
        db,
        time_key="2099-01-01",
        bar_ts=datetime(2099, 1, 1),
        at=latest.at,
        cycle_id=None,
        n_active=latest.n_active,
        weights=weights,
        gross=float(weights.abs().sum()),
        note=f"note about {HOSTILE_ASSET}",
        export_path=None,
    )
    art = artifacts_for(db, config_id)[-1]
    schema = json.loads(art.feature_schema)
    schema["features"] = [*schema["features"], HOSTILE_FEATURE]
    with db.begin() as conn:
        conn.execute(
            update(Artifact.__table__)
            .where(Artifact.__table__.c.id == art.id)
            .values(feature_schema=json.dumps(schema))
        )
        conn.execute(
            update(Config.__table__)
            .where(Config.__table__.c.config_id == config_id)
            .values(architecture=HOSTILE_ARCH)
        )


def utc(text: str) -> datetime:
    """An API timestamp (``...Z``) as the naive UTC datetime the database holds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0, text
    return parsed.replace(tzinfo=None)


@contextmanager
def running_server(asgi: Any) -> Iterator[str]:
    """Serve ``asgi`` with uvicorn on a free loopback port in a background thread; yields
    the base URL and stops the server on exit."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
