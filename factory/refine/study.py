"""Studies: one per (architecture, feature set, lookback) and sampler, resumable.

Why per (architecture, feature set, lookback): those three fix what a trial reads (the
feature frame and the window length), so trials of one study differ only in
hyperparameters and their scores compare; the sampler is part of the name so that grid,
random and TPE studies of the same target can be compared side by side. The name also
carries a short hash of the tuning boundary, the evaluation settings and the search space:
change any of them and a new study starts (the old one's trials still count in the
multiple-testing population). Example: ``tune/ridge/ohlcv/L30/tpe/3f9c0a1b``.

Resume: ``--trials N`` is the number of finished trials (complete, pruned or failed) the
study should have. A run first fails the trials a killed run left RUNNING (under the
``tune:<study>`` lease, so no live run holds them), then runs the missing ones. Samplers
are reseeded with the number of trials already finished, so a resumed random study does
not replay its first draws.

After each run the study's counts go to the ``tuning_studies`` ledger (`record_study`);
`factory.storage.results.tuning_trials` sums it for the deflated Sharpe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from architectures.search import Space
from factory.evaluation.engine import EvalInputs, EvalParams
from factory.refine.objective import StudyTarget, TrialFailed, WalkForwardObjective
from factory.refine.space import make_sampler
from factory.refine.storage import optuna_storage, quiet
from factory.storage.database import Database, table, upsert

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def study_name(
    target: StudyTarget, sampler: str, boundary: datetime, eval_key: str, space: dict[str, Space]
) -> str:
    fingerprint = json.dumps(
        {
            "boundary": boundary.isoformat(),
            "eval_key": eval_key,
            "arch_version": target.spec.version,
            "feature_set_version": target.feature_set_version,
            "selection": target.feature_selection,
            "space": {k: repr(v) for k, v in sorted(space.items())},
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:8]
    return f"tune/{target.spec.name}/{target.feature_set}/L{target.lookback}/{sampler}/{digest}"


def pruner(segments: int) -> optuna.pruners.BasePruner:
    """Median pruning on walk-forward segments: after 3 finished trials, a trial below
    the median of earlier trials at the same segment stops (the objective does not ask
    after the last segment)."""
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def open_study(
    db_url: str, name: str, sampler: str, space: dict[str, Space], seed: int, segments: int
) -> optuna.Study:
    quiet()
    storage = optuna_storage(db_url)
    probe = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True
    )
    done = sum(1 for t in probe.get_trials(deepcopy=False) if t.state in FINISHED)
    return optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(sampler, space, seed + done),
        pruner=pruner(segments),
    )


def fail_stale_trials(study: optuna.Study) -> int:
    """Mark RUNNING trials FAIL (call only while holding the study's lease: they belong to
    a killed run). Returns how many."""
    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in stale:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return len(stale)


def finished_trials(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in FINISHED)


@dataclass(frozen=True)
class StudyTask:
    """Everything a worker needs to run trials of one study (inputs travel separately:
    through the object store on Ray)."""

    db_url: str
    name: str
    sampler: str
    target: StudyTarget
    space: dict[str, Space]
    params: EvalParams
    segments: int
    seed: int
    total: int  # finished trials the study should have


def run_trials(task: StudyTask, inputs: EvalInputs, n_trials: int, worker: int = 0) -> int:
    """Run up to ``n_trials`` trials of the study (stopping when it has ``task.total``
    finished trials, whichever process ran them). Returns the finished count after."""
    study = open_study(
        task.db_url, task.name, task.sampler, task.space, task.seed + 7919 * worker, task.segments
    )
    objective = WalkForwardObjective(task.target, task.space, inputs, task.params, task.segments)
    stop = optuna.study.MaxTrialsCallback(task.total, states=FINISHED)
    if n_trials > 0 and finished_trials(study) < task.total:
        study.optimize(objective, n_trials=n_trials, catch=(TrialFailed,), callbacks=[stop])
    return finished_trials(study)


# -- the ledger ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StudySummary:
    name: str
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    best_value: float | None
    best_params: dict[str, Any]
    best_number: int | None


def summarize(study: optuna.Study) -> StudySummary:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best: FrozenTrial | None = max(complete, key=lambda t: t.value or 0.0) if complete else None
    return StudySummary(
        name=study.study_name,
        n_trials=len(trials),
        n_complete=len(complete),
        n_pruned=sum(1 for t in trials if t.state == TrialState.PRUNED),
        n_failed=sum(1 for t in trials if t.state == TrialState.FAIL),
        best_value=None if best is None else best.value,
        best_params={} if best is None else dict(best.params),
        best_number=None if best is None else best.number,
    )


def record_study(
    db: Database,
    summary: StudySummary,
    target: StudyTarget,
    *,
    sampler: str,
    boundary: datetime,
    at: datetime,
) -> None:
    """Upsert the study's row in ``tuning_studies`` (every trial counts, whatever its state)."""
    row = {
        "study_name": summary.name,
        "architecture": target.spec.name,
        "feature_set": target.feature_set,
        "lookback": target.lookback,
        "sampler": sampler,
        "boundary": boundary,
        "n_trials": summary.n_trials,
        "n_complete": summary.n_complete,
        "n_pruned": summary.n_pruned,
        "best_value": summary.best_value,
        "updated_at": at,
    }
    with db.begin() as conn:
        upsert(
            conn,
            table("tuning_studies"),
            [row],
            keys=["study_name"],
            update=[k for k in row if k != "study_name"],
        )
