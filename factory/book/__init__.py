"""How signals become positions and positions become returns — one implementation used by
walk-forward evaluation, the daily rebalance and historical simulation.

* `sizing` — the book: signals of one bar -> target weights (time-series long/short,
  cross-sectional dollar-neutral, long-only tilt), pure.
* `costs` — cost per unit of turnover per asset and bar (a bps schedule plus optional
  volatility-proportional slippage), causal.
* `ledger` — the bookkeeping of one bar: P&L of what is held from its last price to its
  next price (gaps in an asset's calendar included), execution at the close, the next
  open or the next close, turnover and costs; its state is a small JSON-able record so a
  book can be advanced one bar at a time and resumed after a restart.
"""

from factory.book.costs import CostModel
from factory.book.ledger import Execution, LedgerRow, LedgerState, step
from factory.book.sizing import BookKind, BookSpec, target_weights

__all__ = [
    "BookKind",
    "BookSpec",
    "CostModel",
    "Execution",
    "LedgerRow",
    "LedgerState",
    "step",
    "target_weights",
]
