"""The evaluation sweep: bring every planned config up to the last bar, incrementally.

Policy lives in small pure functions (`plan_work`, `order_by_cost`, `batches`); the sweep
only executes. Per config, `plan_work` decides from its stored record:

* ``cold``    no record under the current settings (new config, new settings, or
              ``force``): evaluate from the first bar;
* ``refit``   a record that a new block will start in (a retrain is due among the new
              bars): continue from the stored state, fitting that block;
* ``predict`` a record with new bars and no retrain due: continue from the stored
              state with the stored pipeline (cheap);
* ``retry``   the last attempt failed and its backoff has passed: as ``cold`` or
              ``refit``/``predict`` depending on whether a record exists;
* nothing     up to date, waiting for a retry, or given up.

Execution: the shared inputs are built once per feature set and put into the object
store; cold and refit configs are one task each, longest first; predict-only configs
travel in batches, about one per worker (`batches`: ``backend.slots`` of them, each with
the same mix of architectures), submitted after the refits so that they fill the workers
the refits leave free. A daily cycle is therefore a handful of tasks whatever the pool's
size, and scheduling overhead does not dominate it. Workers keep loaded pipelines in
memory between tasks (`_cached_loader`). The driver is the only writer and stores
results in batches (one transaction each).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from architectures import registry
from architectures.registry import ArchitectureSpec
from factory.artifacts import ArtifactStore
from factory.catalog import eval_params
from factory.clock import Clock
from factory.data.market import MarketData
from factory.evaluation.engine import (
    EvalInputs,
    EvalParams,
    EvalState,
    EvaluationResult,
    ModelRef,
    ScheduleChange,
    block_length,
    evaluate_config,
    load_pipeline,
)
from factory.evaluation.inputs import build_inputs, check_execution
from factory.evaluation.pipeline import FittedPipeline
from factory.plan import ModelConfig
from factory.settings import Settings
from factory.storage.database import Database
from factory.storage.results import (
    EvaluationState,
    RetryPolicy,
    StoreItem,
    evaluation_states,
    record_settings,
    store_results,
    upsert_configs,
)
from factory.storage.retrains import schedule_changes
from features.registry import get_feature_set
from scheduler.backends import Backend

Work = Literal["cold", "refit", "predict"]
PREDICT_BATCH_MAX = 500  # most predict-only configs in one task (more -> more batches)
WRITE_BATCH = 32  # results per database transaction


@dataclass(frozen=True)
class SweepReport:
    evaluated: int
    failed: int
    skipped: int  # up to date, waiting for a retry, or given up (see skipped_failed)
    seconds: float
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (config id, error)
    skipped_failed: int = 0  # of ``skipped``: failed earlier and not due for a retry
    given_up: tuple[str, ...] = ()  # failed for the last allowed time in this sweep
    task_seconds: float = 0.0  # summed time of the tasks (for parallel efficiency)
    work: dict[str, int] = field(default_factory=dict)  # cold / refit / predict counts


def plan_work(
    state: EvaluationState | None,
    eval_key: str,
    timestamps: Sequence[datetime],
    params: EvalParams,
    now: datetime,
    *,
    retry_failed: bool = False,
    force: bool = False,
    changes: Sequence[ScheduleChange] = (),
) -> Work | None:
    """What a config needs this sweep (see the module docstring); None = nothing. A
    `ScheduleChange` taking effect among the new bars (the monitor's forced refit or a won
    challenger's model) makes it a ``refit``."""
    if force or state is None or state.eval_key != eval_key:
        return "cold"
    if state.next_retry_at is not None or state.error is not None:
        due = retry_failed or (state.next_retry_at is not None and state.next_retry_at <= now)
        if not due:
            return None
    record = state.state
    if record is None or record.last_ts is None:
        return "cold" if state.status == "failed" else None
    new = sum(1 for ts in timestamps if ts > record.last_ts)
    if new == 0:
        return None
    length = block_length(state.config_id, record.block, params)
    due = record.block_bars + new > length
    last = timestamps[-1]
    changed = any(record.last_ts <= c.after < last for c in changes)
    return "refit" if due or changed else "predict"


def estimated_cost(config: ModelConfig, state: EvaluationState | None) -> float:
    """Seconds from the last evaluation if any, else the architecture's cost hint."""
    if state is not None and state.fit_seconds + state.predict_seconds > 0:
        return state.fit_seconds + state.predict_seconds
    hint = registry.get(config.architecture, config.arch_version).tags.cost_hint
    return hint * max(config.lookback, 1) / 30.0


def order_by_cost(
    configs: Sequence[ModelConfig], states: dict[str, EvaluationState]
) -> list[ModelConfig]:
    """Longest first, so that the slowest tasks do not start last."""
    return sorted(configs, key=lambda c: (-estimated_cost(c, states.get(c.config_id)), c.config_id))


def batches(
    items: Sequence[ModelConfig], slots: int, max_size: int = PREDICT_BATCH_MAX
) -> list[list[ModelConfig]]:
    """Predict-only configs split into ``slots`` batches (one per worker; a multiple of
    ``slots`` when a batch would exceed ``max_size``), never more batches than configs.

    Configs are sorted by (architecture, feature set, id) and dealt round robin, so every
    batch gets about the same number of configs of each architecture: loading and
    predicting costs differ by architecture (an RL policy takes longer to load than a
    ridge), and this keeps the batches' durations close without timings. A batch mixes
    feature sets; its task receives the inputs of each one it uses. Deterministic."""
    if not items:
        return []
    slots = max(1, slots)
    k = min(len(items), slots * max(1, math.ceil(len(items) / (slots * max(1, max_size)))))
    ordered = sorted(items, key=lambda c: (c.architecture, c.feature_set, c.config_id))
    return [ordered[i::k] for i in range(k)]


# -- what workers run ------------------------------------------------------------------
_PIPELINES: OrderedDict[str, FittedPipeline] = OrderedDict()
_PIPELINE_CACHE = 512


def _cached_loader(store: ArtifactStore) -> Callable[[ModelRef, ArchitectureSpec], FittedPipeline]:
    """Load pipelines through a per-process LRU keyed by the artifact's sha256, so a
    long-lived worker loads each model once across daily cycles."""

    def load(ref: ModelRef, spec: ArchitectureSpec) -> FittedPipeline:
        key = f"{spec.key}:{ref.sha256}"
        hit = _PIPELINES.get(key)
        if hit is not None:
            _PIPELINES.move_to_end(key)
            return hit
        pipeline = load_pipeline(store, ref, spec)
        _PIPELINES[key] = pipeline
        while len(_PIPELINES) > _PIPELINE_CACHE:
            _PIPELINES.popitem(last=False)
        return pipeline

    return load


@dataclass(frozen=True)
class _Job:
    config: ModelConfig
    spec: ArchitectureSpec
    state: EvalState | None
    changes: tuple[ScheduleChange, ...] = ()


def _task(
    jobs: list[_Job], inputs: EvalInputs, params: EvalParams, artifact_root: str
) -> list[tuple[EvaluationResult, float]]:
    """What a worker runs: one or more configs on the same inputs. The spec travels with
    the job and the worker rebuilds the class from its entry-point string: nothing relies
    on the driver's registry. Returns each result with its seconds."""
    return _evaluate_jobs(jobs, lambda _name: inputs, params, artifact_root)


def _batch_task(
    jobs: list[_Job],
    params: EvalParams,
    artifact_root: str,
    feature_sets: tuple[str, ...],
    *inputs: EvalInputs,
) -> list[tuple[EvaluationResult, float]]:
    """A batch of predict-only configs over several feature sets: ``inputs[i]`` are the
    inputs of ``feature_sets[i]`` (top-level arguments, so Ray resolves each from the
    object store)."""
    by_name = dict(zip(feature_sets, inputs, strict=True))
    return _evaluate_jobs(jobs, by_name.__getitem__, params, artifact_root)


def _evaluate_jobs(
    jobs: list[_Job],
    inputs_of: Callable[[str], EvalInputs],
    params: EvalParams,
    artifact_root: str,
) -> list[tuple[EvaluationResult, float]]:
    store = ArtifactStore(artifact_root)
    loader = _cached_loader(store)
    out = []
    for job in jobs:
        t0 = time.perf_counter()
        result = evaluate_config(
            job.config,
            job.spec,
            inputs_of(job.config.feature_set),
            params,
            store=store,
            state=job.state,
            loader=loader,
            changes=job.changes,
        )
        out.append((result, time.perf_counter() - t0))
    return out


def _warm_worker(entry_points: tuple[str, ...], uses_torch: bool) -> None:
    """Import what this sweep's tasks will need: the architectures' modules (cheap: they
    import their libraries lazily) and, when a deep or RL config is pending, torch and
    ``torch._dynamo`` (which torch's optimizers import on first use): 4-5 s in a fresh
    process, measured. Run once per worker by `Backend.warm_up`."""
    from architectures.registry import load_entry_point

    for entry in entry_points:
        with contextlib.suppress(Exception):  # the real task reports it
            load_entry_point(entry)
    if uses_torch:
        import torch._dynamo  # noqa: F401  (binds torch; imported for its side effect)


# -- the sweep -------------------------------------------------------------------------
def run_sweep(
    db: Database,
    settings: Settings,
    data: MarketData,
    configs: Sequence[ModelConfig],
    backend: Backend,
    clock: Clock,
    *,
    retry_failed: bool = False,
    force: bool = False,
    progress: bool = True,
    on_result: Callable[[EvaluationResult], None] | None = None,
) -> SweepReport:
    started = clock.now()
    now = _naive(started)
    params = eval_params(settings)
    check_execution(params.execution, data)
    e = settings.evaluation
    retry = RetryPolicy(e.max_attempts, timedelta(minutes=e.retry_backoff_minutes))
    upsert_configs(db, configs, at=now)
    record_settings(db, params.key, params.describe(), at=now)
    states = evaluation_states(db, [c.config_id for c in configs])
    changes = schedule_changes(db, params.key, [c.config_id for c in configs])
    timestamps = [ts.to_pydatetime() for ts in data.timestamps]
    work: dict[str, Work] = {}
    for c in configs:
        w = plan_work(
            states.get(c.config_id),
            params.key,
            timestamps,
            params,
            now,
            retry_failed=retry_failed,
            force=force,
            changes=changes.get(c.config_id, ()),
        )
        if w is not None:
            work[c.config_id] = w
    pending = [c for c in configs if c.config_id in work]
    if pending:  # warm-up runs once per backend: spend it on a sweep with work
        specs = [registry.get(c.architecture, c.arch_version) for c in pending]
        backend.warm_up(
            _warm_worker,
            tuple(sorted({s.entry_point for s in specs})),
            any(s.family in ("deep", "rl") for s in specs),
        )
    skipped = len(configs) - len(pending)
    skipped_failed = sum(
        1
        for c in configs
        if c.config_id not in work
        and (st := states.get(c.config_id)) is not None
        and (st.status == "failed" or st.error is not None)
    )
    handles = {}
    for name in sorted({c.feature_set for c in pending}):
        handles[name] = backend.put(build_inputs(data, get_feature_set(name), settings.cache_dir))
    # Workers run in other directories (and on other hosts): send an absolute root.
    artifact_root = str(ArtifactStore(settings.artifacts).root)

    def job(c: ModelConfig) -> _Job:
        st = states.get(c.config_id)
        resume = None if work[c.config_id] == "cold" or st is None else st.state
        spec = registry.get(c.architecture, c.arch_version)
        return _Job(c, spec, resume, changes.get(c.config_id, ()))

    heavy = order_by_cost([c for c in pending if work[c.config_id] != "predict"], states)
    light = batches([c for c in pending if work[c.config_id] == "predict"], backend.slots)
    by_id = {c.config_id: c for c in pending}
    for c in heavy:
        backend.submit(
            (c.config_id,), _task, [job(c)], handles[c.feature_set], params, artifact_root
        )
    for group in light:
        names = tuple(sorted({c.feature_set for c in group}))
        backend.submit(
            tuple(c.config_id for c in group),
            _batch_task,
            [job(c) for c in group],
            params,
            artifact_root,
            names,
            *(handles[n] for n in names),
        )

    evaluated = failed = 0
    failures: list[tuple[str, str]] = []
    given_up: list[str] = []
    task_seconds = 0.0
    buffer: list[StoreItem] = []

    def flush() -> None:
        if buffer:
            given_up.extend(
                store_results(db, buffer, eval_key=params.key, at=_naive(clock.now()), retry=retry)
            )
            buffer.clear()

    columns = (
        TextColumn("[bold]evaluate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("evaluate", total=len(pending), status="")
        for outcome in backend.results(timeout_s=params.time_budget_s * 1.5):
            task_seconds += outcome.seconds
            if outcome.error is not None:
                pairs = [
                    (EvaluationResult(cid, "failed", error=outcome.error), 0.0)
                    for cid in outcome.tag
                ]
            else:
                pairs = outcome.value
            for result, _seconds in pairs:
                cid = result.config_id
                buffer.append(StoreItem(result, fresh=work[cid] == "cold"))
                if result.status == "failed":
                    failed += 1
                    failures.append((cid, (result.error or "").splitlines()[0]))
                else:
                    evaluated += 1
                if on_result is not None:
                    on_result(result)
                bar.update(
                    task,
                    advance=1,
                    status=f"{by_id[cid].label} {'FAILED' if result.status == 'failed' else 'ok'}",
                )
            if len(buffer) >= WRITE_BATCH:
                flush()
        flush()
    seconds = (clock.now() - started).total_seconds()
    counts = {w: sum(1 for v in work.values() if v == w) for w in ("cold", "refit", "predict")}
    return SweepReport(
        evaluated,
        failed,
        skipped,
        seconds,
        tuple(failures),
        skipped_failed,
        tuple(given_up),
        task_seconds,
        counts,
    )


def _naive(ts: datetime) -> datetime:
    return ts.replace(tzinfo=None)
