"""Benchmark: all eight feature pipelines on 500 assets x 2,520 bars, on one core.

Run from the repository root::

    .venv/bin/python bench/features.py            # full size, with the per-asset baseline
    .venv/bin/python bench/features.py --assets 100 --no-baseline

The panel is synthetic and seeded: correlated GARCH(1,1) log returns (one market factor),
bars built around each close, volume rising with the absolute return, top-of-book quotes,
sparse sentiment for every asset and four on-chain metrics for a fifth of them; a fifth of
the assets list late and a few have missing bars (so the asset bar clock compacts).

The process is pinned to one core and numpy/BLAS to one thread. For each pipeline it
prints the CPU time (``time.process_time``, what the pipeline costs on one core even when
other processes share it) and the wall time (``time.perf_counter``) of the vectorised
pipeline (``features.pipelines``), the CPU time of a straightforward per-asset
pandas/TA-Lib implementation of the same features (``bench/features_baseline.py``)
measured in the same run, their ratio, and the largest difference between the two outputs
(they must agree). The goal is <= 20 s in total for the vectorised pipelines.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

# This file is called features.py: keep its directory off the path so that `import
# features` finds the package, and put the repository root on it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.features_baseline import BASELINES  # noqa: E402
from features import FeatureFrame, Panel, feature_sets  # noqa: E402


def synthetic_panel(n_assets: int = 500, n_bars: int = 2520, seed: int = 0) -> Panel:
    """Seeded universe of daily bars with GARCH volatility and a common factor."""
    rng = np.random.default_rng(seed)
    t_, n_ = n_bars, n_assets
    long_run = rng.uniform(0.01, 0.04, n_)  # daily volatility
    a, b = 0.08, 0.90
    omega = long_run**2 * (1 - a - b)
    loading = rng.uniform(0.2, 0.8, n_)
    market = rng.standard_normal(t_)
    shocks = loading * market[:, None] + np.sqrt(1 - loading**2) * rng.standard_normal((t_, n_))
    var = long_run**2
    eps = np.empty((t_, n_))
    sig = np.empty((t_, n_))
    for t in range(t_):
        sig[t] = np.sqrt(var)
        eps[t] = sig[t] * shocks[t]
        var = omega + a * eps[t] ** 2 + b * var
    start = np.exp(rng.uniform(np.log(0.5), np.log(2000.0), n_))
    close = start * np.exp(np.cumsum(eps - 0.5 * sig**2, axis=0))
    prev = np.vstack([start, close[:-1]])
    open_ = prev * np.exp(0.2 * sig * rng.standard_normal((t_, n_)))
    high = np.maximum(open_, close) * np.exp(0.5 * sig * np.abs(rng.standard_normal((t_, n_))))
    low = np.minimum(open_, close) * np.exp(-0.5 * sig * np.abs(rng.standard_normal((t_, n_))))
    base_volume = np.exp(rng.uniform(np.log(1e4), np.log(1e7), n_))
    volume = np.round(
        base_volume * np.exp(0.4 * rng.standard_normal((t_, n_))) * (1 + 5 * np.abs(eps) / long_run)
    )

    present = np.ones((t_, n_), dtype=bool)
    late = rng.random(n_) < 0.2
    for j in np.flatnonzero(late):
        present[: rng.integers(1, t_ // 2), j] = False
    for j in rng.choice(n_, size=max(1, n_ // 20), replace=False):
        present[rng.integers(t_ // 2, t_, size=3), j] = False  # missing bars

    half_spread = close * rng.uniform(1e-4, 1e-3, (t_, n_))
    columns = {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "bid": close - half_spread,
        "ask": close + half_spread,
        "bid_size": np.round(rng.lognormal(6, 0.8, (t_, n_))),
        "ask_size": np.round(rng.lognormal(6, 0.8, (t_, n_))),
    }
    columns = {k: np.where(present, v, np.nan) for k, v in columns.items()}
    observed = rng.random((t_, n_)) < 0.3
    columns["sentiment_score"] = np.where(
        observed, np.tanh(0.5 * rng.standard_normal((t_, n_))), np.nan
    )
    columns["sentiment_volume"] = np.where(observed, rng.poisson(4.0, (t_, n_)) + 1.0, np.nan)
    crypto = rng.random(n_) < 0.2
    growth = np.exp(np.cumsum(rng.normal(0.001, 0.02, (t_, n_)), axis=0))
    chain = {
        "onchain_active_addresses": np.round(5e5 * growth),
        "onchain_tx_count": np.round(2e5 * growth * rng.lognormal(0, 0.1, (t_, n_))),
        "onchain_exchange_netflow": rng.normal(0, 1e3, (t_, n_)),
        "onchain_hash_rate": 1e20 * growth**2,
    }
    for k, v in chain.items():
        columns[k] = np.where(crypto[None, :] & present, v, np.nan)

    index = pd.date_range("2015-01-01", periods=t_, freq="D", name="timestamp")
    assets = pd.Index([f"S{j:04d}" for j in range(n_)], name="asset")
    return Panel({k: pd.DataFrame(v, index=index, columns=assets) for k, v in columns.items()})


def compare(frame: FeatureFrame, baseline: dict[str, pd.DataFrame]) -> tuple[float, float]:
    """(largest |difference| relative to max(1, |value|) where both are finite, share of
    cells whose NaN status differs)."""
    if tuple(baseline) != frame.names:
        raise AssertionError(f"feature names differ: {frame.names} vs {tuple(baseline)}")
    worst, mismatched, total = 0.0, 0, 0
    for i, name in enumerate(frame.names):
        ours = frame.values[:, :, i]
        theirs = baseline[name].reindex(columns=list(frame.assets)).to_numpy(dtype=np.float64)
        theirs = np.where(np.isfinite(theirs), theirs, np.nan)
        both = np.isfinite(ours) & np.isfinite(theirs)
        if both.any():
            rel = np.abs(ours[both] - theirs[both]) / np.maximum(1.0, np.abs(theirs[both]))
            worst = max(worst, float(rel.max()))
        mismatched += int((np.isfinite(ours) != np.isfinite(theirs)).sum())
        total += ours.size
    return worst, mismatched / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--no-baseline", action="store_true", help="time only the pipelines")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    t0 = time.perf_counter()
    panel = synthetic_panel(args.assets, args.bars)
    print(
        f"panel: {args.assets} assets x {args.bars} bars, {len(panel.columns)} columns "
        f"(generated in {time.perf_counter() - t0:.1f} s); one core\n"
    )
    header = f"{'pipeline':<12} {'features':>8} {'cpu s':>7} {'wall s':>7}"
    if not args.no_baseline:
        header += f" {'per-asset cpu s':>15} {'ratio':>7} {'max rel diff':>13} {'NaN diff':>9}"
    print(header)
    print("-" * len(header))
    # All vectorised pipelines first, then the baseline: neither run inherits the other's
    # heap or cache state.
    frames: dict[str, FeatureFrame] = {}
    times: dict[str, tuple[float, float]] = {}
    for name, fs in feature_sets().items():
        wall, cpu = time.perf_counter(), time.process_time()
        frames[name] = fs(panel)
        times[name] = (time.process_time() - cpu, time.perf_counter() - wall)
    total = sum(cpu for cpu, _ in times.values())
    total_wall = sum(wall for _, wall in times.values())
    total_base = 0.0
    for name, frame in frames.items():
        cpu, wall = times[name]
        line = f"{name:<12} {len(frame.names):>8} {cpu:>7.2f} {wall:>7.2f}"
        if not args.no_baseline:
            base_cpu = time.process_time()
            base = BASELINES[name](panel)
            base_cpu = time.process_time() - base_cpu
            total_base += base_cpu
            worst, nan_share = compare(frame, base)
            line += f" {base_cpu:>15.2f} {base_cpu / cpu:>6.1f}x {worst:>13.1e} {nan_share:>8.4%}"
        print(line, flush=True)
    print("-" * len(header))
    line = f"{'total':<12} {'':>8} {total:>7.2f} {total_wall:>7.2f}"
    if not args.no_baseline:
        line += f" {total_base:>15.2f} {total_base / total:>6.1f}x"
    print(line)
    verdict = "met" if total <= 20 else "NOT met"
    print(
        f"\ngoal <= 20 s on one core for all eight pipelines: {verdict} ({total:.1f} s of CPU time; "
        f"wall time {total_wall:.1f} s, which includes waiting for the core if it is shared)"
    )


if __name__ == "__main__":
    main()
