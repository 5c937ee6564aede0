"""The walk-forward schedule: when a model is refitted and which bars it may learn from.

Blocks are anchored at the first predicted bar ``first`` and advance by
``retrain_every`` bars (the engine may cut the first block short by a per-config offset
to spread the pool's refits over the days: `factory.evaluation.engine.block_length`), so
the schedule of the past never depends on how much data follows (the look-ahead tests rely on this) and an evaluation can stop after any bar and
resume at the next one (incremental evaluation). For the block starting at bar ``s``:

* test bars: ``s .. s + retrain_every - 1``, each predicted when it arrives with the
  model fitted at ``s``;
* training samples: bars ``t`` with ``t <= s - purge - embargo`` (and, for a rolling
  window, ``t > s - purge - embargo - train_window``) whose label — the forward return
  over ``horizon`` of the asset's own bars — is realised by bar
  ``s - (purge - horizon) - embargo``. With ``purge >= horizon`` every training label is
  known at bar ``s``, when the block's first prediction is made.
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


@dataclass(frozen=True)
class TrainRange:
    """Bars ``lo .. hi`` a block may train on; labels must be realised by ``known_by``."""

    lo: int
    hi: int
    known_by: int


def train_range(
    start: int,
    *,
    horizon: int,
    purge: int,
    embargo: int,
    window: Literal["expanding", "rolling"] = "expanding",
    train_window: int = 0,
) -> TrainRange:
    """The training range of the block whose first test bar is ``start``."""
    if purge < horizon:
        raise ValueError(f"purge ({purge}) must be at least the horizon ({horizon})")
    hi = start - purge - embargo
    lo = 0 if window == "expanding" else max(0, hi - train_window + 1)
    return TrainRange(lo, hi, hi + horizon)


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
    """The blocks covering bars ``first .. n_bars - 1`` (what the engine walks through)."""
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
