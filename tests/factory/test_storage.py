"""The storage contract, run on SQLite and (when reachable) PostgreSQL: migrations,
idempotent writes, all-or-nothing result writes, round trips of every record kind."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, inspect, select

from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.evaluation.engine import EvalState, EvaluationResult
from factory.plan import ModelConfig
from factory.storage import decisions
from factory.storage.bars import AUX_STALENESS, load_market_data
from factory.storage.database import Database, current_revision, head_revision, migrate, table
from factory.storage.results import (
    RetryPolicy,
    evaluation_states,
    load_returns,
    store_result,
    trial_counts,
    upsert_configs,
)

AT = datetime(2026, 1, 1)
TABLES = {
    "bars",
    "aux_values",
    "imports",
    "configs",
    "evaluations",
    "signals",
    "config_returns",
    "artifacts",
    "rating_snapshots",
    "ratings",
    "promotion_cycles",
    "promotions",
    "rebalances",
    "rebalance_weights",
    "runs",
}


def count(db: Database, name: str) -> int:
    with db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


def test_migrations_create_every_table_and_are_idempotent(db: Database) -> None:
    names = set(inspect(db.engine).get_table_names())
    assert TABLES <= names
    with db.begin() as conn:
        assert current_revision(conn) == head_revision()
    migrate(db.engine)  # second run: no-op, no error
    assert TABLES <= set(inspect(db.engine).get_table_names())


def test_bars_round_trip_with_aux_aligned_as_of(db: Database) -> None:
    u = synth_universe(2, 30, seed=4, extras=("book", "sentiment"))
    import_frame(db, u.bars, kind="bars", source="t", at=AT)
    # Sentiment only every other day: bars in between get the previous value (as of).
    sparse = u.sentiment.iloc[::4].reset_index(drop=True)  # 2 assets -> every 2nd bar per asset
    import_frame(db, sparse, kind="sentiment", source="t", at=AT)
    data = load_market_data(db)
    assert data.bars.shape[0] == 60
    stored = data.bars.xs("SYN000", level="asset")
    src = u.bars[u.bars.asset == "SYN000"].set_index("timestamp")
    assert np.allclose(stored["close"].to_numpy(), src["close"].to_numpy())
    assert np.allclose(stored["bid_size"].to_numpy(), src["bid_size"].to_numpy())
    s = sparse[sparse.asset == "SYN000"].set_index("timestamp")["score"]
    expected = s.reindex(stored.index, method="ffill")
    assert np.allclose(stored["sentiment_score"].to_numpy(), expected.to_numpy(), equal_nan=True)


def test_aux_values_go_stale(db: Database) -> None:
    ts = pd.bdate_range("2020-01-01", periods=40)
    bars = pd.DataFrame(
        {
            "timestamp": ts,
            "asset": "AAA",
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.0,
            "volume": 1.0,
        }
    )
    import_frame(db, bars, kind="bars", source="t", at=AT)
    import_frame(
        db,
        pd.DataFrame({"timestamp": [ts[0]], "asset": ["AAA"], "score": [0.5]}),
        kind="sentiment",
        source="t",
        at=AT,
    )
    s = load_market_data(db).bars["sentiment_score"].droplevel("asset")
    fresh = s.index - ts[0] <= AUX_STALENESS
    assert (s[fresh] == 0.5).all() and s[~fresh].isna().all()


def test_aux_staleness_is_per_asset(db: Database) -> None:
    """One asset reporting daily must not keep another asset's single old value fresh."""
    ts = pd.bdate_range("2020-01-01", periods=60)
    bars = pd.concat(
        pd.DataFrame(
            {"timestamp": ts, "asset": a, "open": 10.0, "high": 11.0, "low": 9.0}
            | {"close": 10.0, "volume": 1.0}
        )
        for a in ("AAA", "BBB")
    )
    import_frame(db, bars, kind="bars", source="t", at=AT)
    daily = pd.DataFrame({"timestamp": ts, "asset": "AAA", "score": 0.1})
    once = pd.DataFrame({"timestamp": [ts[0]], "asset": ["BBB"], "score": [0.5]})
    import_frame(db, pd.concat([daily, once]), kind="sentiment", source="t", at=AT)
    score = load_market_data(db).bars["sentiment_score"]
    b = score.xs("BBB", level="asset")
    fresh = b.index - ts[0] <= AUX_STALENESS
    assert (~fresh).any(), "the test needs bars past the staleness limit"
    assert (b[fresh] == 0.5).all() and b[~fresh].isna().all()
    assert (score.xs("AAA", level="asset") == 0.1).all()


def test_late_aux_values_are_visible_only_after_the_evaluated_frontier(db: Database) -> None:
    """Sentiment that arrives after bars were evaluated changes no past bar's inputs, so a
    config evaluated cold later sees what a live config saw; before any evaluation an
    import is a backfill and is used in full."""
    ts = pd.bdate_range("2020-01-01", periods=30)
    bars = pd.DataFrame(
        {"timestamp": ts, "asset": "AAA", "open": 10.0, "high": 11.0, "low": 9.0}
        | {"close": 10.0, "volume": 1.0}
    )
    import_frame(db, bars, kind="bars", source="t", at=AT)
    early = pd.DataFrame({"timestamp": ts[0:9:2], "asset": "AAA", "score": 0.1})
    import_frame(db, early, kind="sentiment", source="t", at=AT)
    backfill = load_market_data(db).bars["sentiment_score"].droplevel("asset")
    assert (backfill.iloc[:10] == 0.1).all()

    c = _config()
    upsert_configs(db, [c], at=AT)
    store_result(db, _result(c.config_id, n=10), eval_key="k", at=AT)  # through ts[9]
    late = pd.DataFrame({"timestamp": [ts[9], ts[12]], "asset": "AAA", "score": [0.7, 0.9]})
    import_frame(db, late, kind="sentiment", source="t", at=AT)
    s = load_market_data(db).bars["sentiment_score"].droplevel("asset")
    # ts[9]'s value arrived after ts[9] was evaluated: bars up to ts[9] keep the old view,
    # the next bars see it, and ts[12]'s value (on time) takes over at ts[12].
    assert (s.iloc[:10] == 0.1).all()
    assert (s.iloc[10:12] == 0.7).all()
    assert (s.iloc[12:17] == 0.9).all()


def _config(name: str = "lightgbm") -> ModelConfig:
    return ModelConfig(name, 1, "classical", 5, "ohlcv", 1, (("num_leaves", 7),))


def _result(
    cid: str, n: int = 5, value: float = 0.1, status: str = "done", start: int = 0
) -> EvaluationResult:
    """A result holding bars ``start .. n - 1`` of a business-day calendar."""
    ts = pd.bdate_range("2020-01-01", periods=n).to_numpy()[start:]
    if status == "failed":
        return EvaluationResult(cid, "failed", error="ValueError: nope")
    sig = np.full((len(ts), 2), value, dtype=np.float32)
    sig[0, 1] = np.nan
    last = pd.Timestamp(ts[-1]).to_pydatetime()
    state = EvalState(
        first_ts=datetime(2020, 1, 1), last_ts=last, first_row_ts=datetime(2020, 1, 1)
    )
    return EvaluationResult(
        cid,
        "done",
        assets=("A", "B"),
        signal_ts=ts,
        signals=sig,
        return_ts=ts,
        net=np.full(len(ts), value / 100),
        gross=np.full(len(ts), 0.002),
        turnover=np.full(len(ts), 0.5),
        cost=np.full(len(ts), 0.0001),
        state=state,
        n_retrains=1,
        n_predictions=int(np.isfinite(sig).sum()),
        fit_seconds=1.0,
        predict_seconds=0.5,
        last_ts=last,
    )


def test_results_append_and_new_settings_start_a_new_trial(db: Database) -> None:
    c = _config()
    assert upsert_configs(db, [c], at=AT) == 1
    assert upsert_configs(db, [c], at=AT) == 0
    store_result(db, _result(c.config_id), eval_key="k1", at=AT)
    assert count(db, "signals") == 9 and count(db, "config_returns") == 5
    # An incremental result appends bars 5-6; stored bars are never rewritten, even by a
    # result that (wrongly) repeats them with other values.
    store_result(
        db, _result(c.config_id, n=7, value=0.2, start=5), eval_key="k1", at=AT, fresh=False
    )
    store_result(
        db, _result(c.config_id, n=7, value=0.3, start=4), eval_key="k1", at=AT, fresh=False
    )
    assert count(db, "signals") == 13 and count(db, "config_returns") == 7
    values = load_returns(db)[c.config_id].round(6).tolist()
    assert values == [0.001] * 5 + [0.002] * 2
    # New settings: the old record is retired into the trials table (it was tried and
    # counts in the multiple-testing population); its rows go.
    store_result(db, _result(c.config_id, n=3), eval_key="k2", at=AT)
    assert count(db, "signals") == 5 and count(db, "config_returns") == 3
    st = evaluation_states(db)[c.config_id]
    assert st.eval_key == "k2" and st.status == "done" and st.state is not None
    counts = trial_counts(db, "k2")
    assert (counts.current, counts.earlier) == (1, 1)
    with db.begin() as conn:
        old = conn.execute(select(table("trials")).where(table("trials").c.eval_key == "k1")).one()
    assert old.n_obs == 7 and old.ended_at == AT


def test_a_failed_cycle_keeps_the_record_and_schedules_a_retry(db: Database) -> None:
    c = _config()
    upsert_configs(db, [c], at=AT)
    store_result(db, _result(c.config_id, n=5), eval_key="k", at=AT)
    retry = RetryPolicy(max_attempts=2, backoff=timedelta(minutes=10))
    gave_up = store_result(
        db, _result(c.config_id, status="failed"), eval_key="k", at=AT, fresh=False, retry=retry
    )
    st = evaluation_states(db)[c.config_id]
    assert gave_up == [] and st.status == "done" and "nope" in (st.error or "")
    assert st.attempts == 1 and st.next_retry_at == AT + timedelta(minutes=10)
    assert st.last_ts == pd.Timestamp(pd.bdate_range("2020-01-01", periods=5)[-1]).to_pydatetime()
    assert load_returns(db).shape == (5, 1)
    gave_up = store_result(
        db, _result(c.config_id, status="failed"), eval_key="k", at=AT, fresh=False, retry=retry
    )
    st = evaluation_states(db)[c.config_id]
    assert gave_up == [c.config_id] and st.attempts == 2 and st.next_retry_at is None
    # A success clears the failure count.
    store_result(db, _result(c.config_id, n=6, start=5), eval_key="k", at=AT, fresh=False)
    st = evaluation_states(db)[c.config_id]
    assert st.attempts == 0 and st.error is None and load_returns(db).shape == (6, 1)


def test_a_config_that_never_evaluates_is_failed_and_counted(db: Database) -> None:
    c = _config()
    upsert_configs(db, [c], at=AT)
    store_result(db, _result(c.config_id, status="failed"), eval_key="k", at=AT)
    st = evaluation_states(db)[c.config_id]
    assert st.status == "failed" and st.state is None and st.attempts == 1
    assert trial_counts(db, "k").current_failed == 1


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    """store_result is one transaction: a bad row aborts the config's whole write."""
    c = _config()
    upsert_configs(db, [c], at=AT)
    bad = _result("not-a-known-config")  # foreign key violation on signals
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError type differs per backend
        store_result(db, bad, eval_key="k", at=AT)
    assert count(db, "signals") == 0 and count(db, "evaluations") == 0


def test_runs_rebalances_and_cycles_are_keyed(db: Database) -> None:
    decisions.record_run(db, "rate", "2026-01-01T00:00", status="running", at=AT)
    decisions.record_run(
        db, "rate", "2026-01-01T00:00", status="done", at=AT + timedelta(seconds=5)
    )
    assert count(db, "runs") == 1
    assert decisions.run_status(db, "rate", "2026-01-01T00:00") == "done"
    for weight in (0.5, 0.25):
        decisions.save_rebalance(
            db,
            time_key="2020-01-03",
            bar_ts=datetime(2020, 1, 3),
            at=AT,
            cycle_id=None,
            n_active=1,
            weights=pd.Series({"A": weight, "B": -weight}),
            gross=2 * weight,
            note="",
            export_path=None,
        )
    info = decisions.latest_rebalance(db)
    assert info is not None and info.weights == {"A": 0.25, "B": -0.25}
    assert count(db, "rebalances") == 1 and count(db, "rebalance_weights") == 2


def test_unsupported_database_url_is_a_clear_error() -> None:
    from factory.storage.database import DatabaseError

    with pytest.raises(DatabaseError, match="unsupported database 'mysql'"):
        Database("mysql://user@host/db")
