"""A `factory run --once` for the crash and two-daemon tests, on a fixed clock (so every
run of it, killed or not, works under the same time keys): ``python -m
tests.scheduler.crash_driver DB_URL WORKDIR [--setup] [--report]``. Ticks until no job is
due; exit 0. ``--report`` prints each job result as a JSON line."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.settings import load_settings
from scheduler.backends import SerialBackend
from scheduler.daemon import tick

NOW = datetime(2026, 3, 2, 21, 0)
PLAN = {
    "plan.architectures": ["ridge", "lightgbm"],
    "plan.feature_sets": ["ohlcv", "momentum"],
    "plan.lookbacks": [8],
    "plan.max_grid": 1,
    "evaluation.min_train": 250,
    "evaluation.retrain_every": 100,
    "scheduler.lease_ttl_seconds": 2,  # a killed holder's SQLite lease expires quickly
}


def app_for(db_url: str, workdir: Path) -> App:
    settings = load_settings(
        None,
        db_url=db_url,
        artifacts=str(workdir / "artifacts"),
        output_dir=str(workdir / "out"),
        cache_dir=str(workdir / "cache"),
        **PLAN,
    )
    return App(settings, clock=FakeClock(NOW))


def main(argv: list[str]) -> int:
    db_url, workdir = argv[0], Path(argv[1])
    app = app_for(db_url, workdir)
    if "--setup" in argv:
        bars = synth_universe(4, 700, seed=11, signal="planted").bars
        import_frame(app.db, bars, kind="bars", source="synth", at=app.now())
        return 0
    backend = SerialBackend()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        results = tick(app, backend)
        if "--report" in argv:  # what this process did, for the two-daemon test
            for r in results:
                line = {"job": r.job, "key": r.time_key, "status": r.status, "detail": r.detail}
                print(json.dumps(line), flush=True)
        if not results:
            return 0
        if any("lease" in r.detail for r in results if r.status == "skipped"):
            time.sleep(0.5)  # a killed predecessor's lease: wait for it to expire
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
