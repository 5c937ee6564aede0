"""One bar of bookkeeping for a book of target weights.

Timing (docs/architecture.md, "Timing convention"): features at bar t use data up to
and including t; the target decided at t is executed

* ``"close"``      at bar t's close (the trade the decision's own prices imply; the
                   optimistic convention),
* ``"next_open"``  at bar t+1's open,
* ``"next_close"`` at bar t+1's close (the conservative default: a full bar of delay);

and the position earns from its execution price onwards. Each call of `step` books the
interval that ends with the new bar's close: the P&L of what was held since its last
price (``mark``), the trades executed in the interval (turnover and costs), and then the
new decision.

Gaps: an asset without a bar at t (weekend for an equity beside crypto, a holiday, a
halt) cannot be valued or traded: its position is held, neither re-sized nor charged,
its mark stays at its last price, and the move from that price to its next one is
booked when its next bar comes. A position whose asset has had no bar for more than
``max_gap`` bars is closed at its last price (a delisting), with costs.

Weights are fractions of capital. Between bars they drift with prices
(``w_a <- w_a (1 + r_a) / (1 + sum_b w_b r_b)``), so turnover is the trade actually needed
to get from the drifted weights to the target. Within one bar the P&L of the overnight
and the intraday segment (``next_open``) are added (first order). ``net = gross - cost``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Execution = Literal["close", "next_open", "next_close"]
EXECUTIONS: tuple[Execution, ...] = ("close", "next_open", "next_close")


def _list(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in values]


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class LedgerState:
    """What a book carries from one bar to the next (arrays aligned with ``assets``)."""

    assets: tuple[str, ...]
    held: np.ndarray  # weights held (drifted since the last trade)
    pending: np.ndarray  # targets waiting for execution (NaN = none)
    mark: np.ndarray  # price each asset was last valued at (NaN = never)
    gap: np.ndarray  # bars since the asset's last bar

    @classmethod
    def empty(cls, assets: Sequence[str]) -> LedgerState:
        n = len(assets)
        return cls(
            tuple(assets),
            np.zeros(n),
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.zeros(n, dtype=np.int64),
        )

    def reindex(self, assets: Sequence[str]) -> LedgerState:
        """The state over ``assets`` (a universe that grew: new assets are flat). Assets
        that disappear must hold nothing."""
        assets = tuple(assets)
        if assets == self.assets:
            return self
        pos = {a: i for i, a in enumerate(self.assets)}
        lost = [a for a in self.assets if a not in set(assets) and self.held[pos[a]] != 0]
        if lost:
            raise ValueError(f"positions in {lost} cannot be dropped from the book")
        out = LedgerState.empty(assets)
        for j, a in enumerate(assets):
            if a in pos:
                i = pos[a]
                out.held[j] = self.held[i]
                out.pending[j] = self.pending[i]
                out.mark[j] = self.mark[i]
                out.gap[j] = self.gap[i]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "assets": list(self.assets),
            "held": _list(self.held),
            "pending": _list(self.pending),
            "mark": _list(self.mark),
            "gap": [int(g) for g in self.gap],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LedgerState:
        held = _array(data["held"])
        return cls(
            tuple(data["assets"]),
            np.nan_to_num(held, nan=0.0),
            _array(data["pending"]),
            _array(data["mark"]),
            np.asarray(data["gap"], dtype=np.int64),
        )


@dataclass(frozen=True)
class LedgerRow:
    """The interval ending at a bar: P&L of what was held, turnover and costs of the trades."""

    gross: float
    turnover: float
    cost: float

    @property
    def net(self) -> float:
        return self.gross - self.cost


def step(
    state: LedgerState,
    *,
    close: np.ndarray,
    cost: np.ndarray,
    target: np.ndarray | None,
    execution: Execution = "next_close",
    open_: np.ndarray | None = None,
    max_gap: int = 21,
) -> tuple[LedgerRow, LedgerState]:
    """Book one bar. ``close``/``open_``/``cost`` are the bar's prices and cost rates per
    asset (NaN price = the asset has no bar); ``target`` the weights decided at this bar
    (None = no decision, e.g. no model yet). Returns the row and the next state."""
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
    close = np.asarray(close, dtype=np.float64)
    present = np.isfinite(close)
    held = state.held.astype(np.float64, copy=True)
    pending = state.pending.astype(np.float64, copy=True)
    mark = state.mark.astype(np.float64, copy=True)
    gap = np.where(present, 0, state.gap + 1).astype(np.int64)
    rate = np.nan_to_num(np.asarray(cost, dtype=np.float64), nan=0.0)
    gross = 0.0
    traded = np.zeros_like(held)

    def realise(price: np.ndarray) -> None:
        nonlocal gross
        live = present & (held != 0) & np.isfinite(mark) & np.isfinite(price)
        r = np.zeros_like(held)
        r[live] = price[live] / mark[live] - 1.0
        g = float((held * r).sum())
        gross += g
        if 1.0 + g > 0:
            held[:] = held * (1.0 + r) / (1.0 + g)
        ok = present & np.isfinite(price)
        mark[ok] = price[ok]

    def execute(new: np.ndarray) -> None:
        tradable = present & np.isfinite(new)
        delta = np.where(tradable, new - held, 0.0)
        traded[:] += np.abs(delta)
        held[tradable] = new[tradable]

    # Positions stranded for too long (delisted) are closed at their last price.
    stale = (gap > max_gap) & (held != 0)
    if stale.any():
        traded[stale] += np.abs(held[stale])
        held[stale] = 0.0
        pending[stale] = np.nan

    if execution == "next_open":
        opens = close if open_ is None else np.asarray(open_, dtype=np.float64)
        opens = np.where(np.isfinite(opens), opens, close)
        realise(opens)
        executable = present & np.isfinite(pending)
        execute(np.where(executable, pending, np.nan))
        pending[executable] = np.nan
        realise(close)
    else:
        realise(close)
        if execution == "next_close":
            executable = present & np.isfinite(pending)
            execute(np.where(executable, pending, np.nan))
            pending[executable] = np.nan
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
        if execution == "close":
            execute(target)
        else:
            pending = np.where(present, target, pending)
    row = LedgerRow(gross=gross, turnover=float(traded.sum()), cost=float((rate * traded).sum()))
    return row, LedgerState(state.assets, held, pending, mark, gap)
