"""A `factory run --once` for the crash tests, on a fixed clock (so every run of it, killed
or not, works under the same time keys): ``python -m tests.scheduler.crash_driver DB_URL
WORKDIR [--setup]``. Ticks until no job is due; exit 0."""

from __future__ import annotations

import sys
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
    for _ in range(10):
        if not tick(app, backend):
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
