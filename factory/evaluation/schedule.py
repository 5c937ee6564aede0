"""The walk-forward schedule: which bars each model is trained on and which it predicts.

Blocks are anchored at the first predicted bar ``first`` and advance by ``retrain_every``,
so the schedule of the past never depends on how much data follows (the look-ahead tests
rely on this). For the block starting at bar ``s``:

* test bars: ``s .. min(s + retrain_every, T) - 1``
* training samples: bars ``t`` with ``t <= s - purge - embargo`` (and, for a rolling
  window, ``t > s - purge - embargo - train_window``). A sample's label is the forward
  return to ``t + horizon``; with ``purge >= horizon`` every training label is known at
  bar ``s``, when the block's first prediction is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Block:
    index: int
    start: int  # first test bar (inclusive)
    end: int  # last test bar + 1
    train_lo: int  # first bar a training sample may sit on (inclusive)
    train_hi: int  # last bar a training sample may sit on (inclusive)


def blocks(
    n_bars: int,
    first: int,
    *,
    retrain_every: int,
    purge: int,
    embargo: int,
    window: Literal["expanding", "rolling"] = "expanding",
    train_window: int = 0,
) -> list[Block]:
    """The blocks covering bars ``first .. n_bars - 1``."""
    if retrain_every < 1:
        raise ValueError("retrain_every must be at least 1")
    if purge < 0 or embargo < 0:
        raise ValueError("purge and embargo must be non-negative")
    out = []
    start = first
    k = 0
    while start < n_bars:
        end = min(start + retrain_every, n_bars)
        hi = start - purge - embargo
        lo = 0 if window == "expanding" else max(0, hi - train_window + 1)
        out.append(Block(k, start, end, lo, hi))
        start = end
        k += 1
    return out
