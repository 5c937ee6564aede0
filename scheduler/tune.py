"""Parallel trials of one study on a backend (Ray or serial).

Each of ``workers`` tasks opens the study from the shared Optuna storage
(`factory.refine.storage`) and runs its share of the trials with
`factory.refine.study.run_trials`; the samplers read every trial told so far, whichever
worker told it, and the trial cap (`MaxTrialsCallback`) stops all of them at the study's
total. The evaluation inputs (cut at the tuning boundary) go to the object store once.
Chosen over ask/tell from the driver: the storage is the only shared state, so a worker
that dies loses only its running trial (failed at the next run), and nothing has to be
shipped back to the driver.
"""

from __future__ import annotations

from factory.evaluation.engine import EvalInputs
from factory.refine.study import StudyTask, run_trials
from factory.refine.tune import Runner
from scheduler.backends import Backend


def shares(n_trials: int, workers: int) -> list[int]:
    """``n_trials`` split over at most ``workers`` tasks (no empty task)."""
    workers = max(1, min(workers, n_trials))
    base, extra = divmod(n_trials, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def backend_runner(backend: Backend, workers: int) -> Runner:
    def run(task: StudyTask, inputs: EvalInputs, n_trials: int) -> None:
        handle = backend.put(inputs)
        for worker, share in enumerate(shares(n_trials, workers)):
            backend.submit(worker, run_trials, task, handle, share, worker)
        errors = [o.error for o in backend.results() if o.error is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} tuning worker(s) failed: {errors[0]}")

    return run
