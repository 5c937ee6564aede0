"""Benchmark of the rating engine: vectorised ``rate`` + ``decide_promotions`` against a
straightforward per-config loop with empyrical-reloaded, on 486 configs x 2,520 bars.

Run:  .venv/bin/python bench/rating.py [--repeats 7] [--blas-threads N] [--configs 486]
                                        [--bars 2520] [--seed 0]

Prints the timings (best and median of the repeats) and the ratio. Goals from the issue:
vectorised rating (all metrics + DSR + selection) <= 0.3 s, >= 30x the loop. PBO (CSCV,
12,870 splits) is timed separately because the loop baseline does not compute it.

The data look like a real factory: 54 architecture families of 9 configs sharing a factor
(within-family ρ ≈ 0.6), fat tails (Student t, 4 dof), staggered starts (configs joined
the pool over time, leading NaN), a dozen configs with skill, turnover and compute cost.
Before timing, the baseline's metrics are checked against the engine's table.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import empyrical as ep
import scipy.stats as ss
from statsmodels.tsa.stattools import acf

from rating import RatingPolicy, decide_promotions, rate

EULER = 0.5772156649015329


def make_factory_returns(
    n_configs: int, n_bars: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float], list[str]]:
    rng = np.random.default_rng(seed)
    family = np.arange(n_configs) // 9
    factors = rng.standard_t(4, size=(n_bars, family.max() + 1)) / math.sqrt(2)
    noise = rng.standard_t(4, size=(n_bars, n_configs)) / math.sqrt(2)
    values = (math.sqrt(0.6) * factors[:, family] + math.sqrt(0.4) * noise) * 0.01
    skilled = rng.choice(n_configs, size=12, replace=False)
    values[:, skilled] += 0.01 * rng.uniform(1.5, 3.0, size=12) / math.sqrt(252)
    starts = rng.integers(0, n_bars // 2, size=n_configs)
    starts[skilled] = rng.integers(0, n_bars // 4, size=12)
    for j, start in enumerate(starts):
        values[:start, j] = np.nan
    index = pd.bdate_range("2015-01-02", periods=n_bars)
    ids = [f"cfg_{j:04d}" for j in range(n_configs)]
    returns = pd.DataFrame(values, index=index, columns=ids)
    turnover = pd.DataFrame(
        np.where(np.isnan(values), np.nan, rng.gamma(2.0, 0.05, size=values.shape)),
        index=index,
        columns=ids,
    )
    cost = dict(zip(ids, rng.lognormal(-3.0, 1.0, n_configs).tolist(), strict=True))
    active = [ids[j] for j in skilled[:6]]
    return returns, turnover, cost, active


def geyer_inflation(x: np.ndarray) -> float:
    """Variance inflation of the mean (Geyer's initial positive sequence, floored at 1),
    one config at a time from statsmodels' ACF: the loop counterpart of
    rating.autocorrelation."""
    n_pairs = min(100, len(x) // 4)
    if len(x) < 8 or n_pairs < 1:
        return 1.0
    rho = acf(x, nlags=2 * n_pairs + 1, adjusted=False, fft=True)
    total = 0.0
    for m in range(n_pairs):
        pair = rho[2 * m] + rho[2 * m + 1]
        if pair <= 0:
            break
        total += pair
    return max(2.0 * total - 1.0, 1.0)


def loop_baseline(
    returns: pd.DataFrame,
    turnover: pd.DataFrame,
    cost: dict[str, float],
    active: list[str],
    policy: RatingPolicy,
    corr: pd.DataFrame,
) -> pd.DataFrame:
    """The same table, one config at a time (empyrical + pandas + scipy scalars)."""
    ppy = policy.periods_per_year
    n_bars = len(returns)
    rows: dict[str, dict[str, float]] = {}
    for cid in returns.columns:
        col = returns[cid]
        s = col.dropna()
        row: dict[str, float] = {}
        first = returns.index.get_loc(s.index[0])
        for w in policy.windows:
            tail = col.iloc[-w:].dropna()
            ok = first <= n_bars - w and 2 * len(tail) >= w
            row[f"sharpe_{w}"] = ep.sharpe_ratio(tail, annualization=ppy) if ok else math.nan
        row["sharpe_all"] = ep.sharpe_ratio(s, annualization=ppy)
        row["sortino"] = ep.sortino_ratio(s, annualization=ppy)
        row["annual_return"] = ep.annual_return(s, annualization=ppy)
        row["annual_volatility"] = ep.annual_volatility(s, annualization=ppy)
        row["max_drawdown"] = ep.max_drawdown(s)
        row["calmar"] = ep.calmar_ratio(s, annualization=ppy)
        row["win_rate"] = (s > 0).sum() / (s != 0).sum()
        row["profit_factor"] = s[s > 0].sum() / -s[s < 0].sum()
        wealth = (1 + col.fillna(0.0)).cumprod()
        peak = wealth.cummax().clip(lower=1.0)
        dd = wealth / peak - 1
        at_peak = (dd >= 0).to_numpy()
        trough = int(np.argmin(dd.to_numpy()))
        after = np.flatnonzero(at_peak[trough + 1 :])
        if dd.iloc[trough] >= 0:
            row["recovery_time"] = 0.0
        else:
            row["recovery_time"] = float(after[0] + 1) if after.size else math.nan
        peaks = np.flatnonzero(at_peak)
        row["time_under_water"] = float(n_bars - 1 - (peaks[-1] if peaks.size else -1))
        others = [a for a in active if a != cid]
        row["avg_corr_active"] = float(corr.loc[cid, others].mean())
        row["compute_cost"] = cost.get(cid, math.nan)
        row["turnover"] = float(turnover[cid].abs().mean() * ppy)
        row["n_obs"] = len(s)
        row["skew"] = float(ss.skew(s))
        row["kurtosis"] = float(ss.kurtosis(s, fisher=False))
        row["sr"] = float(s.mean() / s.std())
        row["variance_inflation"] = geyer_inflation(s.to_numpy())
        rows[cid] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    trial = table["n_obs"] >= policy.min_track_record
    # Overlap-weighted mean correlation (see rating.correlation), the plain pandas way.
    members = returns.loc[:, trial.to_numpy()]
    z = ((members - members.mean()) / members.std()).fillna(0.0)
    seen = members.notna().astype(float)
    cross, overlap = (z.T @ z).to_numpy(), (seen.T @ seen).to_numpy()
    off = ~np.eye(len(cross), dtype=bool) & (overlap > 0)
    rho = min(max(float(cross[off].sum() / (overlap[off] - 1).sum()), 0.0), 1.0)
    n_eff = rho + (1 - rho) * len(table)  # N: every config is a trial
    f = table["variance_inflation"]
    var = float((f[trial] / (table.loc[trial, "n_obs"] - 1)).mean())
    sr0 = math.sqrt(var) * (
        (1 - EULER) * ss.norm.ppf(1 - 1 / n_eff) + EULER * ss.norm.ppf(1 - 1 / (n_eff * math.e))
    )
    psr, dsr = [], []
    for _, r in table.iterrows():
        scale = math.sqrt((r["n_obs"] - 1) / r["variance_inflation"]) / math.sqrt(
            1 - r["skew"] * r["sr"] + (r["kurtosis"] - 1) / 4 * r["sr"] ** 2
        )
        psr.append(ss.norm.cdf(r["sr"] * scale))
        dsr.append(ss.norm.cdf((r["sr"] - sr0) * scale))
    table["psr"], table["dsr"] = psr, dsr
    return table.drop(columns="sr")


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=486)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)"
    )
    args = parser.parse_args()

    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)

    returns, turnover, cost, active = make_factory_returns(args.configs, args.bars, args.seed)
    policy = RatingPolicy(compute_pbo=False)
    policy_pbo = RatingPolicy()
    now = datetime(2025, 1, 1)
    incumbents = {a: datetime(2024, 12, 1) for a in active}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"rating bench: {args.configs} configs x {args.bars} bars, "
        f"{int(returns.notna().to_numpy().sum()):,} observations; "
        f"load average {load:.2f}, cpus {os.cpu_count()}, "
        f"blas threads {args.blas_threads or 'default'}"
    )

    def vectorised() -> object:
        ratings = rate(returns, policy=policy, active=active, compute_cost=cost, turnover=turnover)
        return ratings, decide_promotions(ratings, incumbents, now, policy)

    def vectorised_with_pbo() -> object:
        ratings = rate(
            returns, policy=policy_pbo, active=active, compute_cost=cost, turnover=turnover
        )
        return ratings, decide_promotions(ratings, incumbents, now, policy_pbo)

    vectorised()  # warm-up (imports, caches)
    best, median, result = timed(vectorised, args.repeats)
    ratings, cycle = result  # type: ignore[misc]
    best_pbo, median_pbo, result_pbo = timed(vectorised_with_pbo, max(3, args.repeats // 2))

    corr_start = time.perf_counter()
    corr = returns.corr(min_periods=policy.min_overlap)
    corr_time = time.perf_counter() - corr_start
    loop_start = time.perf_counter()
    baseline = loop_baseline(returns, turnover, cost, active, policy, corr)
    loop_time = time.perf_counter() - loop_start

    # The two must agree before their speed is compared.
    ours = ratings.table
    for column in baseline.columns:
        a = ours[column].to_numpy(dtype=np.float64)
        b = baseline[column].to_numpy(dtype=np.float64)
        if not np.allclose(a, b, rtol=1e-7, atol=1e-10, equal_nan=True):
            worst = np.nanmax(np.abs(a - b))
            raise SystemExit(f"mismatch in {column}: max abs difference {worst}")

    baseline_total = corr_time + loop_time
    print(f"  vectorised rate + decide_promotions : best {best:.3f} s, median {median:.3f} s")
    print(
        f"  ... with PBO (CSCV, 12,870 splits)  : best {best_pbo:.3f} s, "
        f"median {median_pbo:.3f} s (pbo = {result_pbo[0].pbo:.3f})"  # type: ignore[index]
    )
    print(
        f"  per-config loop (empyrical)         : {baseline_total:.3f} s "
        f"(loop {loop_time:.3f} s + pandas pairwise corr {corr_time:.3f} s)"
    )
    print(
        f"  speed-up: {baseline_total / best:.1f}x (best), {baseline_total / median:.1f}x "
        f"(median); loop part alone {loop_time / best:.1f}x"
    )
    print(
        f"  population: {ratings.n_trials} trials, mean ρ {ratings.mean_correlation:.3f}, "
        f"N_eff {ratings.n_trials_effective:.1f}, eligible {int(ours['eligible'].sum())}; "
        f"cycle: {cycle.note}"
    )
    print(
        f"  goal <= 0.300 s: {'met' if best <= 0.3 else 'NOT met'}; "
        f"goal >= 30x: {'met' if baseline_total / best >= 30 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
