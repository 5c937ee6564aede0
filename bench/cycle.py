"""Benchmark of the daily cycle: a full backfill against incremental cycles, on the
embedded data (arch.data S&P 500 + NASDAQ) with the default plan, on the Ray backend.

Run:  .venv/bin/python bench/cycle.py [--workers 2] [--sample N] [--start YYYY-MM-DD]
                                      [--hold-back 3] [--dir DIR]

In one run it prints:

1. the backfill: every config evaluated from its first bar up to the bar before the
   held-back ones (wall time, Σ task time, parallel efficiency Σ task / (wall x workers));
2. one incremental cycle after one new bar, split in its two kinds of work: the configs
   with no retrain due (predict-only, batched) and the ~1/retrain_every of the pool whose
   staggered block starts at that bar (refit) — and the whole cycle;
3. the ratios against the goals of issue 9: incremental cycle <= 1 % of the backfill and
   <= 30 s on 2 cores; efficiency >= 0.90.

``--sample N`` evaluates N configs (stratified by architecture) instead of the whole plan
and reports the full-plan backfill as an *estimate* (per-architecture mean x count /
workers), clearly labelled. ``--start`` moves the first predicted bar later (a shorter
backfill, the same per-cycle cost). Warm starts (a family's refits continuing from the
previous block) are on, as in production; `bench/architectures.py` reports their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory import catalog
from factory.app import App
from factory.clock import SystemClock
from factory.data.importer import import_frame
from factory.data.sample import SOURCE, sample_frame
from factory.plan import ModelConfig
from factory.settings import load_settings
from factory.storage.bars import load_market_data
from factory.storage.results import evaluation_states
from scheduler.backends import make_backend
from scheduler.sweep import SweepReport, plan_work, run_sweep


def stratified(configs: tuple[ModelConfig, ...], n: int) -> list[ModelConfig]:
    """Up to ``n`` configs, round robin over architectures (deterministic)."""
    by_arch: dict[str, list[ModelConfig]] = defaultdict(list)
    for c in configs:
        by_arch[c.architecture].append(c)
    out: list[ModelConfig] = []
    queues = [list(v) for _, v in sorted(by_arch.items())]
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def sweep(app: App, configs: list[ModelConfig], backend_name: str, workers: int) -> SweepReport:
    data = load_market_data(app.db)
    backend = make_backend(backend_name, workers=workers)
    try:
        return run_sweep(app.db, app.settings, data, configs, backend, app.clock, progress=False)
    finally:
        backend.shutdown()


def efficiency(report: SweepReport, workers: int) -> float:
    return report.task_seconds / (report.seconds * workers) if report.seconds > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="ray")
    ap.add_argument("--sample", type=int, default=0, help="evaluate N configs (0 = all)")
    ap.add_argument("--start", default=None, help="first predicted bar (default: after min_train)")
    ap.add_argument("--hold-back", type=int, default=3, help="bars kept for the cycles")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()

    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-cycle-"))
    root.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {
        "db_url": f"sqlite:///{root / 'factory.db'}",
        "artifacts": str(root / "artifacts"),
        "cache_dir": str(root / "cache"),
        "output_dir": str(root / "out"),
    }
    if args.start:
        overrides["evaluation.start"] = args.start
    settings = load_settings(None, **overrides)
    app = App(settings, SystemClock())
    bars = sample_frame()
    stamps = sorted(bars["timestamp"].unique())
    held = stamps[-args.hold_back :]
    import_frame(
        app.db, bars[bars["timestamp"] < held[0]], kind="bars", source=SOURCE, at=app.now()
    )
    data = load_market_data(app.db)
    plan = catalog.plan(settings, catalog.profile(data)).configs
    configs = stratified(plan, args.sample) if args.sample else list(plan)
    print(
        f"plan: {len(plan)} configs; evaluating {len(configs)}; {len(data.timestamps)} bars x "
        f"{len(data.assets)} assets; backend {args.backend} x {args.workers}; dir {root}"
    )

    t0 = time.perf_counter()
    back = sweep(app, configs, args.backend, args.workers)
    wall = time.perf_counter() - t0
    print(
        f"\n1. backfill: {back.evaluated} done, {back.failed} failed in {wall:.1f} s wall, "
        f"Σ task {back.task_seconds:.1f} s, efficiency {efficiency(back, args.workers):.2f}"
    )
    for cid, err in back.failures[:5]:
        print(f"   failed {cid}: {err}")
    states = evaluation_states(app.db)
    if args.sample:
        per_arch: dict[str, list[float]] = defaultdict(list)
        for c in configs:
            st = states.get(c.config_id)
            if st is not None:
                per_arch[c.architecture].append(st.fit_seconds + st.predict_seconds)
        counts = Counter(c.architecture for c in plan)
        est = sum(sum(v) / len(v) * counts[a] for a, v in per_arch.items() if v) / args.workers
        print(
            f"   ESTIMATE for the whole plan ({len(plan)} configs) on {args.workers} workers: "
            f"{est / 3600:.2f} h (per-architecture mean task time x configs / workers)"
        )
        backfill_s = est
    else:
        backfill_s = wall

    # One new bar: predict-only configs and refits, timed separately, then summed.
    import_frame(
        app.db, bars[bars["timestamp"] == held[0]], kind="bars", source=SOURCE, at=app.now()
    )
    data = load_market_data(app.db)
    params = catalog.eval_params(settings)
    states = evaluation_states(app.db)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamps_now = [ts.to_pydatetime() for ts in data.timestamps]
    work = {
        c.config_id: plan_work(states.get(c.config_id), params.key, stamps_now, params, now)
        for c in configs
    }
    predict = [c for c in configs if work[c.config_id] == "predict"]
    refit = [c for c in configs if work[c.config_id] == "refit"]
    t0 = time.perf_counter()
    p_rep = sweep(app, predict, args.backend, args.workers)
    p_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweep(app, refit, args.backend, args.workers)
    r_wall = time.perf_counter() - t0
    cycle = p_wall + r_wall
    print(
        f"\n2. one new bar: {len(predict)} predict-only configs in {p_wall:.1f} s "
        f"(efficiency {efficiency(p_rep, args.workers):.2f}); {len(refit)} refits due "
        f"(staggered, ~1/{params.retrain_every} of the pool) in {r_wall:.1f} s; "
        f"cycle {cycle:.1f} s"
    )
    scale = len(plan) / len(configs)
    if args.sample:
        print(f"   ESTIMATE for the whole plan: cycle x {scale:.1f} = {cycle * scale:.1f} s")
        cycle *= scale

    print("\n3. against the goals")
    print(f"   incremental cycle / backfill = {cycle / backfill_s:.4%}  (goal <= 1%)")
    print(f"   incremental cycle            = {cycle:.1f} s  (goal <= 30 s on 2 cores)")
    print(f"   backfill parallel efficiency = {efficiency(back, args.workers):.2f}  (goal >= 0.90)")


if __name__ == "__main__":
    main()
