"""The book: one bar's signals -> target weights (pure).

Weights are fractions of capital; positive is long. Inputs per asset (length N arrays):
``signal`` in [-1, 1] (NaN = no view), ``frozen`` (the asset has no bar now, so its
position cannot be traded and stays as ``held``) and ``held`` (the weights held now).

``timeseries``  each asset's own long/short bet: ``w = s / n`` with n the number of
                assets in the book (those with a view plus frozen positions), so a full
                book of n views has gross exposure at most 1.
``cross_sectional``  dollar-neutral across the assets with a view: ``"rank"`` —
                demeaned ranks of the signals (ties share their average rank), scaled to
                gross exposure 1; ``"quantile"`` — the top and bottom ``cs_quantile`` of
                the signals, equally weighted long and short, gross 1. Weights are
                capped at ``max_weight`` and the larger side then shrunk to the smaller,
                so the book stays neutral. Fewer than two views, or all equal, give no
                position.
``long_only``   fully invested, tilting away from equal weight by the signals:
                ``w ∝ max(0, 1 + tilt * s)`` over the assets that have a bar (an asset
                without a view counts as neutral, s = 0), normalised to sum 1, each
                weight capped at ``max_weight`` with the excess spread over the others.
                Judged against the equal-weight universe.

Frozen positions keep their weight and the capacity they use is taken from the book
(gross 1 minus their gross exposure). An asset with a bar but no view is flat (except in
the long-only book).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import rankdata

BookKind = Literal["timeseries", "cross_sectional", "long_only"]
BOOKS: tuple[BookKind, ...] = ("timeseries", "cross_sectional", "long_only")


@dataclass(frozen=True)
class BookSpec:
    """Which book and its knobs (see the module docstring)."""

    kind: BookKind = "timeseries"
    cs_method: Literal["rank", "quantile"] = "rank"
    cs_quantile: float = 0.2
    tilt: float = 1.0
    max_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in BOOKS:
            raise ValueError(f"book must be one of {BOOKS}, got {self.kind!r}")
        if not 0.0 < self.cs_quantile <= 0.5:
            raise ValueError(f"cs_quantile must be in (0, 0.5], got {self.cs_quantile}")
        if self.tilt < 0:
            raise ValueError(f"tilt must be >= 0, got {self.tilt}")
        if not 0.0 < self.max_weight <= 1.0:
            raise ValueError(f"max_weight must be in (0, 1], got {self.max_weight}")


def target_weights(
    signal: np.ndarray,
    *,
    held: np.ndarray | None = None,
    frozen: np.ndarray | None = None,
    book: BookSpec | None = None,
) -> np.ndarray:
    """Target weights for one bar (see the module docstring)."""
    book = book or BookSpec()
    s = np.asarray(signal, dtype=np.float64)
    n = s.shape[0]
    held = np.zeros(n) if held is None else np.asarray(held, dtype=np.float64)
    frozen = np.zeros(n, dtype=bool) if frozen is None else np.asarray(frozen, dtype=bool)
    out = np.where(frozen, held, 0.0)
    budget = max(0.0, 1.0 - float(np.abs(out).sum()))
    view = np.isfinite(s) & ~frozen
    if book.kind == "timeseries":
        members = int(view.sum()) + int((frozen & (held != 0)).sum())
        if members:
            w = np.clip(s[view], -1.0, 1.0) / members
            out[view] = np.clip(w, -book.max_weight, book.max_weight)
        return out
    if book.kind == "cross_sectional":
        out[view] = _cross_sectional(np.clip(s[view], -1.0, 1.0), book) * budget
        return out
    # long_only: every asset with a bar is in the book; no view counts as neutral.
    tradable = ~frozen
    tilt = np.where(np.isfinite(s), np.clip(s, -1.0, 1.0), 0.0)
    raw = np.maximum(0.0, 1.0 + book.tilt * tilt[tradable])
    out[tradable] = _capped_simplex(raw, book.max_weight / budget if budget > 0 else 1.0) * budget
    return out


def _cross_sectional(s: np.ndarray, book: BookSpec) -> np.ndarray:
    if s.size < 2 or np.ptp(s) == 0:
        return np.zeros_like(s)
    if book.cs_method == "rank":
        centred = rankdata(s) - (s.size + 1) / 2.0
        w = centred / np.abs(centred).sum()
    else:
        k = max(1, int(np.floor(book.cs_quantile * s.size)))
        order = np.argsort(s, kind="stable")
        w = np.zeros_like(s)
        w[order[-k:]] = 0.5 / k
        w[order[:k]] = -0.5 / k
    w = np.clip(w, -book.max_weight, book.max_weight)
    # The cap may bind on one side only: shrink the larger side so the book stays neutral.
    longs, shorts = float(w[w > 0].sum()), float(-w[w < 0].sum())
    side = min(longs, shorts)
    if side <= 0:
        return np.zeros_like(w)
    return np.where(w > 0, w * side / longs, w * side / shorts)


def _capped_simplex(raw: np.ndarray, cap: float) -> np.ndarray:
    """``raw / sum(raw)`` with every weight at most ``cap`` (the excess is spread over the
    uncapped weights in proportion; water-filling). All zero -> equal weights."""
    if raw.size == 0:
        return raw
    total = float(raw.sum())
    w = raw / total if total > 0 else np.full(raw.size, 1.0 / raw.size)
    if cap * raw.size < 1.0:  # the cap cannot hold with a fully invested book
        return np.full(raw.size, 1.0 / raw.size)
    capped = np.zeros(raw.size, dtype=bool)
    for _ in range(raw.size):
        over = (w > cap + 1e-15) & ~capped
        if not over.any():
            break
        capped |= over
        free = ~capped
        remaining = 1.0 - cap * capped.sum()
        base = w[free].sum()
        w[capped] = cap
        w[free] = w[free] / base * remaining if base > 0 else remaining / max(free.sum(), 1)
    return w
