"""Factory databases for the review tests, evaluated once per session with the real engine.

A pool like the factory's: a few configs that can find the planted one-bar mean reversion
(ridge / lasso / logistic on OHLCV, two grid points each) among twice as many without
skill (``CoinFlip``, random predictions).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from architectures.registry import REGISTRY, spec_from_class
from factory import catalog
from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.plan import ModelConfig
from factory.storage import decisions
from factory.storage.bars import load_market_data
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.api.helpers import Golden, build_golden, inject_hostile, serving_app
from tests.factory.helpers import make_test_app
from tests.review.archs import CoinFlip

N_COINS = 12

POOL: dict[str, Any] = {
    "plan.architectures": ["ridge", "lasso", "logistic"],
    "plan.feature_sets": ["ohlcv"],
    "plan.lookbacks": [5],
    "plan.max_grid": 2,
    "evaluation.min_train": 250,
    "evaluation.retrain_every": 250,
    "evaluation.execution": "close",  # the planted signal is one-bar mean reversion
    "rating.min_active": 2,
    "rating.top_k": 3,
    "rating.max_active": 4,
}


def build(root: Path, signal: str, bars: int = 1600, **overrides: Any) -> App:
    app = make_test_app(root, None, **{**POOL, **overrides})
    u = synth_universe(6, bars, seed=4, signal=signal)  # type: ignore[arg-type]
    import_frame(app.db, u.bars, kind="bars", source="synth", at=app.now())
    data = load_market_data(app.db)
    configs = catalog.plan(app.settings, catalog.profile(data)).configs
    spec = spec_from_class(CoinFlip)
    version = configs[0].feature_set_version
    coins = [
        ModelConfig(spec.name, spec.version, "classical", 5, "ohlcv", version, (("k", k),))
        for k in range(N_COINS)
    ]
    REGISTRY.add(spec)
    try:
        report = run_sweep(
            app.db,
            app.settings,
            data,
            [*configs, *coins],
            SerialBackend(),
            app.clock,
            progress=False,
        )
    finally:
        REGISTRY.remove(spec.name)
    assert report.failed == 0 and report.evaluated == len(configs) + N_COINS == 18, report
    return app


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    app = build(tmp_path_factory.mktemp("planted"), "planted")
    yield app
    app.close()


@pytest.fixture(scope="session")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    app = build(tmp_path_factory.mktemp("noise"), "none", bars=1000)
    yield app
    app.close()


@pytest.fixture(scope="session")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    """The API tests' factory database (4 configs rated, promoted and rebalanced)."""
    return build_golden(tmp_path_factory.mktemp("golden"))


@pytest.fixture
def reviewed(golden: Golden, db_url: str, workdir: Path) -> Iterator[App]:
    """A copy of the golden database (SQLite and PostgreSQL) with hostile names written
    where user-supplied strings reach the report."""
    app = serving_app(golden, db_url, workdir)
    cycle = decisions.latest_cycle(app.db)
    assert cycle is not None and cycle.active
    inject_hostile(app.db, cycle.active[0])
    yield app
    app.close()
