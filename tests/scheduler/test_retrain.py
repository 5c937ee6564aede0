"""What the monitor's retrain requests do, end to end through the sweep and the
``challenge`` job on real storage (SQLite and PostgreSQL): a forced refit starts a block
at the config's next bar and stays part of its schedule (a full re-evaluation repeats it
bit for bit); a shadow challenger runs beside its champion and replaces it only if it
made more after costs over the window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from architectures import registry
from factory import catalog
from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.evaluation.engine import ScheduleChange, evaluate_config
from factory.evaluation.inputs import build_inputs
from factory.monitor.challenger import challenge_job
from factory.monitor.retrain import compounded
from factory.plan import ModelConfig
from factory.storage.bars import load_market_data
from factory.storage.database import table
from factory.storage.events import load_events
from factory.storage.results import evaluation_states, load_returns
from factory.storage.retrains import (
    RetrainRequest,
    insert_requests,
    load_retrains,
    schedule_changes,
)
from features.registry import get_feature_set
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import make_test_app

FIRST = 560  # bars imported before the first sweep
WINDOW = 3  # [monitor] challenger_bars


@pytest.fixture
def world(workdir: Path, db_url: str) -> Iterator[tuple[App, pd.DataFrame, list[ModelConfig]]]:
    a = make_test_app(workdir, db_url, **{"monitor.challenger_bars": WINDOW})
    bars = synth_universe(3, 600, seed=2, signal="planted").bars
    stamps = sorted(bars["timestamp"].unique())
    import_frame(a.db, bars[bars["timestamp"] < stamps[FIRST]], kind="bars", source="s", at=a.now())
    plan = catalog.plan(a.settings, catalog.profile(load_market_data(a.db))).configs
    configs = [c for c in plan if c.architecture == "ridge"]
    assert len(configs) == 2  # ohlcv and momentum
    yield a, bars, configs
    a.close()


def _add_bars(app: App, bars: pd.DataFrame, upto: int) -> None:
    """Import the bars up to index ``upto`` (exclusive) not yet stored."""
    stamps = sorted(bars["timestamp"].unique())
    last = load_market_data(app.db).timestamps[-1]
    new = bars[(bars["timestamp"] > last) & (bars["timestamp"] < stamps[upto])]
    import_frame(app.db, new, kind="bars", source="s", at=app.now())


def _sweep(app: App, configs: list[ModelConfig]):  # type: ignore[no-untyped-def]
    data = load_market_data(app.db)
    return run_sweep(
        app.db, app.settings, data, configs, SerialBackend(), app.clock, progress=False
    )


def _request(app: App, cid: str, mode: str) -> datetime:
    """Store a request as the monitor would (after the config's last evaluated bar)."""
    st = evaluation_states(app.db, [cid])[cid]
    assert st.state is not None and st.state.last_ts is not None
    key = catalog.eval_params(app.settings).key
    request = RetrainRequest(
        cid,
        mode,
        key,
        st.state.last_ts,
        st.state.last_ts,
        f"test {mode}",
        state=st.state if mode == "shadow" else None,
    )
    with app.db.begin() as conn:
        insert_requests(conn, [request], at=app.now().replace(tzinfo=None))
    return st.state.last_ts


def test_a_forced_refit_starts_a_block_at_the_next_bar_and_a_full_rerun_repeats_it(
    world: tuple[App, pd.DataFrame, list[ModelConfig]],
) -> None:
    app, bars, configs = world
    config = configs[0]
    cid = config.config_id
    assert _sweep(app, configs).evaluated == 2
    after = _request(app, cid, "refit")
    _add_bars(app, bars, FIRST + 10)
    report = _sweep(app, configs)
    assert report.failed == 0
    # The refit config is planned as a refit (its block starts at the new bar).
    assert report.work["refit"] >= 1
    data = load_market_data(app.db)
    first_new = data.timestamps[data.timestamps > pd.Timestamp(after)][0]
    st = evaluation_states(app.db, [cid])[cid].state
    assert st is not None and st.model is not None
    assert pd.Timestamp(st.model.trained_at) == first_new
    # The challenge job sees it done.
    out = challenge_job(app, configs=configs, data=data)
    assert out.applied == 1
    assert [r.status for r in load_retrains(app.db)] == ["applied"]
    # A full re-evaluation given the config's schedule changes gives the stored record
    # exactly; without them it differs from the refit bar on (so the refit mattered).
    params = catalog.eval_params(app.settings)
    changes = schedule_changes(app.db, params.key)[cid]
    assert changes == (ScheduleChange(after),)
    spec = registry.get(config.architecture, config.arch_version)
    inputs = build_inputs(data, get_feature_set(config.feature_set))
    full = evaluate_config(config, spec, inputs, params, changes=changes)
    plain = evaluate_config(config, spec, inputs, params)
    stored = load_returns(app.db, ids=[cid])[cid].dropna()
    np.testing.assert_array_equal(full.returns_frame()["net"].to_numpy(), stored.to_numpy())
    later = plain.returns_frame().index >= first_new
    assert not np.array_equal(
        plain.returns_frame()["net"].to_numpy()[later], stored.to_numpy()[later]
    )


@pytest.mark.parametrize("champion_bar, outcome", [(-0.05, "won"), (0.05, "lost")])
def test_a_challenger_replaces_its_champion_only_if_it_made_more(
    world: tuple[App, pd.DataFrame, list[ModelConfig]], champion_bar: float, outcome: str
) -> None:
    app, bars, configs = world
    config = configs[1]
    cid = config.config_id
    _sweep(app, configs)
    champion_at_request = evaluation_states(app.db, [cid])[cid].state
    after = _request(app, cid, "shadow")
    # One bar: the challenger is refitted at it and runs; nothing is decided yet.
    _add_bars(app, bars, FIRST + 1)
    _sweep(app, configs)
    out = challenge_job(app, configs=configs)
    assert out.running == 1 and out.won == out.lost == ()
    (row,) = load_retrains(app.db)
    assert row.status == "running" and row.bars == 1
    # Its figure is what the engine gives from the champion's state with a refit there.
    data = load_market_data(app.db)
    spec = registry.get(config.architecture, config.arch_version)
    params = catalog.eval_params(app.settings)
    inputs = build_inputs(data, get_feature_set(config.feature_set))
    alone = evaluate_config(
        config,
        spec,
        inputs,
        params,
        store=app.store,
        state=champion_at_request,
        changes=(ScheduleChange(after),),
    )
    assert alone.status == "done" and alone.n_retrains == 1
    assert row.challenger_net == pytest.approx(compounded(alone.returns_frame()["net"]))
    # The champion's own record is untouched by the challenger (no refit at that bar).
    champion = evaluation_states(app.db, [cid])[cid].state
    assert champion is not None and champion.model == champion_at_request.model  # type: ignore[union-attr]
    # The rest of the window; the champion's record over it is set so that the outcome
    # is known (the decision reads the stored after-cost returns).
    _add_bars(app, bars, FIRST + WINDOW)
    _sweep(app, configs)
    stamps = load_market_data(app.db).timestamps
    window = stamps[stamps > pd.Timestamp(after)][:WINDOW]
    t = table("config_returns")
    with app.db.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.config_id == cid, t.c.ts.in_([w.to_pydatetime() for w in window]))
            .values(net_return=champion_bar)
        )
    out = challenge_job(app, configs=configs)
    (row,) = load_retrains(app.db)
    assert row.status == outcome and row.bars == WINDOW
    assert row.champion_net == pytest.approx((1 + champion_bar) ** WINDOW - 1)
    assert (out.won if outcome == "won" else out.lost) == (cid,)
    events = load_events(app.db, kind=f"challenger_{outcome}")
    assert list(events["subject"]) == [cid]
    # The next bar: a won challenger's model predicts for the champion; a lost one changes
    # nothing.
    before = evaluation_states(app.db, [cid])[cid].state
    _add_bars(app, bars, FIRST + WINDOW + 1)
    _sweep(app, configs)
    now = evaluation_states(app.db, [cid])[cid].state
    assert now is not None and before is not None
    if outcome == "won":
        assert row.model is not None and row.swap_after_ts == before.last_ts
        assert now.model == row.model
        assert schedule_changes(app.db, params.key)[cid] == (
            ScheduleChange(before.last_ts, row.model),  # type: ignore[arg-type]
        )
    else:
        assert now.model == before.model
        assert schedule_changes(app.db, params.key) == {}
