"""How the factory scales: workers, assets, pool size and the database, measured in one run.

Run:  .venv/bin/python bench/scale.py [--pg URL] [--pools 100,486,2000] [--assets 10,100,500]
                                      [--skip-backfill] [--skip-assets] [--skip-rating]

Prints, in one run (docs/scaling.md turns the figures into a cost model):

1. backfill throughput on the same plan (lightgbm + ridge + arima on a synthetic
   universe of 10 assets x 1,500 daily bars) with 1 and 2 Ray workers: wall time,
   speed-up, parallel efficiency (Σ task time / (wall x workers)), peak RSS of the driver
   and of the whole process tree (Ray's raylet, GCS and workers are its descendants);
2. synthetic universes of 10, 100 and 500 assets (1,000 bars, a fixed 4-config plan, 2
   workers): wall time, seconds per config, peak RSS, SQLite file size;
3. the rating snapshot as the pool grows (100, 486 and 2,000 configs x 5,040 daily bars =
   20 years), on SQLite and PostgreSQL: write rate of the result rows, database size,
   and the time of a snapshot — read every config's returns and turnover from the
   database and rate them (the `rate` job's work) — cold (a process that has not read
   the pool yet) and the daemon's next one after a new bar (incremental read), against
   the goal of <= 2 s at 486.

Plans of 486 and 2,000 configs are not evaluated end to end here (hours on 2 cores):
their backfill is estimated from the per-config task times measured in (1) and (2), and
labelled as an estimate wherever it is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory import catalog
from factory.app import App
from factory.clock import SystemClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.evaluation.engine import EvalState, EvaluationResult
from factory.plan import ModelConfig
from factory.settings import Settings, load_settings
from factory.storage import return_cache
from factory.storage.bars import load_market_data
from factory.storage.database import Database, scratch_schema
from factory.storage.results import (
    StoreItem,
    load_return_matrices,
    store_results,
    upsert_configs,
)
from rating import rate
from scheduler.backends import make_backend
from scheduler.sweep import SweepReport, run_sweep

GiB = 1024**3
MiB = 1024**2


class PeakRSS:
    """Samples the RSS of this process and of all its descendants every 0.2 s."""

    def __init__(self) -> None:
        self.driver = 0
        self.tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                own = me.memory_info().rss
                total = own
                for p in me.children(recursive=True):
                    try:
                        total += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
            except psutil.NoSuchProcess:
                break
            self.driver = max(self.driver, own)
            self.tree = max(self.tree, total)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _settings(root: Path, **overrides: object) -> Settings:
    return load_settings(
        None,
        db_url=f"sqlite:///{root / 'factory.db'}",
        artifacts=str(root / "artifacts"),
        cache_dir=str(root / "cache"),
        output_dir=str(root / "out"),
        **overrides,
    )


def _sweep(app: App, configs: list[ModelConfig], workers: int) -> tuple[SweepReport, float]:
    data = load_market_data(app.db)
    backend = make_backend("ray", workers=workers)
    try:
        t0 = time.perf_counter()
        rep = run_sweep(app.db, app.settings, data, configs, backend, app.clock, progress=False)
        return rep, time.perf_counter() - t0
    finally:
        backend.shutdown()


def _universe_app(root: Path, n_assets: int, n_bars: int, **overrides: object) -> App:
    root.mkdir(parents=True, exist_ok=True)
    app = App(_settings(root, **overrides), SystemClock())
    u = synth_universe(n_assets, n_bars, seed=7, signal="planted")
    import_frame(app.db, u.bars, kind="bars", source="synth", at=app.now())
    return app


# -- 1. workers ----------------------------------------------------------------------------
def bench_workers(root: Path) -> dict[str, float]:
    print("\n1. backfill throughput: 1 vs 2 Ray workers, same plan")
    plan_overrides: dict[str, object] = {
        "plan.architectures": ["lightgbm", "ridge", "arima"],
        "plan.feature_sets": ["ohlcv", "momentum"],
        "plan.lookbacks": [14],
        "plan.max_grid": 2,
        "evaluation.min_train": 500,
        "evaluation.retrain_every": 250,
    }
    walls: dict[int, float] = {}
    per_config = 0.0
    for workers in (1, 2):
        app = _universe_app(root / f"w{workers}", 10, 1500, **plan_overrides)
        data = load_market_data(app.db)
        configs = list(catalog.plan(app.settings, catalog.profile(data)).configs)
        with PeakRSS() as rss:
            rep, wall = _sweep(app, configs, workers)
        walls[workers] = wall
        eff = rep.task_seconds / (wall * workers)
        per_config = rep.task_seconds / max(1, rep.evaluated)
        print(
            f"   {workers} worker(s): {rep.evaluated} configs ({rep.failed} failed) in {wall:.1f} s"
            f" wall, Σ task {rep.task_seconds:.1f} s, efficiency {eff:.2f}; peak RSS driver "
            f"{rss.driver / MiB:.0f} MiB, whole tree {rss.tree / MiB:.0f} MiB"
        )
        app.close()
    speedup = walls[1] / walls[2]
    print(f"   speed-up 2 vs 1 worker: {speedup:.2f}x (parallel efficiency {speedup / 2:.2f})")
    return {"speedup": speedup, "task_per_config_s": per_config}


# -- 2. assets -----------------------------------------------------------------------------
def bench_assets(root: Path, sizes: list[int]) -> None:
    print(
        "\n2. universe size: a fixed 4-config plan (lightgbm, ridge x ohlcv, momentum), 2 workers"
    )
    overrides: dict[str, object] = {
        "plan.architectures": ["lightgbm", "ridge"],
        "plan.feature_sets": ["ohlcv", "momentum"],
        "plan.lookbacks": [14],
        "plan.max_grid": 1,
        "evaluation.min_train": 500,
        "evaluation.retrain_every": 250,
    }
    for n in sizes:
        d = root / f"assets{n}"
        t0 = time.perf_counter()
        app = _universe_app(d, n, 1000, **overrides)
        load = time.perf_counter() - t0
        data = load_market_data(app.db)
        configs = list(catalog.plan(app.settings, catalog.profile(data)).configs)
        with PeakRSS() as rss:
            rep, wall = _sweep(app, configs, 2)
        size = (d / "factory.db").stat().st_size
        print(
            f"   {n:>4} assets x 1,000 bars: import {load:.1f} s; {rep.evaluated} configs in "
            f"{wall:.1f} s wall ({rep.task_seconds / max(1, rep.evaluated):.1f} s task per "
            f"config); peak RSS driver {rss.driver / MiB:.0f} MiB, tree {rss.tree / MiB:.0f} MiB;"
            f" SQLite {size / MiB:.1f} MiB"
        )
        app.close()


# -- 3. rating snapshot -------------------------------------------------------------------
BARS = 5040  # 20 years of daily bars


def _result(cid: str, stamps: np.ndarray, rng: np.random.Generator) -> EvaluationResult:
    n = len(stamps)
    start = int(rng.integers(0, n // 4))  # staggered starts, like a real pool
    ts = stamps[start:]
    last = pd.Timestamp(ts[-1]).to_pydatetime()
    net = rng.standard_t(4, len(ts)) * 0.01 + rng.normal(0, 0.0005)
    return EvaluationResult(
        cid,
        "done",
        assets=("A",),
        signal_ts=ts[-1:],
        signals=np.ones((1, 1), dtype=np.float32),
        return_ts=ts,
        net=net,
        gross=net + 0.0001,
        turnover=np.abs(rng.normal(0.3, 0.1, len(ts))),
        cost=np.full(len(ts), 0.0001),
        state=EvalState(first_ts=pd.Timestamp(ts[0]).to_pydatetime(), last_ts=last),
        n_retrains=1,
        n_predictions=len(ts),
        fit_seconds=1.0,
        predict_seconds=0.1,
        last_ts=last,
    )


def _db_size(db: Database, path: Path | None) -> int:
    if path is not None:
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    from sqlalchemy import text

    with db.begin() as conn:
        return int(
            conn.execute(  # type: ignore[arg-type]
                text(
                    "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c "
                    "join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = current_schema() and c.relkind = 'r'"
                )
            ).scalar()
        )


def bench_rating(root: Path, pools: list[int], pg_url: str | None) -> None:
    print(f"\n3. rating snapshot: pool x {BARS:,} daily bars (20 years), read from the database")
    stamps = pd.bdate_range("2000-01-03", periods=BARS).to_numpy()
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if pg_url:
        backends.append(("postgresql", pg_url))
    for name, url in backends:
        for n in pools:
            with scratch_schema(url, "bench") if url else _nullcontext(None) as pg:
                path = root / f"rating-{name}-{n}.db"
                db = Database(pg or f"sqlite:///{path}")
                rng = np.random.default_rng(n)
                configs = [
                    ModelConfig("ridge", 1, "classical", 7 + i % 5, "ohlcv", 1, (("alpha", i),))
                    for i in range(n)
                ]
                at = datetime.now(UTC).replace(tzinfo=None)
                upsert_configs(db, configs, at=at)
                rows = 0
                t0 = time.perf_counter()
                for chunk in range(0, n, 50):
                    items = [
                        StoreItem(_result(c.config_id, stamps, rng), True)
                        for c in configs[chunk : chunk + 50]
                    ]
                    rows += sum(len(it.result.return_ts) for it in items)
                    store_results(db, items, eval_key="bench", at=at)
                write = time.perf_counter() - t0
                size = _db_size(db, None if pg else path)
                cold = [_snapshot(db, clear=True) for _ in range(2)]
                # The daemon's next snapshot: one new bar for every config since the last.
                nxt = np.datetime64(pd.Timestamp(stamps[-1]) + pd.offsets.BDay(1), "ns")
                items = [StoreItem(_one_bar(c.config_id, nxt), False) for c in configs]
                store_results(db, items, eval_key="bench", at=at)
                warm = _snapshot(db, clear=False)
                best, read = min(cold)
                goal = "  (goal <= 2 s)" if n == 486 else ""
                print(
                    f"   {name:<10} {n:>5} configs: wrote {rows:,} return rows in {write:.1f} s "
                    f"({rows / write:,.0f} rows/s); database {size / MiB:.0f} MiB "
                    f"({size / rows:.0f} B/row); snapshot cold {best:.2f} s (read {read:.2f} s)"
                    f"{goal}; next snapshot after one new bar {warm[0]:.2f} s (read {warm[1]:.2f} s)"
                )
                db.dispose()


def _snapshot(db: Database, *, clear: bool) -> tuple[float, float]:
    """(snapshot seconds, of which reading): returns and turnover of every config, rated."""
    if clear:
        return_cache.clear()  # a process that has not read the pool yet
    t0 = time.perf_counter()
    m = load_return_matrices(db, ("net_return", "turnover"))
    read = time.perf_counter() - t0
    rate(m["net_return"], turnover=m["turnover"])
    return time.perf_counter() - t0, read


def _one_bar(cid: str, ts: np.datetime64) -> EvaluationResult:
    stamps = np.array([ts])
    last = pd.Timestamp(ts).to_pydatetime()
    return EvaluationResult(
        cid,
        "done",
        assets=("A",),
        signal_ts=stamps,
        signals=np.ones((1, 1), dtype=np.float32),
        return_ts=stamps,
        net=np.array([0.001]),
        gross=np.array([0.001]),
        turnover=np.array([0.1]),
        cost=np.array([0.0]),
        state=EvalState(first_ts=last, last_ts=last),
        n_retrains=1,
        n_predictions=1,
        fit_seconds=0.0,
        predict_seconds=0.01,
        last_ts=last,
    )


@contextmanager
def _nullcontext(value: None) -> Iterator[None]:
    yield value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--pools", default="100,486,2000")
    ap.add_argument("--assets", default="10,100,500")
    ap.add_argument("--skip-backfill", action="store_true")
    ap.add_argument("--skip-assets", action="store_true")
    ap.add_argument("--skip-rating", action="store_true")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"bench/scale.py on {psutil.cpu_count()} cores, {psutil.virtual_memory().total / GiB:.0f} GiB; dir {root}"
    )
    if not args.skip_backfill:
        bench_workers(root)
    if not args.skip_assets:
        bench_assets(root, [int(x) for x in args.assets.split(",")])
    if not args.skip_rating:
        bench_rating(root, [int(x) for x in args.pools.split(",")], None if args.no_pg else args.pg)


if __name__ == "__main__":
    main()
