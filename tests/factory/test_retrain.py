"""The retrain policy (`factory.monitor.retrain`) and the ``retrains`` table: which turns
of health ask for what, how a challenger's window is counted and judged, and how requests
become a config's schedule changes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from factory.evaluation.engine import EvalState, ModelRef, ScheduleChange
from factory.monitor.retrain import (
    Comparison,
    Turn,
    complete_record,
    compounded,
    extend,
    retrain_requests,
    window_bars,
)
from factory.plan import ModelConfig
from factory.storage.results import EvaluationState, upsert_configs
from factory.storage.retrains import (
    ChallengerUpdate,
    RetrainRequest,
    insert_requests,
    load_retrains,
    save_challengers,
    schedule_changes,
)
from tests.factory.helpers import make_test_app

BAR = datetime(2024, 5, 1)
KEY = "k1"


def _evaluation(cid: str, last: datetime | None = BAR, key: str = KEY) -> EvaluationState:
    state = EvalState(first_ts=datetime(2020, 1, 1), last_ts=last)
    return EvaluationState(cid, key, "done", last, None, 1.0, 0.1, 10, state=state)


def test_red_asks_for_a_refit_and_green_to_yellow_for_a_challenger() -> None:
    evaluations = {c: _evaluation(c) for c in ("a", "b", "c", "d", "e")}
    turns = [
        Turn("a", "green", "red", ("accuracy_drop 0.2 > 0.1",)),
        Turn("b", "green", "yellow", ("drift_share 0.4 > 0.3",)),
        Turn("c", "red", "yellow"),  # recovering after a refit: no challenger
        Turn("d", "green", "yellow"),  # a challenger already runs
        Turn("e", "yellow", "yellow"),  # no change, no request
    ]
    out = retrain_requests(turns, evaluations, {"d"}, bar=BAR, eval_key=KEY)
    assert [(r.config_id, r.mode) for r in out] == [("a", "refit"), ("b", "shadow")]
    refit, shadow = out
    assert refit.after_ts == BAR and refit.state is None
    assert refit.reason == "health red: accuracy_drop 0.2 > 0.1"
    assert shadow.state is evaluations["b"].state  # the champion's state it starts from
    # Switched off, and configs with no record under these settings: nothing.
    assert (
        retrain_requests(
            turns,
            evaluations,
            set(),
            bar=BAR,
            eval_key=KEY,
            refit_on_red=False,
            challenger_on_yellow=False,
        )
        == []
    )
    assert retrain_requests(turns, evaluations, set(), bar=BAR, eval_key="other") == []
    assert retrain_requests(turns, {}, set(), bar=BAR, eval_key=KEY) == []


def test_the_challenger_window_is_counted_as_bars_arrive() -> None:
    bars = pd.bdate_range("2024-05-01", periods=8)
    window = window_bars(bars, bars[1].to_pydatetime(), 3)
    assert list(window) == list(bars[2:5])
    net = pd.Series([0.01, 0.02, -0.01, 0.03], index=bars[1:5])
    # The bar of the request is not in the window; bars past it are not either.
    first, n = extend(0.0, 0, net.iloc[:2], window)
    assert n == 1 and first == pytest.approx(0.02)
    total, n = extend(first, n, net.iloc[2:], window)
    assert n == 3 and total == pytest.approx(1.02 * 0.99 * 1.03 - 1)
    assert total == pytest.approx(compounded(net.iloc[1:]))
    # The champion's record must cover the window to be judged.
    assert complete_record(net, window) == pytest.approx(total)
    assert complete_record(net.iloc[:3], window) is None
    # A tie keeps the champion.
    assert Comparison(3, 0.01, 0.02).challenger_wins
    assert not Comparison(3, 0.02, 0.02).challenger_wins


def test_requests_become_schedule_changes(workdir: Path, db_url: str) -> None:
    app = make_test_app(workdir, db_url)
    configs = [
        ModelConfig("ridge", 1, "classical", 5, "ohlcv", 1, (("alpha", a),))
        for a in (1.0, 2.0, 3.0)
    ]
    upsert_configs(app.db, configs, at=BAR)
    a, b, c = (x.config_id for x in configs)
    state = EvalState(first_ts=datetime(2020, 1, 1), last_ts=BAR)
    later = datetime(2024, 5, 2)
    with app.db.begin() as conn:
        insert_requests(
            conn,
            [
                RetrainRequest(a, "shadow", KEY, BAR, BAR, "yellow", state=state),
                RetrainRequest(b, "shadow", KEY, BAR, BAR, "yellow", state=state),
                RetrainRequest(c, "refit", "old-settings", BAR, BAR, "red"),
            ],
            at=BAR,
        )
    rows = load_retrains(app.db)
    assert [(r.mode, r.status) for r in rows] == [("shadow", "running")] * 2 + [
        ("refit", "pending")
    ]
    assert rows[0].state is not None and rows[0].state.last_ts == BAR
    # A refit for ``a`` cancels its running challenger in the same transaction.
    with app.db.begin() as conn:
        insert_requests(conn, [RetrainRequest(a, "refit", KEY, later, later, "red")], at=later)
    by_id = {r.id: r for r in load_retrains(app.db)}
    assert by_id[rows[0].id].status == "cancelled" and by_id[rows[0].id].note
    # ``b``'s challenger wins: its model becomes a switch after the champion's last bar.
    model = ModelRef("b/x.tar.gz", "ab" * 32, later, ("close",))
    won = ChallengerUpdate(rows[1].id, "won", state, 3, 0.01, 0.05, later, model, later, "won")
    with app.db.begin() as conn:
        save_challengers(conn, [won])
    changes = schedule_changes(app.db, KEY)
    # ``c``'s refit was requested under other settings: not replayed under these.
    assert changes == {a: (ScheduleChange(later),), b: (ScheduleChange(later, model),)}
    assert schedule_changes(app.db, "old-settings") == {c: (ScheduleChange(BAR),)}
    app.close()
