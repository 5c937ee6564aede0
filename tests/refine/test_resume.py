"""A study killed mid-run (``kill -9`` of `factory tune`) resumes: the trials it finished
stay, the one it left running is failed, and a re-run completes the remaining ones — on the
journal file (SQLite) and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from factory.app import App
from factory.refine.storage import optuna_storage
from factory.refine.study import FINISHED
from factory.refine.tune import tune

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 12
LEASE_TTL_S = 2


def _env(app: App) -> dict[str, str]:
    s = app.settings
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FACTORY_DB_URL": s.db_url,
        "FACTORY_ARTIFACTS": s.artifacts,
        "FACTORY_OUTPUT_DIR": s.output_dir,
        "FACTORY_CACHE_DIR": s.cache_dir,
        "FACTORY_EVALUATION__MIN_TRAIN": str(s.evaluation.min_train),
        "FACTORY_EVALUATION__RETRAIN_EVERY": str(s.evaluation.retrain_every),
        "FACTORY_REFINE__TUNE_END": str(s.refine.tune_end),
        "FACTORY_REFINE__PRUNE_BLOCKS": str(s.refine.prune_blocks),
        # The killed run's lease on the study (SQLite) must expire before the re-run.
        "FACTORY_SCHEDULER__LEASE_TTL_SECONDS": str(LEASE_TTL_S),
    }


def _finished(db_url: str) -> list[optuna.trial.FrozenTrial]:
    storage = optuna_storage(db_url)
    names = optuna.get_all_study_names(storage)
    if not names:
        return []
    study = optuna.load_study(study_name=names[0], storage=storage)
    return [t for t in study.get_trials() if t.state in FINISHED]


def test_a_killed_study_resumes_where_it_stopped(app: App) -> None:
    cmd = [sys.executable, "-c", "from factory.cli import main; main()", "tune", "ridge",
           "--feature-set", "ohlcv", "--lookback", "8", "--trials", str(TOTAL), "--no-breed"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=_env(app), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    deadline = time.monotonic() + 120
    try:
        while len(_finished(app.settings.db_url)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the study never got going"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    before = {t.number: (t.state, t.value, t.params) for t in _finished(app.settings.db_url)}
    assert 3 <= len(before) < TOTAL
    time.sleep(LEASE_TTL_S + 0.5)

    out = tune(app, "ridge", feature_set="ohlcv", lookback=8, trials=TOTAL, breed=False)

    after = _finished(app.settings.db_url)
    assert len(after) == TOTAL  # exactly the remaining trials were run
    assert out.stale <= 1  # the trial the kill interrupted, now FAIL (and finished)
    assert out.ran == TOTAL - len(before) - out.stale
    kept = {t.number: (t.state, t.value, t.params) for t in after if t.number in before}
    assert kept == before  # nothing finished before the kill was redone or lost
    storage = optuna_storage(app.settings.db_url)
    study = optuna.load_study(study_name=out.summary.name, storage=storage)
    assert not [t for t in study.get_trials() if t.state == TrialState.RUNNING]
    assert out.summary.n_trials == TOTAL  # the killed trial counts too, as failed
    assert out.summary.n_failed == out.stale
