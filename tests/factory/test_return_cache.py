"""The incremental returns cache is always what the database holds: through appends,
records replaced under new settings, deleted configs, and a cold start."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import delete

from factory.evaluation.engine import EvalState, EvaluationResult
from factory.plan import ModelConfig
from factory.storage import return_cache
from factory.storage.database import Database, table
from factory.storage.results import StoreItem, store_results, upsert_configs

AT = datetime(2024, 1, 1)
COLS = ("net_return", "turnover")
CAL = pd.bdate_range("2020-01-01", periods=40).to_numpy()


def _result(cid: str, start: int, stop: int, scale: float) -> EvaluationResult:
    ts = CAL[start:stop]
    last = pd.Timestamp(ts[-1]).to_pydatetime()
    n = len(ts)
    return EvaluationResult(
        cid,
        "done",
        assets=("A",),
        signal_ts=ts,
        signals=np.ones((n, 1), dtype=np.float32),
        return_ts=ts,
        net=scale * np.arange(start, stop, dtype=float),
        gross=np.zeros(n),
        turnover=np.full(n, scale),
        cost=np.zeros(n),
        state=EvalState(first_ts=datetime(2020, 1, 1), last_ts=last, first_row_ts=AT),
        n_retrains=1,
        n_predictions=n,
        fit_seconds=0.1,
        predict_seconds=0.1,
        last_ts=last,
    )


def _check(db: Database) -> None:
    got = return_cache.cached_matrices(db, COLS)
    want = return_cache.to_matrices(return_cache.read_long(db, COLS), COLS)
    for c in COLS:
        pd.testing.assert_frame_equal(got[c], want[c])


def test_cache_follows_appends_replacements_and_deletions(db: Database) -> None:
    return_cache.clear()
    configs = [ModelConfig("ridge", 1, "classical", lb, "ohlcv", 1, ()) for lb in (5, 10, 20)]
    ids = [c.config_id for c in configs]
    upsert_configs(db, configs, at=AT)
    store_results(
        db,
        [StoreItem(_result(c, 0, 10 + 5 * i, 1.0 + i), True) for i, c in enumerate(ids)],
        eval_key="k",
        at=AT,
    )
    _check(db)
    # Appends (one config), the others unchanged: read incrementally.
    store_results(db, [StoreItem(_result(ids[0], 10, 30, 1.0), False)], eval_key="k", at=AT)
    _check(db)
    # A record replaced under new settings: fewer rows, other values.
    store_results(db, [StoreItem(_result(ids[1], 3, 8, 9.0), True)], eval_key="k2", at=AT)
    _check(db)
    # Rows deleted outside the factory's writers (a retraction): the config is re-read.
    with db.begin() as conn:
        conn.execute(
            delete(table("config_returns")).where(table("config_returns").c.config_id == ids[2])
        )
    _check(db)
    assert ids[2] not in return_cache.cached_matrices(db, COLS)["net_return"].columns
    # A replaced record that ends up with as many rows after the same bar is still seen.
    store_results(db, [StoreItem(_result(ids[0], 0, 30, 5.0), True)], eval_key="k3", at=AT)
    _check(db)
    return_cache.clear()
    _check(db)
