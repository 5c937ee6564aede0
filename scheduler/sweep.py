"""The evaluation sweep: evaluate every pending config on a backend, store each result.

Policy lives in small pure functions (`needs_evaluation`, `order_by_cost`); the sweep only
executes: it builds the shared inputs once per feature set, hands them to the backend's
object store, submits the longest tasks first, and writes every result as it arrives (the
driver is the only writer; workers return results). A config that raises, crashes its
worker or exceeds its time budget is recorded as failed with its error and the sweep goes
on. Re-running resumes: configs already evaluated up to the last bar with the same
settings are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from architectures import registry
from architectures.registry import ArchitectureSpec
from factory.artifacts import ArtifactStore
from factory.catalog import eval_params
from factory.clock import Clock
from factory.data.market import MarketData
from factory.evaluation.engine import EvalInputs, EvalParams, EvaluationResult, evaluate_config
from factory.evaluation.inputs import build_inputs
from factory.plan import ModelConfig
from factory.settings import Settings
from factory.storage.database import Database
from factory.storage.results import EvaluationState, evaluation_states, store_result, upsert_configs
from features.registry import get_feature_set
from scheduler.backends import Backend


@dataclass(frozen=True)
class SweepReport:
    evaluated: int
    failed: int
    skipped: int  # up to date, or failed before and not retried (see skipped_failed)
    seconds: float
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (config id, error)
    skipped_failed: int = 0  # of ``skipped``: failed earlier with these settings


def needs_evaluation(
    state: EvaluationState | None, eval_key: str, last_ts: datetime, *, retry_failed: bool
) -> bool:
    """A config is pending unless its stored evaluation used the same settings and
    already reaches the last bar (failed ones are retried only when asked)."""
    if state is None or state.eval_key != eval_key:
        return True
    if state.status == "failed":
        return retry_failed
    return state.last_ts is None or state.last_ts < last_ts


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


def _task(
    config: ModelConfig,
    spec: ArchitectureSpec,
    inputs: EvalInputs,
    params: EvalParams,
    artifact_root: str,
) -> EvaluationResult:
    """What a worker runs. The spec travels with the task and the worker rebuilds the
    class from its entry-point string: nothing relies on the driver's registry."""
    return evaluate_config(config, spec, inputs, params, store=ArtifactStore(artifact_root))


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
    params = eval_params(settings.evaluation)
    upsert_configs(db, configs, at=_naive(started))
    states = evaluation_states(db)
    last_ts = data.timestamps[-1].to_pydatetime()
    pending = [
        c
        for c in configs
        if force
        or needs_evaluation(states.get(c.config_id), params.key, last_ts, retry_failed=retry_failed)
    ]
    skipped = len(configs) - len(pending)
    pending_ids = {c.config_id for c in pending}
    skipped_failed = sum(
        1
        for c in configs
        if c.config_id not in pending_ids
        and (st := states.get(c.config_id)) is not None
        and st.status == "failed"
    )
    by_fs: dict[str, list[ModelConfig]] = defaultdict(list)
    for c in pending:
        by_fs[c.feature_set].append(c)
    handles = {}
    for name in sorted(by_fs):
        inputs = build_inputs(data, get_feature_set(name), settings.cache_dir)
        handles[name] = backend.put(inputs)
    by_id = {c.config_id: c for c in pending}
    # Workers run in other directories (and on other hosts): send an absolute root.
    artifact_root = str(ArtifactStore(settings.artifacts).root)
    for c in order_by_cost(pending, states):
        spec = registry.get(c.architecture, c.arch_version)
        backend.submit(c.config_id, _task, c, spec, handles[c.feature_set], params, artifact_root)

    evaluated = failed = 0
    failures: list[tuple[str, str]] = []
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
            cid = outcome.tag
            if outcome.error is not None:
                result = EvaluationResult(cid, "failed", error=outcome.error)
            else:
                result = outcome.value
            store_result(db, result, eval_key=params.key, at=_naive(clock.now()))
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
    seconds = (clock.now() - started).total_seconds()
    return SweepReport(evaluated, failed, skipped, seconds, tuple(failures), skipped_failed)


def _naive(ts: datetime) -> datetime:
    return ts.replace(tzinfo=None)
