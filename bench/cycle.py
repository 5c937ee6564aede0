"""Benchmark of the daily cycle: a backfill against incremental cycles, on the embedded
data (arch.data S&P 500 + NASDAQ) with the default plan, on the Ray backend.

Run:  .venv/bin/python bench/cycle.py [--workers 2] [--sample N] [--start YYYY-MM-DD]
                                      [--hold-back 4] [--backend ray] [--dir DIR]

The whole default plan with a late start (a short backfill; a cycle costs the same as
after a long one, the training windows being capped at ``train_window`` bars)::

    .venv/bin/python bench/cycle.py --start 2018-12-10

needs one fit per config at least: ``--start 2018-12-21 --hold-back 3`` (a 3-bar
backfill) took 22 minutes on 2 shared cores, the figures of docs/scaling.md 1.4.

One Ray runtime serves the whole run, as in the daemon (`scheduler.daemon` keeps its
backend between ticks): its start-up is timed on its own. The last ``--hold-back`` bars
of the data are kept out of the backfill and arrive one per cycle. In one run it prints:

1. the backfill: every config evaluated from its first bar up to the bar before the
   held-back ones (wall, Σ task time, parallel efficiency Σ task / (wall x workers)), and
   an ESTIMATE of the backfill over the whole history (from each config's measured
   seconds per refit and per predicted bar, scaled to the refits and bars of a backfill
   from the default start; training windows are shorter early in the history, so it is
   an upper bound);
2. bar 1, split in its two kinds of work: the configs with no retrain due
   (predict-only: "one incremental cycle, no retrain due") and the ~1/retrain_every of
   the pool whose staggered block starts at that bar (refits), as two sweeps;
3. bars 2 and 3: the daily cycle as the daemon runs it, the whole pool in one sweep
   (refits and predict-only batches together); the second of them is the steady state
   (workers' pipeline caches filled);
4. bar 4 (with ``--hold-back 4``): a cycle in a fresh runtime (Ray start, worker
   start-up and imports, then the sweep), what a cron-started ``factory run`` pays;
5. the ratios against the goals of issue 9: incremental cycle <= 1 % of the backfill
   and <= 30 s on 2 cores; efficiency >= 0.90.

Every phase reports wall time, CPU time (user + system of this process and of the Ray
processes it started: GCS, raylet, workers) and the load average before and after, since
the development machine is shared. ``--sample N`` evaluates N configs (stratified by
architecture) instead of the whole plan; the full-plan figures are then ESTIMATES,
labelled. Warm starts (a family's refits continuing from the previous block) are on, as
in production.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory import catalog
from factory.app import App
from factory.clock import SystemClock
from factory.data.importer import import_frame
from factory.data.sample import SOURCE, sample_frame
from factory.evaluation.engine import EvalParams, first_prediction_index
from factory.plan import ModelConfig
from factory.settings import load_settings
from factory.storage.bars import load_market_data
from factory.storage.results import evaluation_states
from scheduler.backends import Backend, make_backend
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


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its live descendants (Ray's GCS,
    raylet and workers when Ray runs locally). Processes that exited are not counted."""
    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system
    return total


def _rss_mib() -> tuple[float, float]:
    """Resident memory (MiB) of this process and of its descendants (Ray processes)."""
    me = psutil.Process()
    kids = 0
    for p in me.children(recursive=True):
        try:
            kids += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return me.memory_info().rss / 2**20, kids / 2**20


@dataclass
class Phase:
    wall: float = 0.0
    cpu: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0

    def text(self) -> str:
        return (
            f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU, "
            f"load {self.load_before:.2f} -> {self.load_after:.2f}"
        )


@contextmanager
def timed() -> Iterator[Phase]:
    """Wall, CPU (process tree) and 1-minute load average around a block."""
    phase = Phase(load_before=os.getloadavg()[0])
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    try:
        yield phase
    finally:
        phase.wall = time.perf_counter() - t0
        phase.cpu = _cpu_seconds() - cpu0
        phase.load_after = os.getloadavg()[0]


def efficiency(report: SweepReport, wall: float, workers: int) -> float:
    return report.task_seconds / (wall * workers) if wall > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="ray")
    ap.add_argument("--sample", type=int, default=0, help="evaluate N configs (0 = all)")
    ap.add_argument("--start", default=None, help="first predicted bar (default: after min_train)")
    ap.add_argument("--hold-back", type=int, default=4, help="bars kept for the cycles (2-4)")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    if not 2 <= args.hold_back <= 4:
        ap.error("--hold-back must be 2, 3 or 4")

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
    params = catalog.eval_params(settings)
    W = args.workers
    print(
        f"plan: {len(plan)} configs; evaluating {len(configs)}; {len(data.timestamps)} bars x "
        f"{len(data.assets)} assets; start {args.start or 'default'}; backend {args.backend} "
        f"x {W}; {os.cpu_count()} CPUs; dir {root}"
    )
    print(f"uptime at start: {os.popen('uptime').read().strip()}")

    def new_bar(i: int) -> None:
        import_frame(
            app.db, bars[bars["timestamp"] == held[i]], kind="bars", source=SOURCE, at=app.now()
        )

    def sweep(backend: Backend, subset: list[ModelConfig]) -> tuple[SweepReport, Phase]:
        with timed() as phase:
            # What the daemon does per cycle: read the bars, then sweep.
            report = run_sweep(
                app.db, settings, load_market_data(app.db), subset, backend, app.clock,
                progress=False,
            )  # fmt: skip
        return report, phase

    def split(subset: list[ModelConfig]) -> dict[str, list[ModelConfig]]:
        d = load_market_data(app.db)
        states = evaluation_states(app.db)
        now = datetime.now(UTC).replace(tzinfo=None)
        ts = [t.to_pydatetime() for t in d.timestamps]
        out: dict[str, list[ModelConfig]] = defaultdict(list)
        for c in subset:
            out[str(plan_work(states.get(c.config_id), params.key, ts, params, now))].append(c)
        return out

    def line(name: str, rep: SweepReport, ph: Phase) -> str:
        return (
            f"{name}: {rep.evaluated} done, {rep.failed} failed {dict(rep.work)}; {ph.text()}; "
            f"Σ task {rep.task_seconds:.1f} s, efficiency {efficiency(rep, ph.wall, W):.2f}"
        )

    with timed() as start_phase:
        backend = make_backend(args.backend, workers=W)
    print(f"\n0. runtime start ({args.backend} x {W}): {start_phase.text()}")
    try:
        # 1. The backfill.
        back, back_ph = sweep(backend, configs)
        print("\n1. backfill " + line("", back, back_ph)[2:])
        for cid, err in back.failures[:5]:
            print(f"   failed {cid}: {err}")
        back_eff = efficiency(back, back_ph.wall, W)
        full_est = full_history_estimate(app, configs, plan, params) / W
        print(
            f"   ESTIMATE, backfill of the whole plan ({len(plan)} configs) over the whole "
            f"history (default start) on {W} workers: {full_est / 3600:.2f} h "
            "(seconds per refit and per bar x refits and bars / workers)"
        )
        if args.sample:
            scale = len(plan) / len(configs)
            backfill_s = back_ph.wall * scale
            print(f"   ESTIMATE, this backfill for the whole plan: wall x {scale:.1f}")
        else:
            backfill_s = back_ph.wall

        # 2. Bar 1: predict-only configs, then the refits due, as two sweeps.
        new_bar(0)
        kinds = split(configs)
        p_rep, p_ph = sweep(backend, kinds["predict"])
        r_rep, r_ph = sweep(backend, kinds["refit"])
        print(f"\n2. bar 1 ({pd.Timestamp(held[0]):%Y-%m-%d}), split by kind of work")
        print("   " + line(f"no retrain due ({len(kinds['predict'])} configs)", p_rep, p_ph))
        print(
            "   "
            + line(
                f"retrain due ({len(kinds['refit'])} configs, ~1/{params.retrain_every} "
                "of the pool)",
                r_rep,
                r_ph,
            )
        )
        others = {k: len(v) for k, v in kinds.items() if k not in ("predict", "refit")}
        if others:
            print(f"   other work: {others}")

        # 3. Bars 2 and 3: the daemon's cycle (one sweep over the pool).
        cycles: list[tuple[SweepReport, Phase]] = []
        for i in (1, 2):
            if i >= len(held) - (1 if args.hold_back == 4 else 0):
                break
            new_bar(i)
            cycles.append(sweep(backend, configs))
            print(
                f"\n3. bar {i + 1} ({pd.Timestamp(held[i]):%Y-%m-%d}), whole pool in one sweep "
                + ("(steady state) " if i == 2 else "")
                + line("", *cycles[-1])[2:]
            )
        driver, ray_mib = _rss_mib()
        print(f"   memory now: driver {driver:.0f} MiB, Ray processes {ray_mib:.0f} MiB (RSS)")
    finally:
        backend.shutdown()

    fresh: tuple[SweepReport, Phase] | None = None
    if args.hold_back == 4:
        new_bar(3)
        # CPU is read before the shutdown (the Ray processes' CPU dies with them).
        cold_backend = None
        try:
            with timed() as cold_ph:
                cold_backend = make_backend(args.backend, workers=W)
                cold_rep, _ = sweep(cold_backend, configs)
        finally:
            t0 = time.perf_counter()
            if cold_backend is not None:
                cold_backend.shutdown()
            down = time.perf_counter() - t0
        fresh = (cold_rep, cold_ph)
        print(
            f"\n4. bar 4 ({pd.Timestamp(held[3]):%Y-%m-%d}) in a fresh runtime (start + sweep; "
            f"then {down:.1f} s to shut down): " + line("", cold_rep, cold_ph)[2:]
        )

    # The cycle: the daemon's sweeps over the pool (bars 2 and 3), the slower one.
    worst = max(cycles, key=lambda rc: rc[1].wall) if cycles else None
    n = len(configs)
    predict_only = p_ph.wall
    cycle = worst[1].wall if worst else p_ph.wall + r_ph.wall
    refits_in = worst[0].work.get("refit", 0) if worst else len(kinds["refit"])
    # Expected refits per bar with staggered offsets: pool / retrain_every, each costing
    # the mean measured seconds per refit of the backfill.
    per_refit = mean_refit_seconds(app, configs)
    due = len(plan) / params.retrain_every
    label = "measured"
    if args.sample:
        scale = len(plan) / n
        low = p_ph.wall + p_rep.task_seconds * (scale - 1) / W
        print(
            f"   ESTIMATE, no retrain due for the whole plan: {low:.1f} s (task time x "
            f"{scale:.1f}, the driver's share as measured) to {p_ph.wall * scale:.1f} s "
            f"(all x {scale:.1f})"
        )
        predict_only *= scale
        label = f"ESTIMATE for the whole plan: measured x {scale:.1f}, an upper bound"
    expected = predict_only + due * per_refit / W
    print(f"\n5. against the goals ({label})")
    print(
        f"   incremental cycle, no retrain due  = {predict_only:.1f} s  "
        f"= {predict_only / backfill_s:.3%} of this backfill, "
        f"{predict_only / full_est:.4%} of the whole-history estimate  (goals <= 1 %, <= 30 s)"
    )
    print(
        f"   daemon's cycle, measured ({n} configs, {refits_in} refits due) = {cycle:.1f} s "
        f"= {cycle / back_ph.wall:.3%} of this backfill of the same configs"
    )
    print(
        f"   ESTIMATE, cycle of the whole plan with {due:.1f} refits due (pool / "
        f"{params.retrain_every}) at the mean {per_refit:.1f} s per refit of the backfill = "
        f"no retrain due + refits x mean / {W} = {expected:.1f} s "
        f"= {expected / backfill_s:.3%} of this backfill, "
        f"{expected / full_est:.4%} of the whole-history estimate"
    )
    if fresh is not None:
        print(
            f"   cycle in a fresh runtime ({n} configs)     = {fresh[1].wall:.1f} s "
            f"({fresh[0].work.get('refit', 0)} refits due)"
        )
    print(f"   backfill parallel efficiency        = {back_eff:.2f}  (goal >= 0.90)")
    print(f"uptime at end: {os.popen('uptime').read().strip()}")


def mean_refit_seconds(app: App, configs: list[ModelConfig]) -> float:
    """Mean seconds of one refit over the evaluated configs (fit seconds / refits)."""
    states = evaluation_states(app.db, [c.config_id for c in configs])
    fits = [st.fit_seconds for st in states.values() if st.state is not None]
    refits = [st.state.n_retrains for st in states.values() if st.state is not None]
    return sum(fits) / max(sum(refits), 1)


def full_history_estimate(
    app: App, configs: list[ModelConfig], plan: tuple[ModelConfig, ...], params: EvalParams
) -> float:
    """Core-seconds of a backfill of the whole plan from the default start: per evaluated
    config, its seconds per refit x the refits of the whole history plus its seconds per
    predicted bar x the bars; configs of the plan that were not evaluated (``--sample``)
    count as the mean of their architecture."""
    stamps = load_market_data(app.db).timestamps
    full_bars = len(stamps) - first_prediction_index(stamps, replace(params, start=None))
    full_refits = math.ceil(full_bars / params.retrain_every)
    states = evaluation_states(app.db, [c.config_id for c in configs])
    per_arch: dict[str, list[float]] = defaultdict(list)
    for c in configs:
        st = states.get(c.config_id)
        record = None if st is None else st.state
        if st is None or record is None or record.n_retrains == 0 or record.last_ts is None:
            continue
        first, last = pd.Timestamp(record.first_ts), pd.Timestamp(record.last_ts)
        bars = int(((stamps >= first) & (stamps <= last)).sum())
        per_arch[c.architecture].append(
            st.fit_seconds / record.n_retrains * full_refits
            + st.predict_seconds / max(bars, 1) * full_bars
        )
    return sum(sum(v) / len(v) for a in (c.architecture for c in plan) if (v := per_arch.get(a)))


if __name__ == "__main__":
    main()
