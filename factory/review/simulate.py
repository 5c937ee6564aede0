"""The historical replay: what the factory would have done, bar by bar, next to baselines.

For every bar ``t`` of the simulated period (pure; no I/O, no clock):

1. **Rate** (at the promotion cadence: the first bar of each UTC day, i.e. every bar on
   daily data) with ``rating.rate(..., as_of=t)`` on the stored out-of-sample returns
   realised at or before ``t`` — the same population, benchmark, failures and policy as
   ``factory rate``;
2. **Promote**: ``rating.decide_promotions`` with the incumbents and their promotion
   times carried from the previous cycle;
3. **Rebalance**: the live set's signals at ``t`` (computed from data up to ``t``) become
   target weights through :func:`factory.portfolio.weights_array`, the daily rebalance's
   rule with its gross and per-asset limits;
4. **Book**: :func:`factory.book.step`, the ledger every config was evaluated with
   (execution timing, gaps, costs per asset), charges turnover and costs on the
   portfolio's *own* weight changes; the decision at ``t`` earns from its execution
   onwards (the next bar at the earliest).

The baselines go through the same weights and ledger on the same bars and costs:
``equal_weight_all`` (every config's signal), ``best_static`` (the config with the best
Sharpe before the period), ``naive_top_k`` (top k by trailing 30-bar Sharpe, no deflation
or gates, re-picked every cycle), ``random_k`` (k configs drawn every cycle, one run per
seed) and ``buy_and_hold`` (every asset with a bar, equally weighted, costs charged on the
trades that keep it equal).

Nothing at bar ``t`` reads a value after ``t``: ratings see the returns up to ``t``,
trailing Sharpe ratios are computed from the past, random draws depend on the seed and
the cycle only, and the ledger books a decision after it is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from factory.book.ledger import Execution, LedgerState, step
from factory.book.sizing import BookSpec
from factory.book.sizing import target_weights as book_weights
from factory.portfolio import RiskLimits, weights_array
from factory.portfolio.vectorised import weights_by_bar
from rating.engine import Ratings, rate
from rating.metrics import rolling_sharpe, sharpe_ratio
from rating.policy import RatingPolicy
from rating.promotion import decide_promotions

__all__ = [
    "BASELINES",
    "Cycle",
    "Market",
    "Pool",
    "Replay",
    "ReplayOptions",
    "StrategyRun",
    "default_start",
    "run_replay",
]

BASELINES = ("equal_weight_all", "best_static", "naive_top_k", "random_k", "buy_and_hold")
_EQUAL = BookSpec("long_only", tilt=0.0)


@dataclass(frozen=True, eq=False)
class Market:
    """The bars: ``close``/``open`` are ``T x N`` over ``index`` x ``assets`` (NaN = the
    asset has no bar); ``cost`` the cost per unit of turnover, same shape."""

    index: pd.DatetimeIndex
    assets: tuple[str, ...]
    close: np.ndarray
    cost: np.ndarray
    open: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Pool:
    """The stored out-of-sample record of the configs.

    ``returns``: bars x configs net returns (index within ``Market.index``; NaN before a
    config's first out-of-sample bar); ``turnover`` the same shape (optional);
    ``signals``: ``B x K x N`` float, the configs' signals at the simulated bars
    (``B`` = bars of the period, ``K`` = ``returns.columns``, ``N`` = ``Market.assets``;
    NaN = no signal). ``failed``/``compute_cost``/``extra_trials``/``benchmark``: as for
    ``rating.rate``.
    """

    returns: pd.DataFrame
    signals: np.ndarray
    turnover: pd.DataFrame | None = None
    failed: tuple[str, ...] = ()
    compute_cost: Mapping[str, float] = field(default_factory=dict)
    extra_trials: Mapping[str, int] = field(default_factory=dict)
    benchmark: pd.Series | None = None


@dataclass(frozen=True)
class ReplayOptions:
    """The policy and the portfolio's limits and execution (from settings), and the
    baselines' knobs."""

    policy: RatingPolicy = field(default_factory=RatingPolicy)
    gross_limit: float = 1.0
    max_weight: float = 1.0
    book: BookSpec = field(default_factory=BookSpec)
    limits: RiskLimits | None = None  # None: only max_weight and gross_limit
    cov_window: int = 252
    execution: Execution = "next_close"
    max_gap: int = 21
    naive_window: int = 30
    random_seeds: int = 5
    seed: int = 0


@dataclass(frozen=True)
class Cycle:
    """One replayed promotion cycle."""

    at: datetime
    active: tuple[str, ...]
    promoted: tuple[str, ...]
    demoted: tuple[str, ...]
    note: str


@dataclass(frozen=True, eq=False)
class StrategyRun:
    """One strategy over the period: per simulated bar, the weights decided (``B x N``), the
    ledger's net return, turnover and cost of the interval ending at the bar, and the
    configs voting (``B x K``; None for buy-and-hold)."""

    name: str
    weights: np.ndarray
    net: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    members: np.ndarray | None


@dataclass(frozen=True, eq=False)
class Replay:
    index: pd.DatetimeIndex  # the simulated bars
    config_ids: tuple[str, ...]
    cycles: tuple[Cycle, ...]
    factory: StrategyRun
    baselines: dict[str, StrategyRun]  # every baseline but random_k
    random_runs: tuple[StrategyRun, ...]  # random_k, one per seed
    best_static: str | None
    final_ratings: Ratings | None  # as of the last simulated bar, with the pool PBO
    rating_seconds: float


def default_start(returns: pd.DataFrame, policy: RatingPolicy) -> pd.Timestamp | None:
    """The first bar at which some config has ``min_track_record`` out-of-sample returns
    (the first bar at which the factory could promote; ``best_static`` is picked on the
    bars before it). None if no config gets there."""
    counts = returns.notna().cumsum().max(axis=1)
    reached = counts.index[counts.to_numpy() >= policy.min_track_record]
    return None if reached.empty else pd.Timestamp(reached[0])


def _cycle_starts(index: pd.DatetimeIndex) -> np.ndarray:
    """True at the first bar of each UTC day (the promotion job's time key)."""
    days = index.normalize()
    first = np.ones(len(index), dtype=bool)
    first[1:] = days[1:] != days[:-1]
    return first


def _book(
    name: str,
    market: Market,
    rows: np.ndarray,
    weights: np.ndarray,
    members: np.ndarray | None,
    options: ReplayOptions,
) -> StrategyRun:
    """Run the ledger over the simulated bars (``rows``: their positions in ``market``),
    deciding ``weights[b]`` at bar b."""
    state = LedgerState.empty(market.assets)
    b_count = len(rows)
    net = np.zeros(b_count)
    turnover = np.zeros(b_count)
    cost = np.zeros(b_count)
    for b, i in enumerate(rows):
        row, state = step(
            state,
            close=market.close[i],
            open_=None if market.open is None else market.open[i],
            cost=market.cost[i],
            target=weights[b],
            execution=options.execution,
            max_gap=options.max_gap,
        )
        net[b], turnover[b], cost[b] = row.net, row.turnover, row.cost
    return StrategyRun(name, weights, net, turnover, cost, members)


def _hold_set(picks: list[np.ndarray], starts: np.ndarray, n_configs: int) -> np.ndarray:
    """``B x K`` membership from one pick per cycle, held until the next cycle."""
    members = np.zeros((len(starts), n_configs), dtype=bool)
    current = np.zeros(n_configs, dtype=bool)
    k = 0
    for b, is_start in enumerate(starts):
        if is_start:
            current = np.zeros(n_configs, dtype=bool)
            current[picks[k]] = True
            k += 1
        members[b] = current
    return members


def run_replay(
    market: Market,
    pool: Pool,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    options: ReplayOptions | None = None,
) -> Replay:
    """Replay the factory and the baselines over the bars in [start, end]."""
    import time

    options = options or ReplayOptions()
    policy = options.policy
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    lo = int(market.index.searchsorted(start_ts, side="left"))
    hi = int(market.index.searchsorted(end_ts, side="right"))
    rows = np.arange(lo, hi)
    if rows.size < 2:
        raise ValueError(
            f"the period {start_ts:%Y-%m-%d} to {end_ts:%Y-%m-%d} holds {rows.size} bar(s); "
            "a simulation needs at least 2"
        )
    index = market.index[rows]
    ids = tuple(str(c) for c in pool.returns.columns)
    n_configs = len(ids)
    if pool.signals.shape != (rows.size, n_configs, len(market.assets)):
        raise ValueError(
            f"signals must be {rows.size} bars x {n_configs} configs x {len(market.assets)} "
            f"assets, got {pool.signals.shape}"
        )
    starts = _cycle_starts(index)
    returns = pool.returns
    ret_index = returns.index
    # Rows of the returns matrix realised at or before each simulated bar.
    upto = ret_index.searchsorted(index, side="right")
    seen = returns.notna().to_numpy().cumsum(axis=0)  # bars with a return so far, per config
    # The benchmark on the returns' bars, sliced by position below (what rate() aligns to).
    bench = None if pool.benchmark is None else pool.benchmark.reindex(ret_index)

    # -- the factory: rate, promote, hold --------------------------------------------
    fast_policy = replace(policy, compute_pbo=policy.max_pool_pbo is not None)
    incumbents: dict[str, datetime] = {}
    cycles: list[Cycle] = []
    members = np.zeros((rows.size, n_configs), dtype=bool)
    position = {cid: k for k, cid in enumerate(ids)}
    current = np.zeros(n_configs, dtype=bool)
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        for b, ts in enumerate(index):
            if starts[b]:
                n = int(upto[b])
                now = ts.to_pydatetime()
                if n == 0 or not (seen[n - 1] > 0).any():
                    active: tuple[str, ...] = ()
                    cycles.append(Cycle(now, (), (), tuple(incumbents), "no returns yet"))
                    incumbents = {}
                else:
                    ratings = rate(
                        returns.iloc[:n],
                        policy=fast_policy,
                        active=tuple(incumbents),
                        compute_cost=pool.compute_cost,
                        turnover=None if pool.turnover is None else pool.turnover.iloc[:n],
                        failed=pool.failed,
                        as_of=now,
                        benchmark=None if bench is None else bench.iloc[:n],
                        extra_trials=pool.extra_trials,
                    )
                    cycle = decide_promotions(ratings, incumbents, now, policy)
                    promoted = tuple(d.config_id for d in cycle.by_action("promoted"))
                    demoted = tuple(d.config_id for d in cycle.by_action("demoted"))
                    incumbents = {cid: incumbents.get(cid, now) for cid in cycle.active}
                    active = cycle.active
                    cycles.append(Cycle(now, active, promoted, demoted, cycle.note))
                current = np.zeros(n_configs, dtype=bool)
                current[[position[c] for c in active]] = True
            members[b] = current
    rating_seconds = time.perf_counter() - started

    limits = options.limits or RiskLimits(
        max_weight=options.max_weight, gross_limit=options.gross_limit
    )
    vectorised = options.book.kind == "timeseries" and limits == RiskLimits(
        max_weight=limits.max_weight,
        gross_limit=limits.gross_limit,
        periods_per_year=limits.periods_per_year,
    )

    def weights(m: np.ndarray) -> np.ndarray:
        if vectorised:
            return weights_array(
                pool.signals, m, gross_limit=limits.gross_limit, max_weight=limits.max_weight
            )
        first = max(0, int(rows[0]) - options.cov_window)
        out, _ = weights_by_bar(
            pool.signals,
            m,
            assets=market.assets,
            close=market.close[first : int(rows[-1]) + 1],
            book=options.book,
            limits=limits,
            cov_window=options.cov_window,
        )
        return out

    factory = _book("factory", market, rows, weights(members), members, options)

    # -- baselines ----------------------------------------------------------------------
    baselines: dict[str, StrategyRun] = {}
    everyone = np.ones((rows.size, n_configs), dtype=bool)
    baselines["equal_weight_all"] = _book(
        "equal_weight_all", market, rows, weights(everyone), everyone, options
    )

    before = returns.loc[returns.index < index[0]]
    best = _best_before(before, policy.min_track_record, policy.periods_per_year)
    if best is not None:
        static = np.zeros((rows.size, n_configs), dtype=bool)
        static[:, position[best]] = True
        baselines["best_static"] = _book(
            "best_static", market, rows, weights(static), static, options
        )

    k = policy.target_active
    cycle_rows = np.flatnonzero(starts)
    trailing = rolling_sharpe(
        returns.to_numpy(dtype=np.float64, na_value=np.nan),
        options.naive_window,
        policy.periods_per_year,
    )
    picks: list[np.ndarray] = []
    for b in cycle_rows.tolist():
        n = int(upto[b])
        if n == 0:
            picks.append(np.array([], dtype=np.int64))
            continue
        row = trailing[n - 1]
        ok = np.flatnonzero(np.isfinite(row))
        order = ok[np.lexsort((ok, -row[ok]))]
        picks.append(order[:k])
    naive = _hold_set(picks, starts, n_configs)
    baselines["naive_top_k"] = _book("naive_top_k", market, rows, weights(naive), naive, options)

    random_runs: list[StrategyRun] = []
    for s in range(options.random_seeds):
        rng = np.random.default_rng([options.seed, s])
        draws: list[np.ndarray] = []
        for b in cycle_rows.tolist():
            n = int(upto[b])
            started_ids = np.flatnonzero(seen[n - 1] > 0) if n else np.array([], dtype=np.int64)
            # One uniform key per config per cycle: the draw at a cycle never depends on
            # which configs exist later.
            keys = rng.random(n_configs)
            draws.append(started_ids[np.argsort(keys[started_ids], kind="stable")][:k])
        rand = _hold_set(draws, starts, n_configs)
        random_runs.append(_book(f"random_k[{s}]", market, rows, weights(rand), rand, options))

    hold = np.zeros((rows.size, len(market.assets)))
    for b, i in enumerate(rows):
        frozen = ~np.isfinite(market.close[i])
        hold[b] = book_weights(np.where(frozen, np.nan, 0.0), frozen=frozen, book=_EQUAL)
    baselines["buy_and_hold"] = _book("buy_and_hold", market, rows, hold, None, options)

    final = _final_ratings(pool, policy, int(upto[-1]), index[-1], tuple(incumbents))
    return Replay(
        index=index,
        config_ids=ids,
        cycles=tuple(cycles),
        factory=factory,
        baselines=baselines,
        random_runs=tuple(random_runs),
        best_static=best,
        final_ratings=final,
        rating_seconds=rating_seconds,
    )


def _best_before(before: pd.DataFrame, min_track: int, ppy: int) -> str | None:
    """The config with the best Sharpe on ``before`` among those with ``min_track`` bars
    (all with >= 2 bars if none has that many); None if none has 2."""
    if before.empty:
        return None
    n_obs = before.notna().sum()
    sharpe = pd.Series(np.asarray(sharpe_ratio(before, ppy)), index=before.columns)
    for floor in (min_track, 2):
        ok = sharpe[(n_obs >= floor) & np.isfinite(sharpe)]
        if not ok.empty:
            return str(ok.sort_index().idxmax())
    return None


def _final_ratings(
    pool: Pool, policy: RatingPolicy, n: int, ts: pd.Timestamp, active: Sequence[str]
) -> Ratings | None:
    """The rating as of the last simulated bar, with the pool PBO (for the summary)."""
    if n == 0:
        return None
    with threadpool_limits(limits=1):
        return rate(
            pool.returns.iloc[:n],
            policy=policy,
            active=active,
            compute_cost=pool.compute_cost,
            turnover=None if pool.turnover is None else pool.turnover.iloc[:n],
            failed=pool.failed,
            as_of=ts.to_pydatetime(),
            benchmark=None if pool.benchmark is None else pool.benchmark.loc[:ts],
            extra_trials=pool.extra_trials,
        )
