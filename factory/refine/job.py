"""The daemon's refine job (once per UTC day, after promotion): retire, then breed up to
the pool budget (policy in `factory.refine.pool`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from factory.app import App
from factory.jobs import NothingToDo, RatingInputs, compute_ratings
from factory.plan import ModelConfig
from factory.refine.breed import store_offspring
from factory.refine.pool import (
    RefineOutcome,
    candidates,
    choose_retirements,
    pool_configs,
    retire,
    stored_pool,
)
from factory.refine.storage import absolute_url
from factory.storage import decisions


def refine_job(
    app: App, *, planned: Sequence[ModelConfig], inputs: RatingInputs | None = None
) -> RefineOutcome:
    r = app.settings.refine
    db = app.db
    now = app.now()
    cycle = decisions.latest_cycle(db)
    active = set(cycle.active) if cycle else set()
    try:
        ranking = compute_ratings(app, inputs).table[["rank", "score", "n_obs"]]
    except NothingToDo:
        ranking = pd.DataFrame(columns=["rank", "score", "n_obs"])
    retirements = choose_retirements(
        stored=stored_pool(db),
        planned={c.config_id for c in planned},
        ranking=ranking,
        active=active,
        min_track_bars=r.min_track_bars,
        quantile=r.retire_quantile,
        max_retire=r.max_retire,
    )
    retire(db, retirements, at=now)
    size = len(pool_configs(db, planned))
    offspring = candidates(
        db, absolute_url(app.settings.db_url), min(r.pool_budget - size, r.max_breed)
    )
    born = store_offspring(
        db,
        offspring,
        at=now,
        reason=f"to refill the pool to its budget of {r.pool_budget}",
    )
    return RefineOutcome(
        tuple(retirements), tuple(born), len(pool_configs(db, planned)), r.pool_budget
    )
