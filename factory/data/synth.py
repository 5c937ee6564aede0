"""A seeded synthetic universe for tests, demos and scale.

Returns follow a one-factor model with GARCH(1,1) volatility clustering per asset::

    r[t, i] = phi * r[t-1, i] + beta_i * m[t] + e[t, i]
    m[t] ~ N(0, sigma_m^2),   e[t, i] = sqrt(h[t, i]) * z[t, i]
    h[t, i] = omega_i + alpha * e[t-1, i]^2 + gamma * h[t-1, i]

``signal="none"``: ``phi = 0`` — nothing is predictable; an honest evaluation finds no
skill out of sample. ``signal="planted"``: ``phi = -0.2`` — one-bar mean reversion, a
known, learnable signal that every model family can find (an AR model directly, trees
and nets through the last return feature). ``signal="drift"``: ``phi = 0`` and the market
factor drifts up by ``DRIFT_ANNUAL`` (15 %) a year — nothing is predictable, but a model
that learns the training drift stays long and looks skilled against zero; the rating's
benchmark must see through it. Prices are ``100 * cumprod(1 + r)``; opens,
highs and lows are drawn around them so that every bar is valid; volume rises with
``|r| / sigma``. Optional extras: top-of-book sizes (``book``), a daily sentiment score
(``sentiment``; contemporaneous, not predictive) and on-chain metrics (``onchain``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Signal = Literal["none", "planted", "drift"]
SIGNALS: tuple[Signal, ...] = ("none", "planted", "drift")
DRIFT_ANNUAL = 0.15
EXTRAS = ("book", "sentiment", "onchain")
PLANTED_PHI = -0.2


@dataclass(frozen=True)
class SynthUniverse:
    bars: (
        pd.DataFrame
    )  # long: timestamp, asset, open, high, low, close, volume[, bid_size, ask_size]
    sentiment: pd.DataFrame | None  # long: timestamp, asset, score, volume
    onchain: pd.DataFrame | None  # long: timestamp, asset, <metrics>


def synth_universe(
    n_assets: int,
    n_bars: int,
    *,
    seed: int = 0,
    signal: Signal = "none",
    extras: Sequence[str] = (),
    start: str = "2010-01-04",
) -> SynthUniverse:
    """Generate ``n_assets`` x ``n_bars`` business-day bars, deterministic in ``seed``."""
    if n_assets < 1 or n_bars < 2:
        raise ValueError("need at least 1 asset and 2 bars")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    unknown = set(extras) - set(EXTRAS)
    if unknown:
        raise ValueError(f"unknown extras {sorted(unknown)}; choose from {EXTRAS}")
    rng = _Streams(seed)
    phi = PLANTED_PHI if signal == "planted" else 0.0
    T, N = n_bars, n_assets
    timestamps = pd.DatetimeIndex(pd.bdate_range(start, periods=T).astype("datetime64[ns]"))
    assets = [f"SYN{i:03d}" for i in range(N)]

    beta = rng().uniform(0.5, 1.5, N)
    sigma_m = 0.008
    target_idio = rng().uniform(0.008, 0.02, N)  # long-run idiosyncratic daily vol
    alpha, gamma = 0.08, 0.90
    omega = target_idio**2 * (1 - alpha - gamma)
    z = rng().standard_normal((T, N))
    m = rng().standard_normal(T) * sigma_m
    if signal == "drift":
        m = m + np.log1p(DRIFT_ANNUAL) / 252
    h = np.empty((T, N))
    e = np.empty((T, N))
    r = np.empty((T, N))
    h[0] = target_idio**2
    e[0] = np.sqrt(h[0]) * z[0]
    r[0] = beta * m[0] + e[0]
    for t in range(1, T):
        h[t] = omega + alpha * e[t - 1] ** 2 + gamma * h[t - 1]
        e[t] = np.sqrt(h[t]) * z[t]
        r[t] = phi * r[t - 1] + beta * m[t] + e[t]
    r = np.clip(r, -0.5, 0.5)
    close = 100.0 * np.cumprod(1.0 + r, axis=0)
    sigma = np.sqrt(h + (beta * sigma_m) ** 2)
    prev_close = np.vstack([close[:1] / (1.0 + r[:1]), close[:-1]])
    open_ = prev_close * np.exp(rng().normal(0.0, 0.25, (T, N)) * sigma)
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * (1.0 + np.abs(rng().normal(0.0, 0.5, (T, N))) * sigma)
    low = bottom * (1.0 - np.clip(np.abs(rng().normal(0.0, 0.5, (T, N))) * sigma, 0.0, 0.5))
    base_volume = rng().uniform(1e5, 5e6, N)
    volume = np.round(
        base_volume * np.exp(0.3 * rng().standard_normal((T, N)) + 0.4 * np.abs(r) / sigma)
    )

    long = _long_builder(timestamps, assets)
    bar_cols = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    if "book" in extras:
        imbalance = np.tanh(2.0 * r / sigma + 0.5 * rng().standard_normal((T, N)))
        depth = base_volume / 100.0 * np.exp(0.2 * rng().standard_normal((T, N)))
        bar_cols["bid_size"] = np.round(depth * (1.0 + imbalance))
        bar_cols["ask_size"] = np.round(depth * (1.0 - imbalance))
    bars = long(bar_cols)
    sentiment, onchain = _aux(rng, long, r / sigma, volume, extras)
    return SynthUniverse(bars=bars, sentiment=sentiment, onchain=onchain)


def _expanding_mean(x: np.ndarray) -> np.ndarray:
    """Mean of rows 0..t (causal, and unchanged when rows are appended)."""
    return np.cumsum(x, axis=0) / np.arange(1, len(x) + 1)[:, None]


class _Streams:
    """One independent random stream per quantity drawn, in a fixed order. Each array is
    filled time-major from its own stream, so a longer universe extends a shorter one with
    the same seed bar for bar (new bars "arrive" without rewriting history)."""

    def __init__(self, seed: int) -> None:
        self._seq = np.random.SeedSequence(seed)

    def __call__(self) -> np.random.Generator:
        return np.random.default_rng(self._seq.spawn(1)[0])


def _long_builder(
    timestamps: pd.DatetimeIndex, assets: Sequence[str]
) -> Callable[[dict[str, np.ndarray]], pd.DataFrame]:
    T, N = len(timestamps), len(assets)

    def long(values: dict[str, np.ndarray]) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "timestamp": np.repeat(timestamps.to_numpy(), N),
                "asset": np.tile(np.array(assets, dtype=object), T),
            }
        )
        for name, v in values.items():
            frame[name] = v.reshape(-1)
        return frame

    return long


def _aux(
    rng: _Streams,
    long: Callable[[dict[str, np.ndarray]], pd.DataFrame],
    z: np.ndarray,
    volume: np.ndarray,
    extras: Sequence[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Sentiment and on-chain series driven by the standardised return ``z`` of the same
    bar (contemporaneous: they describe bar t, they do not predict t+1) plus noise."""
    T, N = z.shape
    sentiment = None
    if "sentiment" in extras:
        score = np.tanh(0.5 * z + 0.8 * rng().standard_normal((T, N)))
        count = rng().poisson(20.0, (T, N)).astype(float)
        sentiment = long({"score": score, "volume": count})
    onchain = None
    if "onchain" in extras:
        growth = rng().normal(0.001, 0.02, (T, N))
        active = np.round(1e4 * np.exp(np.cumsum(growth, axis=0)) * rng().uniform(0.5, 5.0, N))
        tx = np.round(
            active * rng().uniform(1.5, 3.0, N) * np.exp(0.1 * rng().standard_normal((T, N)))
        )
        netflow = rng().normal(0.0, 1.0, (T, N)) * volume / _expanding_mean(volume) * 1e3 - 50.0 * z
        hashrate = 1e6 * np.exp(np.cumsum(rng().normal(0.0005, 0.01, (T, N)), axis=0))
        onchain = long(
            {
                "active_addresses": active,
                "tx_count": tx,
                "exchange_netflow": netflow,
                "hash_rate": hashrate,
            }
        )
    return sentiment, onchain


def synth_aux_for(
    timestamps: pd.DatetimeIndex,
    assets: Sequence[str],
    close: np.ndarray,
    volume: np.ndarray,
    *,
    seed: int = 0,
    extras: Sequence[str] = ("sentiment", "onchain"),
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Synthetic sentiment / on-chain series for an existing universe (``T x N`` closes and
    volumes), so that every feature pipeline can run on it. The series are labelled
    synthetic wherever they are stored; they carry no information about future returns.
    ``z`` uses a trailing 63-bar volatility (causal)."""
    unknown = set(extras) - {"sentiment", "onchain"}
    if unknown:
        raise ValueError(
            f"synthetic auxiliary series can be sentiment or onchain, not {sorted(unknown)}"
        )
    r = pd.DataFrame(close).pct_change()
    sigma = r.rolling(63, min_periods=5).std()
    z = (r / sigma).fillna(0.0).clip(-10, 10).to_numpy()
    vol = np.where(np.isfinite(volume) & (volume > 0), volume, np.nan)
    vol = pd.DataFrame(vol).ffill().fillna(1.0).to_numpy()
    rng = _Streams(seed)
    sentiment, onchain = _aux(rng, _long_builder(timestamps, assets), z, vol, extras)
    mask = np.isfinite(close).reshape(-1)  # only where the asset has a bar
    return (
        None if sentiment is None else sentiment[mask].reset_index(drop=True),
        None if onchain is None else onchain[mask].reset_index(drop=True),
    )
