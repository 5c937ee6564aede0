"""Hypothesis strategies and generators for valid bar panels.

`ohlcv_panels` draws a small `features.Panel` whose bars are valid
(``high >= max(open, close)``, ``0 < low <= min(open, close)``, ``volume >= 0``, sorted
unique UTC-naive daily index) and whose awkward cases are chosen by hypothesis: late
listings and delistings (leading/trailing NaN), missing bars, partial bars (a NaN
volume), flat stretches (``open = high = low = close``), zero-volume stretches, price
levels from 1e-3 to 1e4, and optional quote, sentiment and on-chain columns. The bulk of
each series comes from a seeded numpy random walk (drawing thousands of floats through
hypothesis would be slow and would not find more bugs); hypothesis picks the shape, the
seed and the awkward cases.

`splice_future` builds the "perturbed future" panel used by the causality properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from features.frame import Panel

BARS = ("open", "high", "low", "close", "volume")
EXTRAS = ("quotes", "quote_sizes", "sentiment", "onchain")
ONCHAIN = ("onchain_active_addresses", "onchain_exchange_netflow", "onchain_tx_count")


@dataclass(frozen=True)
class AssetShape:
    """The awkward cases of one asset's series (row positions are fractions of T)."""

    listed: float = 0.0  # first bar at this fraction of the rows
    delisted: float = 1.0  # no bars from this fraction on
    gaps: tuple[float, ...] = ()  # single missing bars
    flat: tuple[float, float] | None = None  # constant price over this span
    no_volume: tuple[float, float] | None = None  # zero volume over this span
    partial: tuple[float, ...] = ()  # bars with a NaN volume
    sigma: float = 0.02  # per-bar volatility
    price: float = 100.0  # starting price level


@dataclass(frozen=True)
class PanelSpec:
    n_bars: int
    seed: int
    assets: tuple[AssetShape, ...]
    extras: tuple[str, ...] = ()
    sentiment_density: float = 0.3
    onchain_assets: tuple[int, ...] = field(default=(0,))


def _span(n: int, frac: tuple[float, float] | None) -> slice:
    if frac is None:
        return slice(0, 0)
    a, b = sorted(frac)
    return slice(int(a * n), int(b * n))


def synthetic_panel(spec: PanelSpec, start: str = "2020-01-01") -> Panel:
    """A valid panel following ``spec`` (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    t, n = spec.n_bars, len(spec.assets)
    cols: dict[str, np.ndarray] = {k: np.full((t, n), np.nan) for k in BARS}
    for j, shape in enumerate(spec.assets):
        vol = shape.sigma * np.exp(0.3 * np.cumsum(rng.standard_normal(t)) / np.sqrt(t))
        r = vol * rng.standard_t(5, t) / np.sqrt(5 / 3)
        close = shape.price * np.exp(np.cumsum(r))
        prev = np.concatenate(([shape.price], close[:-1]))
        open_ = prev * np.exp(0.3 * vol * rng.standard_normal(t))
        flat = _span(t, shape.flat)
        if flat.stop > flat.start:
            level = close[max(flat.start - 1, 0)]
            close[flat] = level
            open_[flat] = level
        top, bottom = np.maximum(open_, close), np.minimum(open_, close)
        high = top * np.exp(np.abs(rng.standard_normal(t)) * vol * 0.5)
        low = bottom * np.exp(-np.abs(rng.standard_normal(t)) * vol * 0.5)
        high[flat], low[flat] = close[flat], close[flat]
        volume = np.round(rng.lognormal(10.0, 0.6, t) * (1.0 + 20.0 * np.abs(r)))
        volume[_span(t, shape.no_volume)] = 0.0
        volume[[int(p * (t - 1)) for p in shape.partial]] = np.nan
        present = np.zeros(t, dtype=bool)
        present[int(shape.listed * t) : int(shape.delisted * t)] = True
        present[[int(g * (t - 1)) for g in shape.gaps]] = False
        for name, values in zip(BARS, (open_, high, low, close, volume), strict=True):
            cols[name][:, j] = np.where(present, values, np.nan)

    close_all, present_all = cols["close"], np.isfinite(cols["close"])
    if "quotes" in spec.extras or "quote_sizes" in spec.extras:
        half = close_all * rng.uniform(1e-4, 2e-3, (t, n))
        tick = np.where(np.isfinite(close_all), 0.0, np.nan)
        cols["bid_size"] = np.round(rng.lognormal(6.0, 0.8, (t, n))) + tick
        cols["ask_size"] = np.round(rng.lognormal(6.0, 0.8, (t, n))) + tick
        if "quotes" in spec.extras:
            cols["bid"] = close_all - half
            cols["ask"] = close_all + half
    if "sentiment" in spec.extras:
        observed = rng.random((t, n)) < spec.sentiment_density
        score = np.tanh(0.5 * rng.standard_normal((t, n)))
        cols["sentiment_score"] = np.where(observed, score, np.nan)
        cols["sentiment_volume"] = np.where(observed, rng.poisson(4.0, (t, n)) + 1.0, np.nan)
    if "onchain" in spec.extras:
        growth = np.exp(np.cumsum(rng.normal(0.002, 0.03, (t, n)), axis=0))
        metrics = {
            "onchain_active_addresses": np.round(5e5 * growth),
            "onchain_tx_count": np.round(2e5 * growth * rng.lognormal(0.0, 0.1, (t, n))),
            "onchain_exchange_netflow": rng.normal(0.0, 1e3, (t, n)),
        }
        keep = np.zeros(n, dtype=bool)
        keep[[i for i in spec.onchain_assets if i < n]] = True
        missing = rng.random((t, n)) < 0.02
        for name, values in metrics.items():
            cols[name] = np.where(keep[None, :] & present_all & ~missing, values, np.nan)

    index = pd.date_range(start, periods=t, freq="D", name="timestamp")
    assets = pd.Index([f"A{j}" for j in range(n)], name="asset")
    return Panel({k: pd.DataFrame(v, index=index, columns=assets) for k, v in cols.items()})


def splice_future(panel: Panel, other: Panel, t: int) -> Panel:
    """``panel`` up to and including row ``t``, ``other`` after it (same shape/columns)."""
    fields = {}
    for name in panel:
        top = panel[name].to_numpy()[: t + 1]
        bottom = other[name].to_numpy()[t + 1 :]
        frame = pd.DataFrame(
            np.concatenate([top, bottom]), index=panel[name].index, columns=panel[name].columns
        )
        fields[name] = frame
    return Panel(fields)


_fraction = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def asset_shapes(draw: st.DrawFn) -> AssetShape:
    span = st.none() | st.tuples(_fraction, _fraction)
    return AssetShape(
        listed=draw(st.sampled_from((0.0, 0.0, 0.1, 0.4))),
        delisted=draw(st.sampled_from((1.0, 1.0, 0.9))),
        gaps=tuple(draw(st.lists(_fraction, max_size=3))),
        flat=draw(span),
        no_volume=draw(span),
        partial=tuple(draw(st.lists(_fraction, max_size=2))),
        sigma=draw(st.sampled_from((0.002, 0.02, 0.08))),
        price=draw(st.sampled_from((1e-3, 1.0, 100.0, 1e4))),
    )


@st.composite
def panel_specs(
    draw: st.DrawFn,
    min_assets: int = 1,
    max_assets: int = 4,
    min_bars: int = 150,
    max_bars: int = 260,
    extras: Sequence[str] = (),
) -> PanelSpec:
    unknown = set(extras) - set(EXTRAS)
    if unknown:
        raise ValueError(f"unknown extras {sorted(unknown)}; choose from {EXTRAS}")
    n_assets = draw(st.integers(min_assets, max_assets))
    return PanelSpec(
        n_bars=draw(st.integers(min_bars, max_bars)),
        seed=draw(st.integers(0, 2**32 - 1)),
        assets=tuple(draw(asset_shapes()) for _ in range(n_assets)),
        extras=tuple(extras),
        sentiment_density=draw(st.sampled_from((1.0, 0.3, 0.05))),
        onchain_assets=tuple(draw(st.sets(st.integers(0, n_assets - 1), min_size=1))),
    )


def ohlcv_panels(
    min_assets: int = 1,
    max_assets: int = 4,
    min_bars: int = 150,
    max_bars: int = 260,
    extras: Sequence[str] = (),
) -> st.SearchStrategy[Panel]:
    """Valid panels; ``extras`` adds "quotes" (bid, ask, bid_size, ask_size),
    "quote_sizes" (sizes only), "sentiment" (sentiment_score, sentiment_volume) and/or
    "onchain" (onchain_* metrics for some assets)."""
    return panel_specs(min_assets, max_assets, min_bars, max_bars, extras).map(synthetic_panel)
