"""The out-of-cycle demotion record (pure).

Promotion cycles run once a UTC day. When the monitor finds a live config red it does not
wait: it writes a *demotion cycle* — a promotion-cycle record that demotes the red
configs (reason: their health reasons) and keeps every other incumbent unchanged. No
config is promoted out of cycle; the next daily cycle refills the set, and the rating's
health gate (``rating.rate(health=...)``) keeps the red ones out until they are green
again. The rebalance reads the latest cycle, so it stops trading a red config at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rating.promotion import Decision, PromotionCycle


def health_demotion(
    active: Sequence[str], red: Mapping[str, Sequence[str]], at: datetime
) -> PromotionCycle | None:
    """The cycle demoting the live configs in ``red`` (id -> reasons), or None when none
    of them is live."""
    demoted = [cid for cid in active if cid in red]
    if not demoted:
        return None
    kept = [cid for cid in active if cid not in red]
    decisions = tuple(
        Decision(
            cid,
            "demoted",
            None,
            None,
            "health red (out of cycle): " + ("; ".join(red[cid]) or "red"),
        )
        for cid in demoted
    ) + tuple(
        Decision(cid, "kept", None, None, "kept: out-of-cycle health demotion of others")
        for cid in kept
    )
    note = (
        f"out-of-cycle health demotion: {len(demoted)} demoted ({', '.join(demoted)}), "
        f"{len(kept)} kept; no promotion until the next daily cycle"
    )
    if not kept:
        note += "; the live set is empty"
    return PromotionCycle(at=at, decisions=decisions, skipped=(), active=tuple(kept), note=note)
