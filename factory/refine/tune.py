"""`factory tune`: prepare a study from settings and data, run it, record it, breed.

Execution is injected (``runner``): serial in this process by default, or spread over Ray
workers by `scheduler.tune` — each worker runs trials of the same study against the
shared Optuna storage, so a trial told by one worker informs the others' samplers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from architectures import registry
from factory import catalog
from factory.app import App
from factory.evaluation.engine import EvalInputs, first_prediction_index
from factory.evaluation.inputs import build_inputs
from factory.refine.breed import best_offspring, parent_of, store_offspring
from factory.refine.objective import StudyTarget, before, segment_ends, tuning_boundary
from factory.refine.space import grid_values, study_space
from factory.refine.storage import absolute_url
from factory.refine.study import (
    StudySummary,
    StudyTask,
    fail_stale_trials,
    finished_trials,
    open_study,
    record_study,
    run_trials,
    study_name,
    summarize,
)
from factory.settings import SettingsError
from factory.storage.bars import load_market_data
from factory.storage.lease import job_lease
from features.registry import get_feature_set

Runner = Callable[[StudyTask, EvalInputs, int], None]


def serial_runner(task: StudyTask, inputs: EvalInputs, n_trials: int) -> None:
    run_trials(task, inputs, n_trials)


@dataclass(frozen=True)
class TuneOutcome:
    summary: StudySummary
    boundary: datetime
    ran: int  # trials finished by this run
    stale: int  # trials a killed run left running, failed now
    born: tuple[str, ...]  # config ids bred into the pool
    parent: str | None


class StudyBusy(RuntimeError):
    """Another process is running this study."""


def default_target(
    app: App, architecture: str, feature_set: str | None, lookback: int | None
) -> StudyTarget:
    """The study target; the feature set defaults to the plan's first one the architecture
    reads, the lookback to the plan's middle one it is expanded with."""
    spec = registry.get(architecture)
    plan = app.settings.plan
    if feature_set is None:
        names = plan.feature_sets or [fs.name for fs in catalog.pipelines()]
        allowed = spec.tags.feature_sets
        usable = [n for n in names if allowed is None or n in allowed]
        if not usable:
            raise ValueError(f"{spec.name} reads none of the plan's feature sets")
        feature_set = usable[0]
    if lookback is None:
        lookbacks = sorted(plan.lookbacks)
        if spec.tags.lookbacks is not None:
            lookbacks = [lb for lb in lookbacks if lb in spec.tags.lookbacks] or sorted(
                spec.tags.lookbacks
            )
        lookback = lookbacks[(len(lookbacks) - 1) // 2]
    fs = get_feature_set(feature_set)
    return StudyTarget(spec, fs.name, fs.version, int(lookback))


def tune(
    app: App,
    architecture: str,
    *,
    feature_set: str | None = None,
    lookback: int | None = None,
    trials: int | None = None,
    sampler: str | None = None,
    runner: Runner = serial_runner,
    breed: bool = True,
) -> TuneOutcome:
    s = app.settings
    r = s.refine
    sampler = sampler or r.sampler
    total = trials or r.trials
    target = default_target(app, architecture, feature_set, lookback)
    space = study_space(target.spec, sampler)
    if sampler == "grid":  # a grid has only so many points; a re-run would repeat them
        total = min(total, math.prod(len(grid_values(space)[k]) for k in space))
    data = load_market_data(app.db, assets=s.data.assets or None)
    boundary = tuning_boundary(data.timestamps, tune_end=r.tune_end, fraction=r.tune_fraction)
    # Cut BEFORE features are computed: nothing at or after the boundary can leak in.
    inputs = build_inputs(before(data, boundary), get_feature_set(target.feature_set))
    params = catalog.eval_params(s)
    try:  # a tuning period too short for one prediction is a settings problem: say so now
        segment_ends(
            len(inputs.features.timestamps),
            first_prediction_index(inputs.features.timestamps, params),
            r.prune_blocks,
        )
    except ValueError as exc:
        raise SettingsError(f"[refine] {exc}") from None
    name = study_name(target, sampler, boundary, params.key, space)
    task = StudyTask(
        db_url=absolute_url(s.db_url),
        name=name,
        sampler=sampler,
        target=target,
        space=space,
        params=params,
        segments=r.prune_blocks,
        seed=r.seed,
        total=total,
    )
    with job_lease(app.db, f"tune:{name}", ttl_s=s.scheduler.lease_ttl_seconds) as lease:
        if not lease:
            raise StudyBusy(f"study {name} is being run by another process")
        study = open_study(s.db_url, name, sampler, space, r.seed, r.prune_blocks)
        stale = fail_stale_trials(study)
        before_count = finished_trials(study)
        remaining = max(total - before_count, 0)
        if remaining:
            runner(task, inputs, remaining)
        summary = summarize(study)
        record_study(app.db, summary, target, sampler=sampler, boundary=boundary, at=app.now())
    planned = catalog.plan(s, catalog.profile(data)).configs
    parent = parent_of(target, planned)
    born: list[str] = []
    if breed and r.breed_top > 0:
        offspring = best_offspring(study, target, parent, r.breed_top)
        planned_ids = {c.config_id for c in planned}
        offspring = [o for o in offspring if o.config.config_id not in planned_ids]
        born = store_offspring(app.db, offspring, at=app.now())
    return TuneOutcome(
        summary,
        boundary,
        ran=finished_trials(study) - before_count,
        stale=stale,
        born=tuple(born),
        parent=parent,
    )
