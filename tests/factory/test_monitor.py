"""The monitor job: health of the live set against each config's own baseline, state-change
events, out-of-cycle demotion, the rating's health and freshness gates.

Signals, returns and the promotion are written straight into storage (no model is fitted):
a "steady" config whose signal follows the realised label before and after its promotion,
a "broken" one whose signal flips sign after its promotion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from factory.app import App
from factory.catalog import eval_params
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.evaluation.engine import EvalState
from factory.jobs import RatingInputs, compute_ratings, promote_job
from factory.monitor.job import judge, monitor_job, realised_labels
from factory.plan import ModelConfig
from factory.settings import load_settings
from factory.storage import decisions
from factory.storage.bars import load_market_data
from factory.storage.database import table
from factory.storage.events import load_events
from factory.storage.health import load_health
from factory.storage.results import upsert_configs
from factory.storage.retrains import load_retrains
from features.frame import FeatureFrame
from rating.health import HealthPolicy
from rating.promotion import Decision, PromotionCycle
from tests.factory.helpers import make_test_app

N_BARS = 400
PROMOTED_AT_BAR = 249  # the baseline is bars 0..249, the recent window after


def _config(alpha: float) -> ModelConfig:
    return ModelConfig("ridge", 1, "classical", 5, "ohlcv", 1, (("alpha", alpha),))


STEADY, BROKEN, LAGGING = _config(1.0), _config(2.0), _config(3.0)


def _write_signals(app: App, cid: str, signal: pd.DataFrame) -> None:
    rows = [
        {"config_id": cid, "asset": a, "ts": ts.to_pydatetime(), "signal": float(v)}
        for ts, row in signal.iterrows()
        for a, v in row.items()
        if np.isfinite(v)
    ]
    with app.db.begin() as conn:
        conn.execute(insert(table("signals")), rows)


def _write_returns(app: App, cid: str, bars: pd.DatetimeIndex, seed: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.002, 0.01, len(bars))  # a Sharpe of ~3: passes the DSR gate
    with app.db.begin() as conn:
        conn.execute(
            insert(table("config_returns")),
            [
                {
                    "config_id": cid,
                    "ts": ts.to_pydatetime(),
                    "net_return": float(x),
                    "gross_return": float(x),
                    "turnover": 0.1,
                    "cost": 0.0,
                }
                for ts, x in zip(bars, r, strict=True)
            ],
        )


def _promote(app: App, ids: list[str], as_of: datetime) -> None:
    """A promotion cycle whose snapshot rated bars up to ``as_of``."""
    with app.db.begin() as conn:
        sid = conn.execute(
            insert(table("rating_snapshots")).values(
                time_key="seed", at=app.now().replace(tzinfo=None), as_of=as_of, n_configs=0
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    cycle = PromotionCycle(
        at=app.now(),
        decisions=tuple(Decision(c, "promoted", i + 1, 1.0, "seed") for i, c in enumerate(ids)),
        skipped=(),
        active=tuple(ids),
        note="seed",
    )
    decisions.save_cycle(app.db, cycle, time_key="seed", snapshot_id=int(sid))


@pytest.fixture
def live(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(workdir, db_url)
    import_frame(a.db, synth_universe(3, N_BARS, seed=3).bars, kind="bars", source="s", at=a.now())
    data = load_market_data(a.db)
    bars = data.timestamps
    labels = realised_labels(data, bars[-1], a.settings.evaluation.horizon)
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(
        rng.normal(0, 0.5, labels.shape), index=labels.index, columns=labels.columns
    )
    good = np.tanh(labels / labels.stack().std() + noise)
    broken = good.copy()
    broken.iloc[PROMOTED_AT_BAR + 1 :] *= -1.0  # skill turns into anti-skill after promotion
    upsert_configs(a.db, [STEADY, BROKEN, LAGGING], at=datetime(2026, 1, 1))
    _write_signals(a, STEADY.config_id, good)
    _write_signals(a, BROKEN.config_id, broken)
    _write_returns(a, STEADY.config_id, bars, seed=1)
    _write_returns(a, BROKEN.config_id, bars, seed=2)
    _write_returns(a, LAGGING.config_id, bars[:-10], seed=3)  # stopped 10 bars ago
    _promote(a, [STEADY.config_id, BROKEN.config_id], bars[PROMOTED_AT_BAR].to_pydatetime())
    yield a
    a.close()


def _evaluated(app: App, cid: str, eval_key: str | None = None) -> EvalState:
    """An evaluation record of ``cid`` up to the last bar, under ``eval_key`` (default:
    the app's settings)."""
    bars = load_market_data(app.db).timestamps
    state = EvalState(first_ts=bars[0].to_pydatetime(), last_ts=bars[-1].to_pydatetime())
    with app.db.begin() as conn:
        conn.execute(
            insert(table("evaluations")).values(
                config_id=cid,
                eval_key=eval_key or eval_params(app.settings).key,
                status="done",
                state=json.dumps(state.to_json()),
                last_ts=state.last_ts,
                n_retrains=0,
                n_predictions=0,
                fit_seconds=0.0,
                predict_seconds=0.0,
                attempts=0,
                updated_at=datetime(2026, 1, 1),
            )
        )
    return state


def test_a_config_that_breaks_after_promotion_turns_red_and_is_demoted_out_of_cycle(
    live: App,
) -> None:
    evaluated = _evaluated(live, BROKEN.config_id)
    out = monitor_job(live)
    states = {v.config_id: v.state for v in out.verdicts}
    assert states == {STEADY.config_id: "green", BROKEN.config_id: "red"}
    # Stored verdicts, with the reasons of the red one.
    stored = load_health(live.db)
    assert stored[STEADY.config_id].state == "green" and stored[STEADY.config_id].reasons == ()
    # Data drift ran on the ohlcv features of the same two windows (stationary here).
    assert stored[STEADY.config_id].metrics["drift_share"] == 0.0
    red = stored[BROKEN.config_id]
    assert red.state == "red" and any("accuracy_drop" in r for r in red.reasons)
    assert (
        red.metrics["directional_accuracy_recent"]
        < 0.5
        < red.metrics["directional_accuracy_baseline"]
    )
    # One state-change event (green -> red) with its reason, and a retrain request.
    changes = load_events(live.db, kind="health_change")
    assert list(changes["subject"]) == [BROKEN.config_id]
    detail = json.loads(changes["detail"].iloc[0])
    assert (detail["previous"], detail["state"]) == ("green", "red")
    assert detail["reasons"] == list(red.reasons)
    # What the turn to red asks for: a forced refit after the config's last evaluated bar,
    # stored with its event (the evaluate job applies it, `tests/scheduler/test_retrain.py`).
    requests = load_events(live.db, kind="retrain_requested")
    assert [json.loads(d)["mode"] for d in requests["detail"]] == ["refit"]
    (row,) = load_retrains(live.db)
    assert (row.config_id, row.mode, row.status) == (BROKEN.config_id, "refit", "pending")
    assert row.after_ts == evaluated.last_ts and row.reason.startswith("health red: ")
    # Out of cycle: a demotion record, the rest of the live set kept.
    cycle = decisions.latest_cycle(live.db)
    assert cycle is not None and cycle.time_key == out.demotion_cycle
    assert cycle.active == (STEADY.config_id,)
    rows = decisions.cycle_decisions(live.db, cycle.id).set_index("config_id")
    assert rows.loc[BROKEN.config_id, "action"] == "demoted"
    assert "health red" in rows.loc[BROKEN.config_id, "reason"]
    assert [a.kind for a in out.alerts] == ["health_red"]


def test_demoting_the_whole_live_set_alerts_that_it_is_empty(live: App) -> None:
    live.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    bars = load_market_data(live.db).timestamps
    only_broken = PromotionCycle(
        at=live.now(),
        decisions=(Decision(BROKEN.config_id, "kept", 1, 1.0, "kept"),),
        skipped=(),
        active=(BROKEN.config_id,),
        note="only the broken one",
    )
    decisions.save_cycle(live.db, only_broken, time_key="only-broken", snapshot_id=None)
    out = monitor_job(live, as_of=bars[-1].to_pydatetime())
    assert [a.kind for a in out.alerts] == ["health_red", "empty_live_set"]
    cycle = decisions.latest_cycle(live.db)
    assert cycle is not None and cycle.active == () and "live set is empty" in cycle.note


def test_a_replayed_bar_is_judged_against_the_live_set_of_its_time(live: App) -> None:
    """Catch-up after downtime judges an old bar against the set that was live then: a
    later cycle (decided on bars after it) does not count; a demotion applies to the set
    live now."""
    bars = load_market_data(live.db).timestamps
    live.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    with live.db.begin() as conn:
        sid = conn.execute(
            insert(table("rating_snapshots")).values(
                time_key="later",
                at=live.now().replace(tzinfo=None),
                as_of=bars[-1].to_pydatetime(),
                n_configs=0,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    only_steady = PromotionCycle(
        at=live.now(),
        decisions=(
            Decision(STEADY.config_id, "kept", 1, 1.0, "kept"),
            Decision(BROKEN.config_id, "demoted", None, None, "by hand"),
        ),
        skipped=(),
        active=(STEADY.config_id,),
        note="decided on the newest bar",
    )
    decisions.save_cycle(live.db, only_steady, time_key="later", snapshot_id=int(sid))
    replayed = bars[-20].to_pydatetime()
    in_force = decisions.cycle_in_force(live.db, replayed)
    assert in_force is not None and in_force.time_key == "seed"
    out = monitor_job(live, as_of=replayed)
    # BROKEN was live at that bar, so it is judged (red), but it is not live now: no
    # demotion record, the current cycle stands.
    assert {v.config_id: v.state for v in out.verdicts} == {
        STEADY.config_id: "green",
        BROKEN.config_id: "red",
    }
    assert out.demotion_cycle is None
    latest = decisions.latest_cycle(live.db)
    assert latest is not None and latest.time_key == "later"
    # Judged at the newest bar, only the set live now (and the stored red one) counts.
    now = monitor_job(live, time_key="newest")
    assert [v.config_id for v in now.verdicts] == [STEADY.config_id, BROKEN.config_id]


def test_no_event_when_the_state_does_not_change(live: App) -> None:
    monitor_job(live)
    live.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    again = monitor_job(live, time_key="again")
    # The red config is still judged (it may recover) although no longer live.
    assert {v.config_id: v.state for v in again.verdicts}[BROKEN.config_id] == "red"
    assert len(load_events(live.db, kind="health_change")) == 1
    assert again.demotion_cycle is None and again.alerts == ()


def test_judged_point_in_time_before_the_break_it_is_green(live: App) -> None:
    bars = load_market_data(live.db).timestamps
    out = monitor_job(live, as_of=bars[PROMOTED_AT_BAR + 5].to_pydatetime())
    # Five bars after promotion: too few predictions to judge, never red for lack of data.
    assert {v.state for v in out.verdicts} == {"green"}
    assert all(any("prediction quality" in s for s in v.skipped) for v in out.verdicts)
    assert out.demotion_cycle is None


def test_red_fails_the_rating_health_gate_and_is_not_promoted_again(live: App) -> None:
    ids = [STEADY.config_id, BROKEN.config_id, LAGGING.config_id]
    inputs = RatingInputs(planned=ids)
    before = compute_ratings(live, inputs).table
    assert before.loc[BROKEN.config_id, "eligible"]  # this test can fail: eligible before
    monitor_job(live)
    after = compute_ratings(live, inputs).table
    assert after.loc[BROKEN.config_id, "health"] == "red"
    assert not after.loc[BROKEN.config_id, "eligible"]
    assert after.loc[BROKEN.config_id, "gate"] == "health red"
    live.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    cycle = promote_job(live, inputs=inputs)
    assert BROKEN.config_id not in cycle.cycle.active
    assert STEADY.config_id in cycle.cycle.active


def test_stale_configs_fail_the_freshness_gate_with_their_reason(live: App) -> None:
    ids = [STEADY.config_id, BROKEN.config_id, LAGGING.config_id]
    table_ = compute_ratings(live, RatingInputs(planned=ids)).table
    assert table_.loc[STEADY.config_id, "stale"] == ""
    lagging = table_.loc[LAGGING.config_id]
    assert not lagging["eligible"]
    assert lagging["gate"].startswith("stale: evaluation lags the last bar by 10 bars")
    # Left the plan: not eligible either, and an incumbent is demoted with that reason.
    planned = [STEADY.config_id, LAGGING.config_id]
    table_ = compute_ratings(live, RatingInputs(planned=planned)).table
    assert table_.loc[BROKEN.config_id, "gate"] == "stale: not in the current plan"
    live.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    out = promote_job(live, inputs=RatingInputs(planned=planned))
    rows = out.decisions.set_index("config_id")
    assert rows.loc[BROKEN.config_id, "action"] == "demoted"
    assert "not in the current plan" in rows.loc[BROKEN.config_id, "reason"]
    assert BROKEN.config_id not in out.cycle.active


def test_a_fresh_config_within_max_lag_is_eligible(live: App) -> None:
    ids = [STEADY.config_id, BROKEN.config_id, LAGGING.config_id]
    live.settings = live.settings.with_overrides(**{"rating.max_lag_bars": 10})
    table_ = compute_ratings(live, RatingInputs(planned=ids)).table
    assert table_.loc[LAGGING.config_id, "stale"] == ""


def test_factory_health_json_lists_each_config_verdict(live: App, workdir: Path) -> None:
    from tests.test_cli import run, run_json

    # The command line runs with the default settings (a fresh shell): their evaluation key.
    cli_key = eval_params(load_settings(None, db_url=live.settings.db_url)).key
    _evaluated(live, BROKEN.config_id, cli_key)
    judged = run_json(workdir, "monitor", db_url=live.settings.db_url)
    assert {v["config_id"]: v["state"] for v in judged["verdicts"]} == {
        STEADY.config_id: "green",
        BROKEN.config_id: "red",
    }
    assert judged["demotion_cycle"] == f"{judged['time_key']}/health"
    out = run_json(workdir, "health", db_url=live.settings.db_url)
    assert out["status"] == "ok" and out["live_set_size"] == 1
    configs = out["configs"]
    assert [(c["config_id"], c["state"], c["live"]) for c in configs] == [
        (BROKEN.config_id, "red", False),  # red first; demoted out of cycle
        (STEADY.config_id, "green", True),
    ]
    keys = {"config_id", "state", "live", "since", "checked_at", "as_of", "reasons", "metrics"}
    assert all(set(c) == keys | {"retrain"} for c in configs)
    # The red one's forced refit, waiting for the evaluate job; nothing for the green one.
    retrain = configs[0]["retrain"]
    assert (retrain["mode"], retrain["status"]) == ("refit", "pending")
    assert retrain["reason"].startswith("health red: ") and configs[1]["retrain"] is None
    assert configs[0]["reasons"] and configs[1]["reasons"] == []
    assert configs[0]["as_of"].endswith("Z")
    assert isinstance(configs[0]["metrics"]["rmse_recent"], float)
    text = run(workdir, "health", db_url=live.settings.db_url).stdout
    assert "config health" in text and BROKEN.config_id in text and "red" in text
    assert "refit after" in text and "pending" in text


def test_judge_flags_features_that_drifted_between_the_windows() -> None:
    bars = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(5)
    label = pd.DataFrame(rng.normal(0, 0.01, (300, 3)), index=bars, columns=["A", "B", "C"])
    signal = np.tanh(label / 0.01 + rng.normal(0, 0.5, label.shape))
    values = rng.normal(0, 1, (300, 3, 4))
    values[200:, :, :3] += 1.5  # three of four features shift after bar 200
    frame = FeatureFrame(values, bars, ("A", "B", "C"), ("f0", "f1", "f2", "f3"))
    kwargs = {"baseline_bars": 200, "recent_bars": 100, "policy": HealthPolicy()}
    report = judge(signal, label, bars[199], bars[-1], features=frame, **kwargs)  # type: ignore[arg-type]
    assert report.state == "red"  # drift_share 0.75 > 0.5
    assert [c.metric for c in report.checks if c.state != "green"] == ["drift_share"]
    assert {d.feature for d in report.drift if d.drifted} == {"f0", "f1", "f2"}
    # The same features before the shift: no drift.
    calm = judge(signal, label, bars[99], bars[199], features=frame, **kwargs)  # type: ignore[arg-type]
    assert calm.metrics["drift_share"] == 0.0
