"""decide_promotions(): the next live set, with hysteresis and diversification (pure).

Rules, in order (docs/metrics.md, "Selection and promotion"):

1. **Incumbent gates.** An incumbent that fails a gate is demoted — even inside its
   minimum holding period (failed, health red, drawdown beyond the limit, track record,
   or DSR below ``dsr_exit_threshold``, a band below the entry threshold).
2. **Incumbent rank.** The *standing* of a config is its rank by score among the pool of
   configs that may be active: those passing the entry gates plus incumbents passing the
   exit gates. An incumbent is kept while its standing is ≤ ``policy.exit_rank``
   (ceil(exit_rank_multiple × target)), or while it is inside ``min_holding`` since its
   promotion; otherwise it is demoted.
3. **Capacity.** If more incumbents are kept than ``max_active``, the worst-standing ones
   outside their holding period are demoted.
4. **Fill.** Remaining slots up to the target (top_k clamped into [min_active,
   max_active]) go to eligible non-incumbents in standing order, greedily: a candidate
   whose correlation with any config already selected exceeds ``correlation_cap`` is
   skipped.
5. **Floor.** If the set is still smaller than ``min_active``, skipped candidates are
   added back in standing order (the cap is relaxed, and the reason says so). The set is
   smaller than ``min_active`` only when fewer configs are eligible, and the note says
   which gates excluded the rest.

**Pool PBO.** The note always states the pool's probability of backtest overfitting
(``Ratings.pbo``) and warns when it exceeds ``policy.pbo_warning``. When
``policy.max_pool_pbo`` is set and the pool PBO exceeds it, steps 4-5 are skipped: no
newcomer is promoted (each eligible candidate is listed as skipped with that reason),
while incumbents are kept or demoted by rules 1-3 as usual. A PBO that could not be
computed (None) never blocks; the note says "n/a".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from rating.engine import Ratings
from rating.policy import RatingPolicy
from rating.scoring import GATE_LABELS, GATE_ORDER, evaluate_gates

__all__ = ["Action", "Decision", "PromotionCycle", "decide_promotions"]

Action = Literal["promoted", "kept", "demoted", "skipped"]


@dataclass(frozen=True)
class Decision:
    """What happened to one config in a cycle.

    ``rank`` is the config's standing among the configs that may be active (eligible
    configs plus incumbents within the exit band), 1 = best; None when it has none
    (demoted for a gate, or no longer rated). ``score`` is its composite score (None when
    not rated).
    """

    config_id: str
    action: Action
    rank: int | None
    score: float | None
    reason: str


@dataclass(frozen=True)
class PromotionCycle:
    """The outcome of one promotion cycle.

    ``decisions`` holds one promoted / kept / demoted entry per config whose status is
    decided (every incumbent and every newcomer); ``skipped`` lists eligible candidates
    passed over (for correlation, or because the pool PBO gate blocked new promotions);
    ``active`` is the new live set ordered by standing; ``note`` summarises the cycle:
    counts, the trial population behind the DSR, the pool PBO (and its warning or
    gate), the rating's caveats, and why the set is short when it is.
    """

    at: datetime
    decisions: tuple[Decision, ...]
    skipped: tuple[Decision, ...]
    active: tuple[str, ...]
    note: str

    def by_action(self, action: Action) -> tuple[Decision, ...]:
        pool = self.skipped if action == "skipped" else self.decisions
        return tuple(d for d in pool if d.action == action)


def _ago(delta: timedelta) -> str:
    seconds = max(delta.total_seconds(), 0.0)
    if seconds >= 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''} ago"
    hours = int(seconds // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    minutes = int(seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''} ago"


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def decide_promotions(
    ratings: Ratings,
    incumbents: Mapping[str, datetime],
    now: datetime,
    policy: RatingPolicy | None = None,
) -> PromotionCycle:
    """Decide the next live set from a ratings snapshot (pure; see the module docstring).

    ``incumbents`` maps each currently active config id to the time it was promoted;
    ``now`` is the cycle time (injected, never read from a clock).
    """
    policy = policy if policy is not None else RatingPolicy()
    table = ratings.table
    target = policy.target_active
    exit_rank = policy.exit_rank
    ids = [str(c) for c in table.index]
    score = dict(zip(ids, table["score"].to_numpy(dtype=np.float64).tolist(), strict=True))
    dsr = dict(zip(ids, table["dsr"].to_numpy(dtype=np.float64).tolist(), strict=True))

    entry_series, _ = evaluate_gates(table, policy)
    exit_series, exit_reason_series = evaluate_gates(
        table, policy, dsr_threshold=policy.dsr_exit_threshold
    )
    entry_ok = dict(zip(ids, (entry_series == "").tolist(), strict=True))
    exit_ok = dict(zip(ids, (exit_series == "").tolist(), strict=True))
    exit_reasons = dict(zip(ids, exit_reason_series.tolist(), strict=True))
    incumbent_ids = set(incumbents)
    pool = [c for c in ids if entry_ok[c] or (c in incumbent_ids and exit_ok[c])]
    pool.sort(key=lambda c: (-score[c] if math.isfinite(score[c]) else math.inf, c))
    standing: dict[str, int] = {cid: k + 1 for k, cid in enumerate(pool)}
    n_pool = len(pool)

    def describe(cid: str) -> str:
        return (
            f"rank {standing[cid]} of {n_pool} eligible, score {_fmt(score[cid])}, "
            f"DSR {_fmt(dsr[cid])}"
        )

    decisions: dict[str, Decision] = {}
    kept: list[str] = []
    protected: set[str] = set()

    # 1-2. Incumbents: gates, then rank with holding period.
    for cid in sorted(incumbent_ids):
        if cid not in score:
            decisions[cid] = Decision(cid, "demoted", None, None, "demoted: no longer rated")
            continue
        if not exit_ok[cid]:
            decisions[cid] = Decision(
                cid, "demoted", None, float(score[cid]), f"demoted: fails gate {exit_reasons[cid]}"
            )
            continue
        rank = standing[cid]
        held = now - incumbents[cid]
        if held < policy.min_holding:
            protected.add(cid)
            kept.append(cid)
            decisions[cid] = Decision(
                cid,
                "kept",
                rank,
                float(score[cid]),
                f"kept inside minimum holding period (promoted {_ago(held)}); {describe(cid)}",
            )
        elif rank <= exit_rank:
            kept.append(cid)
            decisions[cid] = Decision(
                cid,
                "kept",
                rank,
                float(score[cid]),
                f"kept: {describe(cid)}; within exit rank {exit_rank}",
            )
        else:
            decisions[cid] = Decision(
                cid,
                "demoted",
                rank,
                float(score[cid]),
                f"demoted: rank {rank} > exit rank {exit_rank} (score {_fmt(score[cid])})",
            )

    # 3. Capacity: demote the worst-standing unprotected incumbents above max_active.
    kept.sort(key=lambda c: standing[c])
    overflow = len(kept) - policy.max_active
    if overflow > 0:
        for cid in [c for c in reversed(kept) if c not in protected][:overflow]:
            kept.remove(cid)
            decisions[cid] = Decision(
                cid,
                "demoted",
                standing[cid],
                float(score[cid]),
                f"demoted: live set above max_active {policy.max_active} (rank {standing[cid]})",
            )

    # 4. Fill greedily with diversified eligible newcomers (unless the PBO gate blocks).
    selected = list(kept)
    candidates = [c for c in pool if entry_ok[c] and c not in incumbent_ids]
    pbo = ratings.pbo
    blocked = policy.max_pool_pbo is not None and pbo is not None and pbo > policy.max_pool_pbo
    blocked_decisions: list[Decision] = []
    if blocked:
        why = f"new promotions blocked: pool PBO {pbo:.2f} > max_pool_pbo {policy.max_pool_pbo:.2f}"
        blocked_decisions = [
            Decision(cid, "skipped", standing[cid], float(score[cid]), f"skipped: {why}")
            for cid in candidates
        ]
        candidates = []
    corr_ids = [str(c) for c in ratings.correlations.index]
    corr_pos = {cid: i for i, cid in enumerate(corr_ids)}
    corr = ratings.correlations.to_numpy(dtype=np.float64)
    col_pos = {str(c): i for i, c in enumerate(ratings.correlations.columns)}

    def most_correlated(cid: str) -> tuple[str | None, float]:
        """The selected config most correlated with ``cid`` (None if none is known)."""
        if cid not in corr_pos:
            return None, float("nan")
        known = [s for s in selected if s in col_pos]
        if not known:
            return None, float("nan")
        values = corr[corr_pos[cid], [col_pos[s] for s in known]]
        finite = np.isfinite(values)
        if not finite.any():
            return None, float("nan")
        best = int(np.argmax(np.where(finite, values, -np.inf)))
        return known[best], float(values[best])

    skipped: list[tuple[str, str, float]] = []
    for cid in candidates:
        if len(selected) >= target:
            break
        other, rho = most_correlated(cid)
        if other is not None and rho > policy.correlation_cap:
            skipped.append((cid, other, rho))
            continue
        selected.append(cid)
        decisions[cid] = Decision(cid, "promoted", standing[cid], float(score[cid]), describe(cid))

    # 5. Floor: relax the correlation cap to reach min_active.
    relaxed = 0
    still_skipped: list[Decision] = []
    for cid, _, _ in skipped:
        if len(selected) < policy.min_active:
            other, rho = most_correlated(cid)
            selected.append(cid)
            relaxed += 1
            decisions[cid] = Decision(
                cid,
                "promoted",
                standing[cid],
                float(score[cid]),
                f"{describe(cid)}; correlation {rho:.2f} with {other} exceeds cap "
                f"{policy.correlation_cap:.2f} but needed to reach min_active "
                f"{policy.min_active}",
            )
        else:
            other, rho = most_correlated(cid)
            still_skipped.append(
                Decision(
                    cid,
                    "skipped",
                    standing[cid],
                    float(score[cid]),
                    f"skipped: correlation {rho:.2f} with {other} > cap "
                    f"{policy.correlation_cap:.2f}",
                )
            )

    active = tuple(sorted(selected, key=lambda c: standing[c]))
    ordered = sorted(
        decisions.values(),
        key=lambda d: (d.rank is None, d.rank if d.rank is not None else 0, d.config_id),
    )
    note = _note(
        ratings,
        entry_series,
        policy,
        active,
        ordered,
        still_skipped,
        relaxed,
        target,
        len(blocked_decisions) if blocked else None,
    )
    return PromotionCycle(
        at=now,
        decisions=tuple(ordered),
        skipped=tuple(still_skipped + blocked_decisions),
        active=active,
        note=note,
    )


def _gate_count(code: str, count: int) -> str:
    """ "2 failed to evaluate", "480 fail the DSR gate"."""
    if code == "failed":
        return f"{count} failed to evaluate"
    verb = "fails" if count == 1 else "fail"
    return f"{count} {verb} the {GATE_LABELS[code]} gate"


def _pbo_note(pbo: float | None, policy: RatingPolicy, n_blocked: int | None) -> str:
    if pbo is None:
        return "pool PBO n/a"
    text = f"pool PBO {pbo:.2f}"
    if pbo > policy.pbo_warning:
        text += (
            f" (warning: above {policy.pbo_warning:.2f}, the in-sample best does worse than "
            "the out-of-sample median in most splits)"
        )
    if n_blocked is not None and policy.max_pool_pbo is not None:
        text += (
            f"; new promotions blocked: PBO above max_pool_pbo {policy.max_pool_pbo:.2f} "
            f"({n_blocked} eligible candidate{'s' if n_blocked != 1 else ''} not promoted)"
        )
    return text


def _note(
    ratings: Ratings,
    entry_codes: pd.Series,
    policy: RatingPolicy,
    active: tuple[str, ...],
    decisions: list[Decision],
    skipped: list[Decision],
    relaxed: int,
    target: int,
    n_blocked: int | None,
) -> str:
    """``n_blocked``: candidates held back by the pool PBO gate (None: gate not hit)."""
    table = ratings.table
    counts = {a: sum(d.action == a for d in decisions) for a in ("promoted", "kept", "demoted")}
    parts = [
        f"active {len(active)} (target {target}): promoted {counts['promoted']}, "
        f"kept {counts['kept']}, demoted {counts['demoted']}"
    ]
    n_eligible = int((entry_codes == "").sum())
    parts.append(_pbo_note(ratings.pbo, policy, n_blocked))
    if len(active) < policy.min_active and n_blocked is not None:
        parts.append(f"below min_active {policy.min_active} because new promotions are blocked")
    elif len(active) < policy.min_active:
        failing = entry_codes[entry_codes != ""].value_counts()
        why = ", ".join(
            _gate_count(code, int(failing[code])) for code in GATE_ORDER if code in failing.index
        )
        parts.append(
            f"only {n_eligible} config{'s' if n_eligible != 1 else ''} eligible "
            f"(need {policy.min_active})" + (f": {why}" if why else "")
        )
    if skipped:
        short = f"below target {target}: " if policy.min_active <= len(active) < target else ""
        parts.append(
            f"{short}{len(skipped)} candidate{'s' if len(skipped) != 1 else ''} skipped for "
            f"correlation > {policy.correlation_cap:.2f}"
        )
    if relaxed:
        parts.append(
            f"correlation cap relaxed for {relaxed} config{'s' if relaxed != 1 else ''} "
            f"to reach min_active {policy.min_active}"
        )
    parts.append(f"{n_eligible} of {len(table)} configs eligible")
    population = ratings.population
    parts.append(
        "DSR deflated by "
        + (
            population.describe()
            if population.total == ratings.n_trials
            else f"{ratings.n_trials} trials"
        )
    )
    parts.extend(ratings.notes)
    return "; ".join(parts)
