"""Rebuild the consecutive series behind a block of training windows, gaps included.

Series and panel models receive windows, not a series: row i of ``X`` is the window of
the last ``L`` bars ending at the row's bar, oldest first (``(n, L)`` for one series,
``(n, L, N)`` for a panel of N assets). Rows of one asset arrive in time order, but a
training row can be missing (its window or label had a NaN), so ``X[:, -1]`` is not
always a consecutive series. Fitting on it as if it were joins the two sides of the gap
into one false transition.

`rebuild` recovers the series from the windows themselves. Row i+1 follows row i by
``s`` bars exactly when their windows overlap by ``L - s`` bars
(``X[i+1, :L-s] == X[i, s:]``; both come from the same array, so equality is exact):

* ``s = 1`` (consecutive rows): the new bar is ``X[i+1, -1]``;
* ``1 < s <= L - MIN_OVERLAP`` (a few rows missing, windows still overlap): the ``s``
  bars after row i's are all inside row i+1's window, so they are appended exactly and
  nothing is lost;
* no overlap: the bars in between are unknown (not even how many), so the series gets
  one missing value (NaN) as a break marker and continues with row i+1's whole window.

The series starts with row 0's whole window (its ``L`` bars are all known at fit time).
Models then either fit through the NaN markers with a method that handles missing
values (a Kalman filter) or fit on the contiguous `Rebuilt.segments`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Fewest overlapping bars accepted as proof that two windows belong together: one equal
# value can be a coincidence (two identical returns), two in a row hardly.
MIN_OVERLAP = 2


@dataclass(frozen=True)
class Rebuilt:
    """A series rebuilt from windows: ``values`` is ``(T,)`` or ``(T, N)``, float64, with
    a NaN entry (row) at every break; ``breaks`` counts them."""

    values: np.ndarray
    breaks: int

    def segments(self) -> list[np.ndarray]:
        """The contiguous stretches between break markers, oldest first."""
        missing = np.isnan(self.values).reshape(len(self.values), -1).any(axis=1)
        cuts = np.flatnonzero(missing)
        bounds = [-1, *cuts.tolist(), len(self.values)]
        return [self.values[a + 1 : b] for a, b in itertools.pairwise(bounds) if b > a + 1]

    def newest_segment(self, min_length: int) -> np.ndarray:
        """The newest contiguous stretch of at least ``min_length`` bars; ValueError if
        there is none."""
        for segment in reversed(self.segments()):
            if len(segment) >= min_length:
                return segment
        longest = max((len(s) for s in self.segments()), default=0)
        raise ValueError(
            f"the training rows hold no contiguous stretch of {min_length} bars (longest "
            f"{longest}, {self.breaks} gap(s)); the model cannot be fitted across gaps"
        )


def shift_between(previous: np.ndarray, current: np.ndarray) -> int | None:
    """Bars from window ``previous`` to window ``current`` (both ``(L, ...)``), or None
    when they overlap by fewer than `MIN_OVERLAP` bars (see the module docstring)."""
    L = previous.shape[0]
    if L > 1 and np.array_equal(current[:-1], previous[1:]):
        return 1
    for s in range(2, L - MIN_OVERLAP + 1):
        if np.array_equal(current[: L - s], previous[s:]):
            return s
    return None


def rebuild(X: np.ndarray) -> Rebuilt:
    """The series behind windows ``X`` (``(n, L)`` or ``(n, L, N)``, rows in time order)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim not in (2, 3) or X.shape[0] == 0:
        raise ValueError(f"expected (n, L) or (n, L, N) windows, got shape {X.shape}")
    L = X.shape[1]
    consecutive = (
        np.all((X[1:, :-1] == X[:-1, 1:]).reshape(X.shape[0] - 1, -1), axis=1)
        if L > 1
        else np.zeros(X.shape[0] - 1, dtype=bool)
    )
    if consecutive.all():
        return Rebuilt(np.concatenate([X[0], X[1:, -1]]), 0)
    gap = np.full((1, *X.shape[2:]), np.nan)
    pieces: list[np.ndarray] = [X[0]]
    breaks = 0
    start = 1  # first row of the current run of consecutive rows
    for i in (np.flatnonzero(~consecutive) + 1).tolist():  # rows not 1 bar after the previous
        pieces.append(X[start:i, -1])
        s = shift_between(X[i - 1], X[i])
        if s is None:
            pieces += [gap, X[i]]
            breaks += 1
        else:
            pieces.append(X[i, L - s :])
        start = i + 1
    pieces.append(X[start:, -1])
    return Rebuilt(np.concatenate(pieces), breaks)
