"""The sweep: evaluates pending configs incrementally, stores results, resumes, records
failures and retries them with backoff."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from architectures import registry
from architectures.registry import REGISTRY, spec_from_class
from factory import catalog
from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.plan import ModelConfig
from factory.storage.bars import load_market_data
from factory.storage.results import evaluation_states, load_returns, load_signals
from scheduler.backends import RayBackend, SerialBackend
from scheduler.sweep import batches, order_by_cost, plan_work, run_sweep
from tests.scheduler.archs import Crashing, Raising


def _plan(app: App) -> list[ModelConfig]:
    data = load_market_data(app.db)
    return list(catalog.plan(app.settings, catalog.profile(data)).configs)


def _sweep(app: App, configs: list[ModelConfig], backend=None, **kw):  # type: ignore[no-untyped-def]
    data = load_market_data(app.db)
    return run_sweep(
        app.db,
        app.settings,
        data,
        configs,
        backend or SerialBackend(),
        app.clock,
        progress=False,
        **kw,
    )


def test_sweep_stores_everything_and_resumes(app: App) -> None:
    configs = [c for c in _plan(app) if c.architecture in ("lightgbm", "arima")]
    assert len(configs) == 3  # lightgbm x 2 feature sets + arima on ohlcv
    first = _sweep(app, configs)
    assert (first.evaluated, first.failed, first.skipped) == (3, 0, 0)
    assert first.work == {"cold": 3, "refit": 0, "predict": 0}
    states = evaluation_states(app.db)
    last = load_market_data(app.db).timestamps[-1]
    assert all(states[c.config_id].last_ts == last for c in configs)
    returns = load_returns(app.db)
    assert set(returns.columns) == {c.config_id for c in configs}
    assert returns.notna().sum().min() > 300
    # Resume: nothing left to do.
    again = _sweep(app, configs)
    assert (again.evaluated, again.skipped) == (0, 3)
    # Five new bars arrive: incremental work only (a refit where a config's block starts
    # among them); stored rows of earlier bars are untouched.
    more = synth_universe(3, 605, seed=2, signal="planted")
    import_frame(app.db, more.bars, kind="bars", source="synth", at=app.now())
    after = _sweep(app, configs)
    assert after.evaluated == 3 and after.work["cold"] == 0
    assert after.work["refit"] + after.work["predict"] == 3
    extended = load_returns(app.db)
    assert extended.index[-1] == load_market_data(app.db).timestamps[-1]
    assert len(extended) == len(returns) + 5
    pd.testing.assert_frame_equal(extended.loc[returns.index], returns)


def test_plan_work() -> None:
    from factory.evaluation.engine import EvalParams, EvalState, retrain_offset
    from factory.storage.results import EvaluationState

    day = [pd.Timestamp(f"2020-01-{d:02d}").to_pydatetime() for d in range(1, 11)]
    params = EvalParams(retrain_every=5, stagger=False)
    now = day[-1]
    rec = EvalState(first_ts=day[0], last_ts=day[5], block=0, block_bars=3)
    st = EvaluationState("c", "k1", "done", day[5], None, 1.0, 1.0, 10, state=rec)
    assert plan_work(st, "k2", day, params, now) == "cold"  # new settings
    assert plan_work(st, "k1", day, params, now, force=True) == "cold"
    assert plan_work(st, "k1", day[:6], params, now) is None  # up to date
    assert plan_work(st, "k1", day[:7], params, now) == "predict"  # 3 + 1 <= 5
    assert plan_work(st, "k1", day[:8], params, now) == "predict"  # 3 + 2 <= 5
    assert plan_work(st, "k1", day[:9], params, now) == "refit"  # 3 + 3 > 5
    assert plan_work(None, "k1", day, params, now) == "cold"
    # Staggered: the first block ends at the config's own offset.
    first = EvalState(first_ts=day[0], last_ts=day[0], block=0, block_bars=1)
    early = EvaluationState("c", "k1", "done", day[0], None, 1.0, 1.0, 1, state=first)
    offset = retrain_offset("c", 5)
    staggered = EvalParams(retrain_every=5)
    assert plan_work(early, "k1", day[:offset], staggered, now) == "predict"
    assert plan_work(early, "k1", day[: offset + 1], staggered, now) == "refit"
    # A failed cycle waits for its retry time, then resumes from the record.
    waiting = EvaluationState(
        "c", "k1", "done", day[5], "boom", 1.0, 1.0, 10, 1, day[-1].replace(hour=1), rec
    )
    assert plan_work(waiting, "k1", day, params, now) is None
    assert plan_work(waiting, "k1", day, params, now.replace(hour=2)) == "refit"
    assert plan_work(waiting, "k1", day, params, now, retry_failed=True) == "refit"
    # Never evaluated and given up: only an explicit retry.
    dead = EvaluationState("c", "k1", "failed", None, "boom", 0.0, 0.0, 0, 3, None, None)
    assert plan_work(dead, "k1", day, params, now) is None
    assert plan_work(dead, "k1", day, params, now, retry_failed=True) == "cold"


def test_predict_only_work_is_one_batch_per_worker_with_the_same_mix() -> None:
    lgb, ppo = registry.get("lightgbm"), registry.get("ppo")
    configs = [
        ModelConfig(spec.name, 1, spec.family, lb, fs, 1)
        for spec in (lgb, ppo)
        for fs in ("ohlcv", "momentum")
        for lb in range(5, 12)
    ]  # 28 configs: 14 lightgbm, 14 ppo
    groups = batches(configs, 2)
    assert [len(g) for g in groups] == [14, 14]
    # Each batch gets half of each architecture (and mixes feature sets).
    for g in groups:
        assert sum(c.architecture == "ppo" for c in g) == 7
        assert {c.feature_set for c in g} == {"ohlcv", "momentum"}
    assert sorted(c.config_id for g in groups for c in g) == sorted(c.config_id for c in configs)
    assert batches(list(reversed(configs)), 2) == groups  # deterministic, order-free
    # Never more batches than configs; a multiple of the workers when a batch is capped.
    assert [len(g) for g in batches(configs[:3], 8)] == [1, 1, 1]
    assert [len(g) for g in batches(configs, 2, max_size=5)] == [5, 5, 5, 5, 4, 4]
    assert batches([], 4) == []


def test_daily_cycles_through_batches_equal_a_full_evaluation(app: App) -> None:
    """Five cycles of one new bar each (predict-only configs in one batch that mixes
    feature sets and architectures, refits where a block starts) store the same bits as
    one full evaluation over the same bars."""
    configs = [c for c in _plan(app) if c.architecture in ("lightgbm", "arima", "ridge")]
    assert len({c.feature_set for c in configs}) > 1
    _sweep(app, configs)
    more = synth_universe(3, 605, seed=2, signal="planted").bars
    stamps = sorted(more["timestamp"].unique())[-5:]
    work: dict[str, int] = {"predict": 0, "refit": 0}
    for ts in stamps:
        import_frame(app.db, more[more["timestamp"] == ts], kind="bars", source="s", at=app.now())
        report = _sweep(app, configs)
        assert report.evaluated == len(configs) and report.failed == 0
        for k in work:
            work[k] += report.work[k]
    assert work["predict"] > 0
    incremental = {c.config_id: load_signals(app.db, c.config_id) for c in configs}
    returns = load_returns(app.db)
    full = _sweep(app, configs, force=True)
    assert full.work["cold"] == len(configs)
    for c in configs:
        a, b = incremental[c.config_id], load_signals(app.db, c.config_id)
        assert a.shape == b.shape and np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
    again = load_returns(app.db)
    assert returns.shape == again.shape
    assert np.array_equal(returns.to_numpy(), again.to_numpy(), equal_nan=True)


def test_a_failing_config_is_recorded_and_the_sweep_goes_on(app: App) -> None:
    spec = spec_from_class(Raising)
    REGISTRY.add(spec)
    try:
        good = next(c for c in _plan(app) if c.architecture == "lightgbm")
        bad = ModelConfig(spec.name, 1, "classical", 8, "ohlcv", good.feature_set_version)
        report = _sweep(app, [bad, good])
        assert (report.evaluated, report.failed) == (1, 1)
        assert (
            report.failures[0][0] == bad.config_id and "deliberate failure" in report.failures[0][1]
        )
        states = evaluation_states(app.db)
        assert states[bad.config_id].status == "failed" and states[good.config_id].status == "done"
        # The rating sees the failed config and gates it out.
        from factory.jobs import compute_ratings

        table = compute_ratings(app).table
        assert (
            not table.loc[bad.config_id, "eligible"] and "fail" in table.loc[bad.config_id, "gate"]
        )
        # A failed config is retried after its backoff (doubling), then given up.
        assert _sweep(app, [bad, good]).skipped == 2  # waiting for the retry time
        clock = app.clock
        assert isinstance(clock, FakeClock)
        clock.advance(timedelta(minutes=31))
        assert _sweep(app, [bad, good]).failed == 1  # attempt 2
        clock.advance(timedelta(minutes=61))
        last = _sweep(app, [bad, good])
        assert last.failed == 1 and last.given_up == (bad.config_id,)  # attempt 3 of 3
        clock.advance(timedelta(days=30))
        assert _sweep(app, [bad, good]).skipped == 2
        assert _sweep(app, [bad, good], retry_failed=True).failed == 1
    finally:
        REGISTRY.remove(spec.name)


def test_longest_first() -> None:
    lgb, ppo = registry.get("lightgbm"), registry.get("ppo")
    a = ModelConfig(lgb.name, 1, lgb.family, 8, "ohlcv", 1)
    b = ModelConfig(ppo.name, 1, ppo.family, 8, "ohlcv", 1)
    c = ModelConfig(lgb.name, 1, lgb.family, 90, "ohlcv", 1)
    # Without timings: cost hint x lookback / 30 -> lightgbm L90 3.0, ppo L8 2.13, lightgbm L8 0.27.
    assert order_by_cost([a, b, c], {}) == [c, b, a]
    # With timings from a previous evaluation, those win.
    from factory.storage.results import EvaluationState

    timed = {a.config_id: EvaluationState(a.config_id, "k", "done", None, None, 500.0, 1.0, 10)}
    assert order_by_cost([a, b, c], timed)[0] == a


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_ray_matches_serial_and_survives_a_crashing_worker(app: App) -> None:
    """Workers rebuild each architecture from its spec and give the same signals as the
    in-process run, also for a cycle's predict-only batches (which mix feature sets); a
    worker that dies is recorded as a failed config."""
    configs = [
        c
        for c in _plan(app)
        if c.architecture == "lightgbm" or (c.architecture == "lstm" and c.feature_set == "ohlcv")
    ]
    assert len(configs) == 3 and len({c.feature_set for c in configs}) == 2
    crash = spec_from_class(Crashing)
    REGISTRY.add(crash)
    try:
        dead = ModelConfig(crash.name, 1, "classical", 8, "ohlcv", configs[0].feature_set_version)
        backend = RayBackend(workers=2)
        try:
            report = _sweep(app, [*configs, dead], backend=backend)
            last = load_market_data(app.db).timestamps[-1]
            more = synth_universe(3, 602, seed=2, signal="planted").bars
            import_frame(
                app.db, more[more["timestamp"] > last], kind="bars", source="s", at=app.now()
            )
            cycle = _sweep(app, configs, backend=backend)
        finally:
            backend.shutdown()
        assert (report.evaluated, report.failed) == (3, 1)
        assert report.failures[0][0] == dead.config_id
        assert (cycle.evaluated, cycle.failed) == (3, 0) and cycle.work["cold"] == 0
        ray_signals = {c.config_id: load_signals(app.db, c.config_id) for c in configs}
        serial = _sweep(app, configs, force=True)
        assert serial.evaluated == 3
        for c in configs:
            a, b = ray_signals[c.config_id], load_signals(app.db, c.config_id)
            # The serial backend pins one compute thread like a Ray worker: same bits.
            assert a.shape == b.shape and np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True)
    finally:
        REGISTRY.remove(crash.name)
