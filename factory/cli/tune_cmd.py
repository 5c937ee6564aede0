"""``factory tune``: thin wiring over ``factory.refine.tune`` and ``scheduler.tune``."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated

import typer

from factory.cli.output import Output, console, fmt, print_json, stdout_kept_for


class SamplerName(StrEnum):
    tpe = "tpe"
    random = "random"
    grid = "grid"


def register(app: typer.Typer) -> None:
    app.command()(tune)


def tune(
    ctx: typer.Context,
    architecture: Annotated[str, typer.Argument(help="architecture to tune (factory arch list)")],
    feature_set: Annotated[
        str | None,
        typer.Option("--feature-set", help="default: the plan's first one it reads"),
    ] = None,
    lookback: Annotated[
        int | None, typer.Option(min=1, help="default: the plan's middle lookback")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            min=1, help="finished trials the study should have (default: [refine] trials)"
        ),
    ] = None,
    sampler: Annotated[
        SamplerName | None, typer.Option(help="default: [refine] sampler (tpe)")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="parallel trials on the backend (default: 1, in-process)"),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="ray or serial (default: in-process, or settings with --workers)"),
    ] = None,
    breed: Annotated[
        bool, typer.Option(help="add the best trial(s) to the pool as configs with lineage")
    ] = True,
    format: Annotated[Output, typer.Option("--format")] = Output.table,
) -> None:
    """Search ARCHITECTURE's hyperparameters with an Optuna study on the tuning period
    (bars before [refine] tune_end), resuming the study if it exists; breed its best
    trial into the pool. Every trial counts in the deflated Sharpe's population."""
    from factory.cli import make_app
    from factory.refine.tune import Runner, serial_runner
    from factory.refine.tune import tune as run_tune
    from scheduler.backends import make_backend
    from scheduler.tune import backend_runner

    a = make_app(ctx, **{"scheduler.backend": backend, "scheduler.workers": workers})
    s = a.settings.scheduler
    with stdout_kept_for(format == "json"), ExitStack() as stack:
        # In-process unless asked for workers or a backend: a study is sequential by nature.
        runner: Runner = serial_runner
        if (workers is not None and workers > 1) or backend is not None:
            be = make_backend(s.backend, workers=s.workers, address=s.address)
            stack.callback(be.shutdown)
            runner = backend_runner(be, s.workers)
        out = run_tune(
            a,
            architecture,
            feature_set=feature_set,
            lookback=lookback,
            trials=trials,
            sampler=None if sampler is None else sampler.value,
            runner=runner,
            breed=breed,
        )
    sm = out.summary
    start = a.settings.evaluation.start
    # Ratings judge a bred config from [evaluation] start: before the boundary, its record
    # there covers bars its hyperparameters were chosen on.
    overlap = start is None or datetime.combine(start, time()) < out.boundary
    payload = {
        "study": sm.name,
        "boundary": out.boundary.isoformat(),
        "trials": sm.n_trials,
        "complete": sm.n_complete,
        "pruned": sm.n_pruned,
        "failed": sm.n_failed,
        "ran": out.ran,
        "stale_failed": out.stale,
        "best_value": sm.best_value,
        "best_trial": sm.best_number,
        "best_params": sm.best_params,
        "parent": out.parent,
        "born": list(out.born),
        "rating_overlaps_tuning": overlap,
    }
    if format == "json":
        print_json(payload)
        return
    console.print(
        f"study {sm.name}: {sm.n_trials} trials ({sm.n_complete} complete, {sm.n_pruned} "
        f"pruned, {sm.n_failed} failed; {out.ran} run now"
        + (f", {out.stale} left running by a killed run failed" if out.stale else "")
        + f") on bars before {out.boundary:%Y-%m-%d}"
    )
    if sm.best_number is not None:
        params = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sm.best_params.items()
        )
        console.print(
            f"best: trial {sm.best_number}, walk-forward Sharpe {fmt(sm.best_value)}: {params}"
        )
    if out.born:
        console.print(
            f"bred into the pool: {', '.join(out.born)} (parent {out.parent or 'none'}); "
            "evaluated at the next `factory evaluate` / daemon cycle"
        )
    console.print("every trial counts in the deflated Sharpe's population (factory leaderboard)")
    if overlap and out.born:
        console.print(
            f"note: ratings judge configs from [evaluation] start ({start or 'the first bar'}), "
            f"before the tuning boundary {out.boundary:%Y-%m-%d}: a bred config's record there "
            "covers bars it was tuned on; set [evaluation] start to the boundary to rate "
            "only unseen bars"
        )
