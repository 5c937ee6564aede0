"""What the monitor asks for when a config's health turns, and how a challenger is judged
(pure functions; `factory.monitor.job` stores the requests, `factory.monitor.challenger`
runs the challengers, `factory.storage.retrains` keeps both).

* **red** (``[monitor] refit_on_red``): a *forced refit* — the config's next bar starts a
  new walk-forward block fitted from scratch on everything the schedule allows (purge and
  embargo as usual; not warm-started from the model that went bad). It is part of the
  config's schedule from then on: a full re-evaluation refits at the same bar. The config
  stays out of the live set until the monitor finds it healthy again.
* **yellow**, from green (``[monitor] challenger_on_yellow``): a *shadow retrain*, a
  champion–challenger test. The challenger is the same config refitted at its next bar,
  run beside the champion from the champion's positions (so switching costs are charged)
  without touching the champion's record. After ``[monitor] challenger_bars`` bars both
  after-cost records over the same bars are compounded; the challenger replaces the
  champion only if it made strictly more. The champion then switches to the challenger's
  model at its next bar (a block start with that model). Yellow reached from red (a
  recovering config that was just refitted) starts no challenger.

Only a config with an evaluation record under the current settings can be refitted; a
refit request cancels the config's running challenger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from factory.storage.results import EvaluationState
from factory.storage.retrains import RetrainRequest


@dataclass(frozen=True)
class Turn:
    """A config's change of health state (the monitor's verdict)."""

    config_id: str
    previous: str
    state: str
    reasons: tuple[str, ...] = ()


def retrain_requests(
    turns: Sequence[Turn],
    evaluations: Mapping[str, EvaluationState],
    running: Set[str],
    *,
    bar: datetime,
    eval_key: str,
    refit_on_red: bool = True,
    challenger_on_yellow: bool = True,
) -> list[RetrainRequest]:
    """The requests for ``turns`` judged at ``bar``: a refit for each turn to red, a
    challenger for each turn from green to yellow (none while one is ``running``). Each
    takes effect after the config's last evaluated bar."""
    out: list[RetrainRequest] = []
    for t in turns:
        if t.state == t.previous:
            continue
        ev = evaluations.get(t.config_id)
        if ev is None or ev.eval_key != eval_key or ev.state is None or ev.state.last_ts is None:
            continue  # nothing evaluated under these settings: nothing to refit
        why = "; ".join(t.reasons) or f"health {t.state}"
        if t.state == "red" and refit_on_red:
            out.append(
                RetrainRequest(
                    t.config_id, "refit", eval_key, bar, ev.state.last_ts, f"health red: {why}"
                )
            )
        elif (
            t.state == "yellow"
            and t.previous == "green"
            and challenger_on_yellow
            and t.config_id not in running
        ):
            out.append(
                RetrainRequest(
                    t.config_id,
                    "shadow",
                    eval_key,
                    bar,
                    ev.state.last_ts,
                    f"health yellow: {why}",
                    state=ev.state,
                )
            )
    return out


def window_bars(timestamps: pd.DatetimeIndex, after: datetime, n: int) -> pd.DatetimeIndex:
    """The first ``n`` bars after ``after`` (fewer while they have not arrived)."""
    return timestamps[timestamps > pd.Timestamp(after)][:n]


def compounded(net: pd.Series | np.ndarray) -> float:
    """The compounded return of a sequence of per-bar net returns."""
    values = np.asarray(net, dtype=np.float64)
    return float(np.prod(1.0 + values) - 1.0)


@dataclass(frozen=True)
class Comparison:
    bars: int
    champion_net: float
    challenger_net: float

    @property
    def challenger_wins(self) -> bool:
        """Strictly more after costs over the same bars (a tie keeps the champion)."""
        return self.challenger_net > self.champion_net


def complete_record(net: pd.Series, window: pd.DatetimeIndex) -> float | None:
    """The compounded net return of ``net`` over ``window``; None while a bar of the
    window has no return (not evaluated yet)."""
    values = net.reindex(window)
    if values.isna().any():
        return None
    return compounded(values)


def extend(
    previous: float, bars: int, net: pd.Series, window: pd.DatetimeIndex
) -> tuple[float, int]:
    """A running compounded return over the first ``bars`` of ``window`` extended by the
    rows of ``net`` (new bars) that fall in the window."""
    new = net[net.index.isin(window)]
    return (1.0 + previous) * (1.0 + compounded(new)) - 1.0, bars + len(new)
