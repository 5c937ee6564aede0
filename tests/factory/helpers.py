"""Small builders shared by the factory tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from architectures.registry import ArchitectureSpec
from factory.app import App
from factory.clock import FakeClock
from factory.data.market import MarketData
from factory.data.synth import synth_universe
from factory.plan import ModelConfig
from factory.settings import load_settings
from features.registry import FeatureSet


def synth_market(
    n_assets: int = 3,
    n_bars: int = 400,
    *,
    seed: int = 0,
    signal: str = "none",
    extras: bool = True,
) -> MarketData:
    """Synthetic bars with book sizes, sentiment and on-chain columns joined in, as the
    factory builds them from storage."""
    u = synth_universe(
        n_assets,
        n_bars,
        seed=seed,
        signal=signal,  # type: ignore[arg-type]
        extras=("book", "sentiment", "onchain") if extras else (),
    )
    bars = u.bars.set_index(["timestamp", "asset"])
    if u.sentiment is not None:
        bars = bars.join(u.sentiment.set_index(["timestamp", "asset"]).add_prefix("sentiment_"))
    if u.onchain is not None:
        bars = bars.join(u.onchain.set_index(["timestamp", "asset"]).add_prefix("onchain_"))
    return MarketData(bars.sort_index().astype("float64"))


def perturb_after(data: MarketData, cut: pd.Timestamp, seed: int = 1) -> MarketData:
    """Scramble every value after ``cut`` (keeping bars valid); bars up to ``cut`` intact."""
    rng = np.random.default_rng(seed)
    bars = data.bars.copy()
    later = bars.index.get_level_values("timestamp") > cut
    n = int(later.sum())
    for col in bars.columns:
        bars.loc[later, col] = bars.loc[later, col].to_numpy() * rng.uniform(0.3, 3.0, n)
    prices = bars.loc[later, ["open", "close"]]
    bars.loc[later, "high"] = prices.max(axis=1) * (1 + rng.uniform(0, 0.05, n))
    bars.loc[later, "low"] = prices.min(axis=1) * (1 - rng.uniform(0, 0.05, n))
    return MarketData(bars)


def tiny_config(
    spec: ArchitectureSpec,
    fs: FeatureSet,
    lookback: int = 5,
    selection: str = "none",
    **params: object,
) -> ModelConfig:
    merged = {**spec.test_params, **params}
    return ModelConfig(
        architecture=spec.name,
        arch_version=spec.version,
        family=spec.family,
        lookback=lookback,
        feature_set=fs.name,
        feature_set_version=fs.version,
        params=tuple(sorted(merged.items())),
        feature_selection=selection,
    )


SMALL_PLAN = {
    "plan.lookbacks": [8],
    "plan.feature_sets": ["ohlcv", "momentum"],
    "plan.max_grid": 1,
    "plan.grids": {"ppo": {"total_timesteps": [1024]}, "lstm": {"epochs": [1], "hidden_size": [8]}},
    "evaluation.min_train": 250,
    "evaluation.retrain_every": 200,
}


def make_test_app(tmp: Path, db_url: str | None = None, **overrides: object) -> App:
    settings = load_settings(
        None,
        db_url=db_url or f"sqlite:///{tmp / 'factory.db'}",
        artifacts=str(tmp / "artifacts"),
        output_dir=str(tmp / "out"),
        cache_dir=str(tmp / "cache"),
        **{**SMALL_PLAN, **overrides},
    )
    return App(settings, clock=FakeClock(datetime(2026, 3, 2, 21, 0)))
