"""The refine job: configs that left the plan or stayed at the bottom are retired with a
reason (history kept), bred configs refill the pool to its budget, each an event."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from factory import catalog
from factory.app import App
from factory.data.market import MarketData
from factory.jobs import compute_ratings, rate_job, rating_context
from factory.leaderboard import leaderboard
from factory.refine.job import refine_job
from factory.refine.pool import choose_retirements, pool_configs
from factory.refine.tune import tune
from factory.storage.events import load_events
from factory.storage.results import load_configs, load_returns, upsert_configs
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.refine.conftest import bars, drop_optuna_schema, refine_app


def _ranking(rows: dict[str, tuple[int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=["rank", "score", "n_obs"])


def test_retirement_policy_explains_every_choice() -> None:
    stored = {"a": False, "b": False, "c": False, "d": False, "gone": False, "bred": True}
    ranking = _ranking(
        {
            "a": (1, 0.9, 300),
            "b": (2, 0.5, 300),
            "c": (3, 0.1, 30),
            "d": (4, -0.2, 300),
            "bred": (5, -0.5, 300),
        }
    )
    out = choose_retirements(
        stored=stored,
        planned={"a", "b", "c", "d"},
        ranking=ranking,
        active={"d"},
        min_track_bars=60,
        quantile=0.6,
        max_retire=5,
    )
    by_id = {r.config_id: r for r in out}
    # "gone" left the plan; of the bottom 60% (bred, d, c): d is live, c is too young.
    assert set(by_id) == {"gone", "bred"}
    assert by_id["gone"].rule == "left the plan"
    assert by_id["bred"].rule == "bottom of the ranking"
    assert "rank 5 of 5" in by_id["bred"].reason and "300 bars" in by_id["bred"].reason
    capped = choose_retirements(
        stored=stored, planned=set(stored), ranking=ranking, active=set(),
        min_track_bars=1, quantile=1.0, max_retire=2,
    )  # fmt: skip
    assert [r.config_id for r in capped] == ["bred", "d"]  # worst first, at most 2


@pytest.fixture
def pool_app(workdir: Path, db_url: str):  # type: ignore[no-untyped-def]
    a = refine_app(
        workdir,
        db_url,
        **{
            "refine.breed_top": 0,
            "refine.pool_budget": 3,
            "refine.retire_quantile": 0.34,
            "refine.min_track_bars": 20,
        },
    )
    yield a
    a.close()
    drop_optuna_schema(db_url)


def _evaluate(app: App, planned: list) -> None:  # type: ignore[type-arg]
    data = MarketData.from_long(bars())
    pool = pool_configs(app.db, planned)
    run_sweep(app.db, app.settings, data, pool, SerialBackend(), app.clock, progress=False)


def test_refine_job_holds_the_pool_at_its_budget_and_explains_itself(pool_app: App) -> None:
    app = pool_app
    data = MarketData.from_long(bars())
    planned = list(catalog.plan(app.settings, catalog.profile(data)).configs)
    assert len(planned) == 1
    _evaluate(app, planned)
    study = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=10, sampler="random")
    assert study.born == ()  # breed_top = 0: the job breeds
    # A stored config the plan no longer holds (e.g. a lookback dropped from the plan).
    left = planned[0].__class__(**{**planned[0].__dict__, "lookback": 9})
    upsert_configs(app.db, [left], at=app.now())

    first = refine_job(app, planned=planned)
    assert [r.config_id for r in first.retired] == [left.config_id]
    assert first.retired[0].rule == "left the plan"
    assert len(first.born) == 2 and first.pool_size == 3 == len(pool_configs(app.db, planned))
    configs = load_configs(app.db)
    for cid in first.born:
        lineage = json.loads(configs.loc[cid, "lineage"])
        assert lineage["study"] == study.summary.name and lineage["parent"] == planned[0].config_id
    born_events = load_events(app.db, kind="config_born")
    assert set(born_events["subject"]) == set(first.born)
    assert born_events["message"].str.contains("refill the pool to its budget of 3").all()

    # The bred configs are evaluated like any other and rated; the worst third retires.
    _evaluate(app, planned)
    ratings = compute_ratings(app)
    assert set(first.born) <= set(ratings.table.index)
    worst = ratings.table["rank"].idxmax()
    rate_job(app)
    board = leaderboard(app.db)
    assert board is not None
    for cid in first.born:  # the leaderboard shows where a bred config came from
        assert board.table.loc[cid, "origin"].startswith(f"{study.summary.name}#")
        assert board.table.loc[cid, "lineage"]["parent"] == planned[0].config_id
    assert board.table.loc[planned[0].config_id, "origin"] == "plan"
    assert (board.table["dsr_trials"] == ratings.n_trials).all()
    assert ratings.population.tuning == 10
    second = refine_job(app, planned=planned)
    assert [r.config_id for r in second.retired] == [worst]
    assert second.pool_size == 3  # a replacement was bred
    assert len(second.born) == 1 and second.born[0] not in first.born
    configs = load_configs(app.db)
    assert configs.loc[worst, "retired_reason"].startswith("bottom of the ranking: rank 3 of 3")
    events = load_events(app.db, kind="config_retired")
    assert list(events["subject"]) == [left.config_id, worst]
    assert "rank 3 of 3" in events["message"].iloc[-1]
    # History kept: the retired config's returns are still stored; it leaves the ranking
    # but stays counted in the deflated Sharpe's population.
    assert load_returns(app.db, ids=[worst])[worst].notna().sum() > 0
    after = compute_ratings(app)
    assert worst not in after.table.index
    assert after.population.retired == 1
    # The historical replay keeps it: in the past it was part of the pool.
    assert worst in rating_context(app, include_retired=True).returns.columns
    assert worst not in rating_context(app).returns.columns


def test_refine_job_breeds_at_most_max_breed_per_run(workdir: Path, db_url: str) -> None:
    app = refine_app(
        workdir, db_url, **{"refine.breed_top": 0, "refine.pool_budget": 5, "refine.max_breed": 1}
    )
    try:
        planned = list(catalog.plan(app.settings, None).configs)
        tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=8, sampler="random")
        sizes = [refine_job(app, planned=planned).pool_size for _ in range(2)]
        assert sizes == [len(planned) + 1, len(planned) + 2]
    finally:
        app.close()
        drop_optuna_schema(db_url)
