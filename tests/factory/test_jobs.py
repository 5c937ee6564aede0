"""Rate, promote, rebalance and prune jobs against a real database: outcomes, idempotency
per time key, exports and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factory import catalog
from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.jobs import NothingToDo, promote_job, prune_job, rate_job, rebalance_job
from factory.storage import decisions
from factory.storage.bars import load_market_data
from factory.storage.results import artifacts_for, latest_signals
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import make_test_app


@pytest.fixture
def evaluated(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(
        workdir,
        db_url,
        **{
            "plan.architectures": ["lightgbm", "arima"],
            "plan.lookbacks": [8, 16],
            "evaluation.retrain_every": 150,
            # the planted signal is one-bar mean reversion: trade at the deciding close
            "evaluation.execution": "close",
            "artifact_retention": 1,
        },
    )
    u = synth_universe(6, 700, seed=8, signal="planted")
    import_frame(a.db, u.bars, kind="bars", source="synth", at=a.now())
    data = load_market_data(a.db)
    configs = catalog.plan(a.settings, catalog.profile(data)).configs
    report = run_sweep(a.db, a.settings, data, configs, SerialBackend(), a.clock, progress=False)
    assert report.evaluated == len(configs) == 6
    yield a
    a.close()


def test_jobs_need_their_inputs(workdir: Path) -> None:
    a = make_test_app(workdir)
    with pytest.raises(NothingToDo, match="factory evaluate"):
        rate_job(a)
    with pytest.raises(NothingToDo, match="import"):
        rebalance_job(a)


def test_rate_promote_rebalance_prune(evaluated: App) -> None:
    a = evaluated
    clock = a.clock
    assert isinstance(clock, FakeClock)

    first = rate_job(a)
    assert not first.reused and first.snapshot.n_configs == 6
    assert rate_job(a).reused and rate_job(a).snapshot.id == first.snapshot.id
    clock.advance(timedelta(minutes=5))
    assert rate_job(a).snapshot.id != first.snapshot.id

    cycle = promote_job(a)
    assert not cycle.reused
    active = cycle.cycle.active
    assert 1 <= len(active) <= 6
    # Fewer than min_active (10) can only mean fewer were eligible, and the note says why.
    assert "eligible" in cycle.cycle.note
    d = cycle.decisions.set_index("config_id")
    assert set(d.loc[list(active), "action"]) == {"promoted"}
    assert all(d["reason"].str.len() > 0)
    again = promote_job(a)
    assert again.reused and again.cycle.id == cycle.cycle.id
    # The snapshot a cycle was decided on is its record: --force may not rewrite it.
    with pytest.raises(NothingToDo, match="basis of a promotion cycle"):
        rate_job(a, force=True)

    # Rebalance: equal-weight ensemble of the live set's signals at the last bar.
    reb = rebalance_job(a)
    assert not reb.reused
    last_bar = load_market_data(a.db).timestamps[-1]
    assert reb.rebalance.time_key == f"{last_bar:%Y-%m-%d}" and reb.rebalance.n_active == len(
        active
    )
    sig = latest_signals(a.db, list(active)).pivot(
        index="config_id", columns="asset", values="signal"
    )
    expected = sig.mean(axis=0) / sig.shape[1]
    scale = min(1.0, 1.0 / expected.abs().sum())
    got = pd.Series(reb.rebalance.weights)
    assert np.allclose(got.sort_index().to_numpy(), (expected * scale).sort_index().to_numpy())
    assert sum(abs(w) for w in reb.rebalance.weights.values()) <= 1.0 + 1e-12
    exported = pd.read_csv(reb.rebalance.export_path).set_index("asset")["weight"]
    assert np.allclose(exported.sort_index().to_numpy(), got.sort_index().to_numpy())
    assert rebalance_job(a).reused

    # Next day, same data: the live set is kept (hysteresis), not churned.
    clock.advance(timedelta(days=1))
    nxt = promote_job(a)
    assert set(nxt.cycle.active) == set(active)
    assert set(nxt.decisions.set_index("config_id").loc[list(active), "action"]) == {"kept"}
    assert decisions.incumbents(a.db).keys() == set(active)

    # Retention: newest artifact per config kept; live configs keep all of theirs.
    inactive = [cid for cid in _config_ids(a) if cid not in active]
    before = {cid: len(artifacts_for(a.db, cid)) for cid in _config_ids(a)}
    out = prune_job(a)
    assert out.deleted == sum(before[c] - 1 for c in inactive)
    for cid in inactive:
        kept = artifacts_for(a.db, cid)
        assert len(kept) == 1 and (a.store.root / kept[0].uri).exists()
    for cid in active:
        arts = artifacts_for(a.db, cid)
        assert len(arts) == before[cid] and all((a.store.root / x.uri).exists() for x in arts)


def _config_ids(a: App) -> list[str]:
    from factory.storage.results import load_configs

    return list(load_configs(a.db).index)


def test_snapshot_retention_keeps_cycles_and_the_newest(evaluated: App) -> None:
    a = evaluated
    clock = a.clock
    assert isinstance(clock, FakeClock)
    promote_job(a)  # its snapshot is referenced by the cycle
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        rate_job(a)
    newest = decisions.latest_snapshot(a.db)
    clock.advance(timedelta(days=30))
    out = prune_job(a)
    assert out.snapshots == 2  # the two middle ones
    assert decisions.latest_snapshot(a.db) == newest
    cycle = decisions.latest_cycle(a.db)
    assert cycle is not None and not decisions.cycle_decisions(a.db, cycle.id).empty


def test_rebalance_applies_the_risk_rules_books_the_result_and_keeps_the_last_good_one(
    evaluated: App, workdir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.portfolio import live
    from factory.storage.live_book import load_book_returns

    promote_job(evaluated)
    risky = make_test_app(
        workdir,
        db_url,
        **{
            "plan.architectures": ["lightgbm", "arima"],
            "plan.lookbacks": [8, 16],
            "evaluation.execution": "close",
            "portfolio.ensemble": "inverse_vol",
            "portfolio.vol_target": 0.001,
        },
    )
    reb = rebalance_job(risky)
    assert "to the 0.1% vol target" in reb.rebalance.note
    assert reb.portfolio is not None and reb.portfolio.bindings[-1].rule == "vol_target"
    assert reb.portfolio.member_weights is not None
    assert reb.portfolio.member_weights.sum() == pytest.approx(1.0)
    booked = load_book_returns(risky.db)
    assert booked["rebalance_id"].tolist() == [reb.rebalance.id]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("covariance estimator failed")

    monkeypatch.setattr(live, "shrunk_covariance", broken)
    with pytest.raises(RuntimeError, match="covariance"):
        rebalance_job(risky, force=True)
    still = decisions.latest_rebalance(risky.db)
    assert still is not None and still.id == reb.rebalance.id
    assert still.weights == reb.rebalance.weights
    assert load_book_returns(risky.db).equals(booked)
    risky.close()
