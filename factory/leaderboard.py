"""The leaderboard: the latest rating snapshot joined with what each config is and whether
it is live. Shared by the CLI (and, later, the HTTP API and reports)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from factory.storage import decisions
from factory.storage.database import Database
from factory.storage.results import evaluation_states, load_configs

COLUMNS = (
    "rank",
    "config_id",
    "family",
    "architecture",
    "feature_set",
    "lookback",
    "params",
    "status",
    "sharpe_all",
    "sharpe_raw",
    "beta",
    "sharpe_90",
    "max_drawdown",
    "win_rate",
    "dsr",
    "dsr_trials",
    "score",
    "eligible",
    "gate",
    "n_obs",
    "origin",
    "lineage",
)


def population_caption(snapshot: decisions.SnapshotInfo) -> str:
    """What the DSR is deflated by and what the metrics are measured against, in words."""
    summary = snapshot.summary
    parts = []
    if summary.get("population"):
        parts.append(f"DSR deflated by {summary['population']}")
    if summary.get("benchmark") == "universe":
        parts.append("metrics net of the beta-matched equal-weight universe")
    pbo = snapshot.pbo
    if pbo is not None:
        warn = summary.get("pbo_warning")
        parts.append(
            f"pool PBO {pbo:.2f}"
            + (" (WARNING: the best in-sample config is likely to underperform)" if warn else "")
        )
    if summary.get("notes"):
        parts.append(str(summary["notes"]))
    return "; ".join(parts)


@dataclass(frozen=True)
class Leaderboard:
    snapshot: decisions.SnapshotInfo
    table: pd.DataFrame  # indexed by config_id, ordered by rank
    active: tuple[str, ...]


def leaderboard(db: Database) -> Leaderboard | None:
    snap = decisions.latest_snapshot(db)
    if snap is None:
        return None
    ratings = decisions.snapshot_table(db, snap.id)
    configs = load_configs(db, list(ratings.index))
    states = evaluation_states(db)
    cycle = decisions.latest_cycle(db)
    active = cycle.active if cycle else ()
    table = ratings.join(
        configs[
            ["family", "architecture", "feature_set", "lookback", "params", "feature_selection"]
        ]
    )
    table["status"] = [
        "active"
        if cid in active
        else ("failed" if states.get(cid) and states[cid].status == "failed" else "")
        for cid in table.index
    ]
    table["params"] = [json.loads(p) if p else {} for p in table["params"]]
    # The population N behind every row's DSR (the same for the whole snapshot) and where
    # each config came from: the plan, or a tuning study's trial (its lineage).
    table["dsr_trials"] = snap.summary.get("n_trials")
    lineage = configs["lineage"].reindex(table.index) if "lineage" in configs else None
    table["lineage"] = [
        json.loads(raw) if isinstance(raw, str) else None
        for raw in (lineage if lineage is not None else [None] * len(table))
    ]
    table["origin"] = [origin(item) for item in table["lineage"]]
    return Leaderboard(snap, table.sort_values("rank"), tuple(active))


def origin(lineage: dict[str, object] | None) -> str:
    """``plan``, or ``tune/ridge/ohlcv/L30/tpe/3f9c0a1b#12 < 4629195a7039`` (study, trial,
    parent config) for a bred config."""
    if not lineage:
        return "plan"
    parent = lineage.get("parent")
    return f"{lineage.get('study')}#{lineage.get('trial')}" + (f" < {parent}" if parent else "")


def short_params(params: dict[str, object]) -> str:
    """``{"num_leaves": 7}`` -> ``num_leaves=7`` (for tables)."""
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))
