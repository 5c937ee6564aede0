"""What a reviewer looks at: the historical simulation (``factory simulate``) and the
self-contained HTML report (``factory report``).

* `simulate` — the replay of rating, promotion and rebalance bar by bar, with baselines;
* `summary` — the metrics and the ``--format json`` payload;
* `regimes` — volatility regimes known at each bar;
* `loader` — the stored out-of-sample record, read from the database;
* `report` — the HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from factory.app import App
from factory.review.loader import History, load_history
from factory.review.simulate import Replay, run_replay
from factory.review.summary import simulation_payload


@dataclass(frozen=True, eq=False)
class Simulation:
    history: History
    replay: Replay
    payload: dict[str, Any]


def simulate(app: App, start: datetime | None = None, end: datetime | None = None) -> Simulation:
    """Load the stored record, replay [start, end] and summarise it."""
    history = load_history(app, start, end)
    replay = run_replay(history.market, history.pool, history.start, history.end, history.options)
    payload = simulation_payload(replay, history.market, history.pool, history.options)
    return Simulation(history, replay, payload)


__all__ = ["Simulation", "simulate"]
