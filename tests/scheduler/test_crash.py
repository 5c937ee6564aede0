"""Crash safety of the loop: `kill -9` at random points of a cycle, restart, and the final
database equals that of an uninterrupted run — no row lost, none written twice — on
SQLite and PostgreSQL. Three trials per database run on every CI build; 20 per database
in the soak run (`pytest -m soak tests/scheduler/test_crash.py`)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from factory.storage.database import scratch_schema
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]

# What a run leaves, by content (surrogate ids, wall-clock timings and artifact file names
# differ between runs by design; the fixed clock makes every `at` equal).
QUERIES = {
    "bars": "select asset, ts, open, high, low, close, volume from bars",
    "configs": "select config_id, architecture, lookback, feature_set from configs",
    "evaluations": "select config_id, eval_key, status, first_ts, last_ts, last_retrain_ts, "
    "n_retrains, n_predictions, attempts from evaluations",
    "signals": "select config_id, asset, ts, signal from signals",
    "config_returns": "select config_id, ts, net_return, gross_return, turnover, cost "
    "from config_returns",
    "trials": "select config_id, eval_key, status, n_obs from trials",
    "artifacts": "select config_id, trained_at from artifacts",
    "snapshots": "select time_key, as_of, n_configs from rating_snapshots",
    "ratings": "select s.time_key, r.config_id, r.eligible from ratings r "
    "join rating_snapshots s on s.id = r.snapshot_id",
    "cycles": "select time_key, active from promotion_cycles",
    "promotions": "select c.time_key, p.config_id, p.action from promotions p "
    "join promotion_cycles c on c.id = p.cycle_id",
    "rebalances": "select time_key, bar_ts, n_active, gross from rebalances",
    "weights": "select b.time_key, w.asset, w.weight from rebalance_weights w "
    "join rebalances b on b.id = w.rebalance_id",
    "runs": "select job, time_key, status from runs",
}


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(
                    (tuple(round(v, 12) if isinstance(v, float) else v for v in row))
                    for row in conn.execute(text(q))
                )
                for name, q in QUERIES.items()
            }
    finally:
        engine.dispose()


@contextmanager
def fresh_db(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    assert PG_URL is not None
    with scratch_schema(PG_URL, "crash") as url:
        yield url


def driver(url: str, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.crash_driver", url, str(workdir), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_to_end(url: str, workdir: Path, *extra: str) -> float:
    t0 = time.monotonic()
    proc = driver(url, workdir, *extra)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]
    return time.monotonic() - t0


def crash_trials(kind: str, tmp_path: Path, trials: int, seed: int) -> None:
    if kind == "postgresql" and PG_URL is None:
        pytest.skip("no PostgreSQL server reachable")
    rng = random.Random(seed)
    with fresh_db(kind, tmp_path) as url:
        ref_dir = tmp_path / "ref"
        run_to_end(url, ref_dir, "--setup")
        duration = run_to_end(url, ref_dir)
        reference = dump(url)
    assert reference["signals"] and reference["rebalances"] and reference["snapshots"]
    mid_cycle = 0  # kills that left the cycle part-done (some jobs recorded, not all)
    for trial in range(trials):
        work = tmp_path / f"trial{trial}"
        with fresh_db(kind, tmp_path) as url:
            run_to_end(url, work, "--setup")
            # One or two kills at random points of the cycle, then a run to the end.
            for _ in range(rng.choice((1, 1, 2))):
                proc = driver(url, work)
                time.sleep(rng.uniform(0.3, 1.0) * duration)
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=60)
                runs = dump(url)["runs"]
                if runs and runs != reference["runs"]:
                    mid_cycle += 1
            run_to_end(url, work)
            got = dump(url)
        for table, rows in reference.items():
            assert got[table] == rows, f"trial {trial}: table {table} differs after kill -9"
    assert mid_cycle >= 1, f"no kill landed inside the cycle in {trials} trials"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kill_9_mid_cycle_then_restart_equals_an_uninterrupted_run(
    kind: str, tmp_path: Path
) -> None:
    crash_trials(kind, tmp_path, trials=3, seed=1)


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_kill_9_twenty_times(kind: str, tmp_path: Path) -> None:
    crash_trials(kind, tmp_path, trials=20, seed=2)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_daemons_on_one_database_run_each_job_once(kind: str, tmp_path: Path) -> None:
    """A second `factory run` started by mistake: the job leases let exactly one of them
    do each (job, time key); the other skips it."""
    if kind == "postgresql" and PG_URL is None:
        pytest.skip("no PostgreSQL server reachable")
    with fresh_db(kind, tmp_path) as url:
        run_to_end(url, tmp_path / "a", "--setup")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
        env["PYTHONPATH"] = str(ROOT)
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.scheduler.crash_driver",
                    url,
                    str(tmp_path / d),
                    "--report",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for d in ("a", "b")
        ]
        outs = [p.communicate(timeout=600) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        done = [
            (r["job"], r["key"])
            for out, _ in outs
            for r in map(json.loads, out.splitlines())
            if r["status"] == "done"
        ]
        assert len(done) == len(set(done)), f"a job ran twice: {sorted(done)}"
        assert {j for j, _ in done} >= {"evaluate", "rate", "promote", "rebalance", "prune"}
        # Both processes really competed: at least one job was skipped for the lease or
        # because the other had done it meanwhile.
        skipped = [
            r
            for out, _ in outs
            for r in map(json.loads, out.splitlines())
            if r["status"] == "skipped" and "daemon" in r.get("detail", "daemon")
        ]
        assert skipped, "the two daemons never met"
