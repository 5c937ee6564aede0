"""The predictions table: created by migration 0004 exactly as the ORM declares it, and
the log round-trips, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from factory.plan import ModelConfig
from factory.storage.database import Database
from factory.storage.predictions import (
    PredictionRecord,
    count_predictions,
    log_predictions,
    recent_predictions,
)
from factory.storage.results import upsert_configs
from factory.storage.schema import Base


def test_migration_matches_the_schema(db: Database) -> None:
    assert "predictions" in inspect(db.engine).get_table_names()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_log_round_trip(db: Database) -> None:
    config = ModelConfig(
        architecture="lightgbm",
        arch_version=1,
        family="classical",
        lookback=8,
        feature_set="ohlcv",
        feature_set_version=1,
        params=(),
        feature_selection="none",
    )
    upsert_configs(db, [config], at=datetime(2026, 1, 1))
    first = [
        PredictionRecord(
            "r1", datetime(2026, 1, 2), config.config_id, a, datetime(2026, 1, 1), s, "ab" * 32
        )
        for a, s in (("AAA", 0.5), ("BBB", -0.25))
    ]
    second = [
        PredictionRecord(
            "r2",
            datetime(2026, 1, 3),
            config.config_id,
            "AAA",
            datetime(2026, 1, 2),
            0.1,
            "cd" * 32,
        )
    ]
    log_predictions(db, first)
    log_predictions(db, second)
    log_predictions(db, [])
    assert count_predictions(db) == 3
    newest = recent_predictions(db, limit=10)
    assert newest[0] == second[0]
    assert sorted(recent_predictions(db, request_id="r1"), key=lambda p: p.asset) == first
    assert len(recent_predictions(db, limit=2)) == 2
