"""Readers during writes: the daemon appends results while the API and other readers
query. Every read must succeed and see whole transactions only (a consistent snapshot),
on SQLite (WAL) and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import numpy as np
import pandas as pd

from factory.evaluation.engine import EvalState, EvaluationResult
from factory.plan import ModelConfig
from factory.storage.database import Database
from factory.storage.results import (
    StoreItem,
    latest_signals,
    load_returns,
    store_results,
    upsert_configs,
)

AT = datetime(2024, 1, 1)
CHUNK = 5  # bars appended per transaction, for every config at once
CHUNKS = 12
CALENDAR = pd.bdate_range("2020-01-01", periods=CHUNK * CHUNKS).to_numpy()


def _chunk(cid: str, k: int) -> EvaluationResult:
    ts = CALENDAR[k * CHUNK : (k + 1) * CHUNK]
    last = pd.Timestamp(ts[-1]).to_pydatetime()
    n = len(ts)
    return EvaluationResult(
        cid,
        "done",
        assets=("A", "B"),
        signal_ts=ts,
        signals=np.full((n, 2), 0.5, dtype=np.float32),
        return_ts=ts,
        net=np.full(n, 0.001),
        gross=np.full(n, 0.001),
        turnover=np.zeros(n),
        cost=np.zeros(n),
        state=EvalState(first_ts=datetime(2020, 1, 1), last_ts=last, first_row_ts=AT),
        n_retrains=1,
        n_predictions=2 * n,
        fit_seconds=0.1,
        predict_seconds=0.1,
        last_ts=last,
    )


def test_readers_see_whole_transactions_while_the_driver_appends(db_url: str) -> None:
    writer_db = Database(db_url)
    configs = [
        ModelConfig("lightgbm", 1, "classical", lb, "ohlcv", 1, (("num_leaves", 7),))
        for lb in (5, 10, 20, 30)
    ]
    upsert_configs(writer_db, configs, at=AT)
    ids = [c.config_id for c in configs]
    errors: list[BaseException] = []
    seen: list[int] = []
    done = threading.Event()

    def write() -> None:
        try:
            for k in range(CHUNKS):
                items = [StoreItem(_chunk(cid, k), k == 0) for cid in ids]
                store_results(writer_db, items, eval_key="k", at=AT)
                time.sleep(0.02)  # a daemon writes in bursts; give readers a chance between
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        reader = Database(db_url)  # its own engine and connections, like another process
        try:
            last = 0
            while not done.is_set() or last < CHUNK * CHUNKS:
                returns = load_returns(reader, ids=ids)
                counts = {int(returns[c].notna().sum()) for c in returns} if len(returns) else {0}
                assert len(counts) == 1, f"a read saw part of a transaction: {counts}"
                n = counts.pop()
                assert n % CHUNK == 0 and n >= last, (n, last)
                signals = latest_signals(reader, ids)
                if n:
                    assert signals["ts"].nunique() == 1 and len(signals) == 2 * len(ids)
                seen.append(n)
                last = n
                if done.is_set() and errors:
                    break
        except BaseException as exc:
            errors.append(exc)
        finally:
            reader.dispose()

    readers = [threading.Thread(target=read) for _ in range(2)]
    writer = threading.Thread(target=write)
    for t in (*readers, writer):
        t.start()
    for t in (writer, *readers):
        t.join(timeout=120)
    writer_db.dispose()
    assert not errors, errors
    assert max(seen) == CHUNK * CHUNKS
    # The readers really ran during the writes: they saw intermediate states.
    assert len({n for n in seen if 0 < n < CHUNK * CHUNKS}) >= 1, sorted(set(seen))
