"""Breeding: a finished study's best trials become configs, with their lineage.

A bred config is a plain `ModelConfig` (content-hash id, evaluated like any other); its
``configs.lineage`` column holds JSON ``{"study": name, "trial": number, "parent":
config id | null, "value": tuning score}``. The parent is the plan's config the study
refines: the plan's first config of the same architecture, feature set, lookback and
selection (its first grid point), when the plan has one. A trial whose config already
exists (a grid point the plan holds, or bred before) breeds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import select

from factory.plan import ModelConfig
from factory.refine.objective import StudyTarget
from factory.storage.database import Database, table, upsert
from factory.storage.events import EventRecord, record_events


@dataclass(frozen=True)
class Offspring:
    config: ModelConfig
    lineage: dict[str, Any]


def parent_of(target: StudyTarget, planned: Sequence[ModelConfig]) -> str | None:
    for c in planned:
        if (
            c.architecture == target.spec.name
            and c.feature_set == target.feature_set
            and c.lookback == target.lookback
            and c.feature_selection == target.feature_selection
        ):
            return c.config_id
    return None


def best_offspring(
    study: optuna.Study, target: StudyTarget, parent: str | None, top: int
) -> list[Offspring]:
    """The ``top`` best complete trials as configs (distinct configs, best first)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    complete.sort(key=lambda t: (-(t.value if t.value is not None else float("-inf")), t.number))
    out: list[Offspring] = []
    seen: set[str] = set()
    for t in complete:
        if len(out) >= top:
            break
        config = target.config(dict(t.params))
        if config.config_id in seen:
            continue
        seen.add(config.config_id)
        lineage = {
            "study": study.study_name,
            "trial": t.number,
            "parent": parent,
            "value": t.value,
        }
        out.append(Offspring(config, lineage))
    return out


def store_offspring(
    db: Database, offspring: Sequence[Offspring], *, at: datetime, reason: str = ""
) -> list[str]:
    """Insert the configs that do not exist yet, with their lineage, and a
    ``config_born`` event each. Returns the ids born."""
    t = table("configs")
    with db.begin() as conn:
        existing = set(
            conn.execute(
                select(t.c.config_id).where(
                    t.c.config_id.in_([o.config.config_id for o in offspring])
                )
            ).scalars()
        )
    new = [o for o in offspring if o.config.config_id not in existing]
    rows = [
        {
            "config_id": o.config.config_id,
            "architecture": o.config.architecture,
            "arch_version": o.config.arch_version,
            "family": o.config.family,
            "lookback": o.config.lookback,
            "feature_set": o.config.feature_set,
            "feature_selection": o.config.feature_selection,
            "params": o.config.params_json(),
            "created_at": at,
            "lineage": json.dumps(o.lineage, sort_keys=True),
        }
        for o in new
    ]
    with db.begin() as conn:
        upsert(conn, t, rows, keys=["config_id"])
    record_events(
        db,
        [
            EventRecord(
                kind="config_born",
                subject=o.config.config_id,
                message=(
                    f"bred from trial {o.lineage['trial']} of {o.lineage['study']} "
                    f"(tuning score {o.lineage['value']:.3f}; parent "
                    f"{o.lineage['parent'] or 'none'})"
                    + (f" {reason}" if reason else "")
                    + f": {o.config.label}"
                ),
                detail=o.lineage,
            )
            for o in new
        ],
        at=at,
    )
    return [o.config.config_id for o in new]


def bred_configs(db: Database, *, include_retired: bool = False) -> list[ModelConfig]:
    """Configs with a lineage (bred by studies), rebuilt as `ModelConfig`s (skipping those
    whose architecture or feature set is no longer available, or whose feature set's
    version changed)."""
    from features.registry import get_feature_set

    t = table("configs")
    stmt = select(t).where(t.c.lineage.is_not(None))
    if not include_retired:
        stmt = stmt.where(t.c.retired_at.is_(None))
    with db.begin() as conn:
        rows = conn.execute(stmt.order_by(t.c.config_id)).mappings().all()
    from architectures import registry

    known = {s.name for s in registry.available()}
    out = []
    for r in rows:
        if r["architecture"] not in known:
            continue  # its plugin is gone: nothing can evaluate it
        try:
            fs_version = get_feature_set(r["feature_set"]).version
        except KeyError:
            continue  # its feature set is gone
        config = ModelConfig(
            architecture=r["architecture"],
            arch_version=r["arch_version"],
            family=r["family"],
            lookback=r["lookback"],
            feature_set=r["feature_set"],
            feature_set_version=fs_version,
            params=tuple(sorted(json.loads(r["params"]).items())),
            feature_selection=r["feature_selection"],
        )
        if config.config_id == r["config_id"]:  # a feature-set version bump orphans it
            out.append(config)
    return out
