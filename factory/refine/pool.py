"""The pool and its policy: what the factory evaluates, and the daemon's refine job.

The pool is the plan's configs plus the configs bred by studies, minus the retired ones.
Retiring keeps a config's history (its row, returns, signals and trial stay; it is only
no longer evaluated or rated, and it still counts in the deflated Sharpe's population as
``retired``). The refine job (daily, with the daemon's idle capacity):

1. retires, with a reason each (`choose_retirements`, a pure function):
   * configs that left the plan — stored, not bred, not retired, and not planned any more
     (a plan edit, a budget cut), never the live set's;
   * configs at the bottom of the ranking — among the worst ``retire_quantile`` of the
     rated pool, with at least ``min_track_bars`` bars of record, not live; at most
     ``max_retire`` per run;
2. breeds replacements up to ``pool_budget`` (at most ``max_breed`` per run) from the
   best complete trials of the recorded studies not yet in the pool, best tuning score
   first (`factory.refine.breed`).

Every retirement is a ``config_retired`` event and every birth a ``config_born`` event,
each with its reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import optuna
import pandas as pd
from sqlalchemy import select

from architectures import registry
from factory.plan import ModelConfig
from factory.refine.breed import Offspring, best_offspring, bred_configs
from factory.refine.objective import StudyTarget
from factory.refine.storage import optuna_storage, quiet
from factory.storage.database import Database, table
from factory.storage.events import EventRecord, record_events
from factory.storage.results import retired_ids
from features.registry import get_feature_set


@dataclass(frozen=True)
class Retirement:
    config_id: str
    rule: str  # left the plan | bottom of the ranking
    reason: str


def pool_configs(db: Database, planned: Sequence[ModelConfig]) -> list[ModelConfig]:
    """The configs the factory evaluates: the plan's and the bred ones, none retired."""
    retired = retired_ids(db)
    out = [c for c in planned if c.config_id not in retired]
    seen = {c.config_id for c in out}
    out.extend(c for c in bred_configs(db) if c.config_id not in seen)
    return out


def choose_retirements(
    *,
    stored: Mapping[str, bool],
    planned: Collection[str],
    ranking: pd.DataFrame,
    active: Collection[str],
    min_track_bars: int,
    quantile: float,
    max_retire: int,
) -> list[Retirement]:
    """Who leaves the pool and why (see the module docstring). ``stored``: every
    non-retired stored config id -> whether it was bred; ``ranking``: the latest ratings
    (index config id; columns ``rank``, ``score``, ``n_obs``)."""
    out: list[Retirement] = []
    for cid, bred in sorted(stored.items()):
        if not bred and cid not in planned and cid not in active:
            out.append(
                Retirement(
                    cid,
                    "left the plan",
                    "no longer in the plan (plan settings or budget changed); history kept",
                )
            )
    gone = {r.config_id for r in out}
    rated = ranking[ranking.index.isin(list(stored)) & ~ranking.index.isin(list(gone))]
    rated = rated[rated["rank"].notna()]
    n = len(rated)
    bottom = math.floor(quantile * n)
    if bottom <= 0 or max_retire <= 0:
        return out
    worst = rated.sort_values("rank", ascending=False).head(bottom)
    taken = 0
    for key, row in worst.iterrows():
        if taken >= max_retire:
            break
        cid = str(key)
        n_obs = int(row["n_obs"]) if pd.notna(row["n_obs"]) else 0
        if cid in active or n_obs < min_track_bars:
            continue
        score = row["score"]
        out.append(
            Retirement(
                cid,
                "bottom of the ranking",
                f"rank {int(row['rank'])} of {n} (bottom {quantile:.0%}) after {n_obs} bars "
                f"(minimum {min_track_bars}); score "
                + ("n/a" if pd.isna(score) else f"{float(score):.3f}"),
            )
        )
        taken += 1
    return out


def retire(db: Database, retirements: Sequence[Retirement], *, at: datetime) -> int:
    """Mark the configs retired (history kept) and record a ``config_retired`` event each."""
    t = table("configs")
    with db.begin() as conn:
        for r in retirements:
            conn.execute(
                t.update()
                .where(t.c.config_id == r.config_id, t.c.retired_at.is_(None))
                .values(retired_at=at, retired_reason=f"{r.rule}: {r.reason}")
            )
    record_events(
        db,
        [
            EventRecord(
                kind="config_retired",
                subject=r.config_id,
                message=f"retired ({r.rule}): {r.reason}",
                detail={"rule": r.rule, "reason": r.reason},
            )
            for r in retirements
        ],
        at=at,
    )
    return len(retirements)


def stored_pool(db: Database) -> dict[str, bool]:
    """Every non-retired stored config id -> whether it was bred."""
    t = table("configs")
    with db.begin() as conn:
        rows = conn.execute(select(t.c.config_id, t.c.lineage).where(t.c.retired_at.is_(None)))
        return {cid: lineage is not None for cid, lineage in rows}


def candidates(db: Database, db_url: str, limit: int) -> list[Offspring]:
    """The best complete trials of the recorded studies whose configs are not stored yet,
    best tuning score first (at most ``limit``)."""
    if limit <= 0:
        return []
    quiet()
    t = table("tuning_studies")
    with db.begin() as conn:
        rows = conn.execute(select(t).order_by(t.c.study_name)).mappings().all()
    if not rows:
        return []
    c = table("configs")
    with db.begin() as conn:
        existing = set(conn.execute(select(c.c.config_id)).scalars())
    storage = optuna_storage(db_url)
    pool: list[Offspring] = []
    for row in rows:
        try:
            spec = registry.get(row["architecture"])
            fs = get_feature_set(row["feature_set"])
            study = optuna.load_study(study_name=row["study_name"], storage=storage)
        except KeyError:
            continue  # an architecture or study no longer available
        target = StudyTarget(spec, fs.name, fs.version, int(row["lookback"]))
        parent = _parent(db, target)
        for o in best_offspring(study, target, parent, limit + len(existing)):
            if o.config.config_id not in existing:
                pool.append(o)
    pool.sort(key=lambda o: (-(o.lineage["value"] or float("-inf")), o.config.config_id))
    out: list[Offspring] = []
    seen: set[str] = set()
    for o in pool:
        if o.config.config_id not in seen and len(out) < limit:
            seen.add(o.config.config_id)
            out.append(o)
    return out


def _parent(db: Database, target: StudyTarget) -> str | None:
    """The first stored plan config (not bred) of the target's architecture, feature set
    and lookback, by id."""
    t = table("configs")
    with db.begin() as conn:
        return conn.execute(
            select(t.c.config_id)
            .where(
                t.c.architecture == target.spec.name,
                t.c.feature_set == target.feature_set,
                t.c.lookback == target.lookback,
                t.c.lineage.is_(None),
            )
            .order_by(t.c.config_id)
            .limit(1)
        ).scalar_one_or_none()


@dataclass(frozen=True)
class RefineOutcome:
    retired: tuple[Retirement, ...]
    born: tuple[str, ...]
    pool_size: int
    budget: int

    def summary(self) -> str:
        return (
            f"retired {len(self.retired)}, bred {len(self.born)}; pool {self.pool_size} of "
            f"budget {self.budget}"
        )


def lineage_of(raw: str | None) -> dict[str, object] | None:
    return None if raw is None else json.loads(raw)
