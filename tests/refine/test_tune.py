"""`factory tune`: the tuning boundary holds, lineage is recorded, every trial reaches the
deflated Sharpe's population."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from factory import catalog
from factory.app import App
from factory.data.market import MarketData
from factory.jobs import compute_ratings, rating_context
from factory.refine.tune import tune
from factory.storage.database import table
from factory.storage.events import load_events
from factory.storage.results import load_configs, tuning_trials
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import perturb_after
from tests.refine.conftest import bars, refine_app


def _values(a: App, sampler: str, trials: int) -> dict[int, float | None]:
    import optuna

    from factory.refine.storage import optuna_storage

    out = tune(a, "ridge", feature_set="ohlcv", lookback=8, trials=trials, sampler=sampler)
    study = optuna.load_study(
        study_name=out.summary.name, storage=optuna_storage(a.settings.db_url)
    )
    return {t.number: t.value for t in study.get_trials()}


@pytest.mark.parametrize("sampler", ["tpe", "grid"])
def test_no_trial_reads_a_bar_at_or_after_the_boundary(tmp_path: Path, sampler: str) -> None:
    boundary = pd.Timestamp("2011-03-14")
    clean = refine_app(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}")
    data = MarketData.from_long(bars())
    # Every bar from the boundary on scrambled (the last bar before it kept).
    last_before = data.timestamps[data.timestamps < boundary][-1]
    shaken = perturb_after(data, last_before).bars.reset_index()
    assert (shaken.loc[shaken.timestamp >= boundary, "close"].to_numpy()
            != bars().loc[bars().timestamp >= boundary, "close"].to_numpy()).any()  # fmt: skip
    perturbed = refine_app(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", frame=shaken)
    expected = _values(clean, sampler, 5)
    assert len(expected) >= 3 and any(v is not None for v in expected.values())
    assert _values(perturbed, sampler, 5) == expected


def test_a_boundary_after_the_perturbation_sees_it(tmp_path: Path) -> None:
    """The converse, so the test above can fail: with the boundary moved past the
    perturbed bars the trial values change."""
    late = {"refine.tune_end": "2011-08-01"}
    clean = refine_app(tmp_path / "a", f"sqlite:///{tmp_path / 'a.db'}", **late)
    data = MarketData.from_long(bars())
    shaken = perturb_after(data, pd.Timestamp("2011-03-11")).bars.reset_index()
    perturbed = refine_app(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", frame=shaken, **late)
    assert _values(clean, "tpe", 3) != _values(perturbed, "tpe", 3)


def test_best_trial_is_bred_with_its_lineage(app: App) -> None:
    out = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=6, sampler="tpe")
    assert out.summary.n_trials == 6 and out.born
    configs = load_configs(app.db)
    born = configs.loc[out.born[0]]
    lineage = json.loads(born["lineage"])
    planned = catalog.plan(app.settings, None).configs
    assert lineage["study"] == out.summary.name
    assert lineage["trial"] == out.summary.best_number
    assert lineage["value"] == pytest.approx(out.summary.best_value)
    assert lineage["parent"] == out.parent == planned[0].config_id
    assert json.loads(born["params"]) == out.summary.best_params
    events = load_events(app.db, kind="config_born")
    assert list(events["subject"]) == list(out.born)
    assert out.summary.name in events["message"].iloc[0]
    # A second run of the finished study breeds nothing new and runs no trial.
    again = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=6, sampler="tpe")
    assert again.ran == 0 and again.born == ()


def test_every_trial_reaches_the_deflated_sharpe(app: App) -> None:
    data = MarketData.from_long(bars())
    planned = list(catalog.plan(app.settings, catalog.profile(data)).configs)[:2]
    run_sweep(app.db, app.settings, data, planned, SerialBackend(), app.clock, progress=False)
    before = compute_ratings(app).n_trials
    assert tuning_trials(app.db) == 0
    first = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=4, sampler="tpe")
    second = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=3, sampler="grid")
    counted = first.summary.n_trials + second.summary.n_trials
    assert counted == 4 + 3
    assert tuning_trials(app.db) == counted
    assert rating_context(app).extra_trials["tuning"] == counted
    after = compute_ratings(app)
    born = len(first.born) + len(second.born)  # bred configs not evaluated yet: pending
    assert born >= 1 and after.population.pending == born
    assert after.n_trials == before + counted + born
    summary = after.summary()  # what the leaderboard prints above the table
    assert summary["trials_tuning"] == counted
    assert f"{counted} tuning trials" in summary["population"]
    with app.db.begin() as conn:
        rows = conn.execute(select(table("tuning_studies"))).mappings().all()
    assert {r["sampler"] for r in rows} == {"tpe", "grid"}


def test_an_architecture_without_a_search_space_is_refused() -> None:
    from dataclasses import replace

    from architectures import registry
    from factory.refine.space import NothingToTune, study_space

    spec = replace(registry.get("ridge"), search_space={}, param_grid={})
    with pytest.raises(NothingToTune, match="search_space"):
        study_space(spec, "tpe")
    with pytest.raises(NothingToTune, match="param_grid"):
        study_space(spec, "grid")


def test_a_grid_study_stops_at_the_grid_size(app: App) -> None:
    out = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=10, sampler="grid")
    assert out.summary.n_trials == 3  # ridge's grid: three alphas
    assert out.summary.best_params["alpha"] in (1.0, 10.0, 100.0)
    again = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=10, sampler="grid")
    assert again.ran == 0 and again.summary.n_trials == 3
