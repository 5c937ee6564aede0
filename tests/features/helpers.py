"""Shared panels for the feature tests."""

from __future__ import annotations

import numpy as np

from features import Panel
from tests.strategies import AssetShape, PanelSpec, synthetic_panel

ALL_EXTRAS = ("quotes", "sentiment", "onchain")


def dense_panel(n_bars: int = 320, n_assets: int = 4, seed: int = 7) -> Panel:
    """Gap-free bars with dense sentiment and on-chain data for every asset; assets differ
    in volatility and price level (1, 10, 100, ...)."""
    spec = PanelSpec(
        n_bars=n_bars,
        seed=seed,
        assets=tuple(AssetShape(sigma=0.01 * (1 + j), price=10.0**j) for j in range(n_assets)),
        extras=ALL_EXTRAS,
        sentiment_density=1.0,
        onchain_assets=tuple(range(n_assets)),
    )
    panel = synthetic_panel(spec)
    return Panel(
        {k: (v.ffill() if k.startswith("onchain_") else v) for k, v in panel.fields.items()}
    )


def column(panel: Panel, name: str, asset: int) -> np.ndarray:
    """One asset's series of one panel column."""
    return panel[name].to_numpy()[:, asset].copy()
