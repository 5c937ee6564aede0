"""A small synthetic database for refinement tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.refine.storage import optuna_schema
from tests.factory.helpers import make_test_app

# A tuning period of 300 bars (boundary 2011-03-14 on business days from 2010-01-04),
# first prediction at bar 150, refit every 30 bars: a ridge trial takes well under a second.
REFINE = {
    "evaluation.min_train": 150,
    "evaluation.retrain_every": 30,
    "refine.tune_end": "2011-03-14",
    "refine.prune_blocks": 3,
    "plan.architectures": ["ridge"],
    "plan.feature_sets": ["ohlcv"],
}
N_BARS = 420


def bars(seed: int = 2):  # type: ignore[no-untyped-def]
    return synth_universe(3, N_BARS, seed=seed, signal="planted").bars


def refine_app(workdir: Path, db_url: str, frame=None, **overrides: object) -> App:  # type: ignore[no-untyped-def]
    a = make_test_app(workdir, db_url, **{**REFINE, **overrides})
    import_frame(a.db, bars() if frame is None else frame, kind="bars", source="synth", at=a.now())
    return a


def drop_optuna_schema(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{optuna_schema(db_url)}" CASCADE'))
    finally:
        engine.dispose()


@pytest.fixture
def app(workdir: Path, db_url: str) -> Iterator[App]:
    a = refine_app(workdir, db_url)
    yield a
    a.close()
    drop_optuna_schema(db_url)
