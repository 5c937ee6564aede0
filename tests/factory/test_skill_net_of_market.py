"""A drifting market with nothing predictable: models learn the training drift and stay
long; judged net of the beta-matched universe, that exposure is not skill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from factory import catalog
from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.jobs import compute_ratings
from factory.storage.bars import load_market_data
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import make_test_app


@pytest.fixture
def drifting(workdir: Path) -> Iterator[App]:
    a = make_test_app(
        workdir,
        **{
            "plan.architectures": ["ridge", "lasso"],
            "plan.feature_sets": ["ohlcv", "momentum"],
            "plan.lookbacks": [10],
            "plan.max_grid": 1,
            "evaluation.min_train": 300,
            "evaluation.retrain_every": 250,
            "evaluation.execution": "close",
        },
    )
    u = synth_universe(8, 1500, seed=0, signal="drift")
    import_frame(a.db, u.bars, kind="bars", source="synth", at=a.now())
    data = load_market_data(a.db)
    configs = catalog.plan(a.settings, catalog.profile(data)).configs
    report = run_sweep(a.db, a.settings, data, configs, SerialBackend(), a.clock, progress=False)
    assert report.evaluated == len(configs) == 4
    yield a
    a.close()


def test_drift_exposure_is_not_rated_as_skill(drifting: App) -> None:
    net = compute_ratings(drifting).table
    assert (net["beta"] > 0).all()  # the models learned to lean long
    # Net of beta x universe, each config's Sharpe is lower than against zero ...
    assert (net["sharpe_all"] < net["sharpe_raw"]).all()
    # ... and nothing is eligible.
    assert not net["eligible"].any()
    raw = compute_ratings(
        App(drifting.settings.with_overrides(**{"rating.benchmark": "none"}), drifting.clock)
    ).table
    assert raw["beta"].isna().all()
    assert np.allclose(raw["sharpe_all"], net.loc[raw.index, "sharpe_raw"])
