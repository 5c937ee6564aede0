"""Running TA-Lib over every asset of a ``T x N`` panel.

TA-Lib functions are 1-D C loops; we call them once per asset (a Python loop over
assets is cheap next to the C work). TA-Lib propagates a NaN forever in recursive
indicators (Wilder smoothing, EMAs), so a row with any NaN input splits an asset's series
into *segments* of complete rows (before listing, after delisting, a bar with a missing
volume, ...) and each segment is computed on its own with its own warm-up; NaN rows are
NaN in the output. This is causal: a segment's values read only its own earlier rows.

TA-Lib tests some intermediate values against an absolute epsilon (``TA_IS_ZERO``,
1e-14), so an asset quoted at 1e-9 would trip it. `relative_prices` divides prices by the
asset's first close (known from its first bar on, so causal), which makes every input
O(1) and leaves every scale-free indicator unchanged.

Recursive TA-Lib indicators (RSI, ADX, MFI, ATR, MACD's EMAs) start from the first bar
of their segment, so their values carry an exponentially decaying trace of that start;
computing on a longer history changes early values slightly. The factory computes
features on the whole stored history of each data version, so this is consistent
within a version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Array = np.ndarray


def segments(finite: Array) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of consecutive True values in a 1-D boolean array."""
    padded = np.concatenate(([False], np.asarray(finite, dtype=bool), [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def per_asset(
    function: Callable[..., Any],
    inputs: Sequence[Array],
    *,
    outputs: int = 1,
    **params: Any,
) -> list[Array]:
    """Apply ``function(*columns, **params)`` to each asset's series.

    ``inputs`` are ``T x N`` arrays of the same shape (pass Fortran-ordered arrays, e.g.
    from ``np.asfortranarray``, to avoid a transposed copy per call). Each asset is
    computed on its segments of rows where every input is finite. Returns ``outputs``
    arrays of shape ``T x N`` (Fortran-ordered); TA-Lib functions with several outputs,
    like MACD, return a tuple.
    """
    if not inputs:
        raise ValueError("no inputs")
    by_asset = [np.ascontiguousarray(np.asarray(a, dtype=np.float64).T) for a in inputs]
    n_assets, n_rows = by_asset[0].shape
    finite = np.logical_and.reduce([np.isfinite(a) for a in by_asset])
    count = finite.sum(axis=1)
    first = finite.argmax(axis=1)
    last = n_rows - finite[:, ::-1].argmax(axis=1)
    one_run = count == last - first
    results = [np.full((n_assets, n_rows), np.nan) for _ in range(outputs)]
    for n in range(n_assets):
        if count[n] == 0:
            continue
        spans = [(int(first[n]), int(last[n]))] if one_run[n] else segments(finite[n])
        for start, stop in spans:
            out = function(*(a[n, start:stop] for a in by_asset), **params)
            if outputs == 1:
                out = (out,)
            for result, value in zip(results, out, strict=True):
                result[n, start:stop] = value
    return [r.T for r in results]


def relative_prices(close: Array, *prices: Array) -> list[Array]:
    """``[close, *prices]`` divided column-wise by each asset's first finite close
    (Fortran-ordered, ready for `per_asset`)."""
    finite = np.isfinite(close)
    first = finite.argmax(axis=0)
    reference = close[first, np.arange(close.shape[1])]
    reference = np.where(finite.any(axis=0) & (reference > 0), reference, np.nan)
    return [np.asfortranarray(p / reference) for p in (close, *prices)]
