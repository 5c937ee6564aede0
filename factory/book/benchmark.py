"""The equal-weight universe as a benchmark book.

Its bar returns are what holding every asset that has a bar in equal weight would have
earned, booked by the same ledger as every config (execution timing, gaps held across
missing bars) and without costs: the series the rating engine matches each config's
beta to, so that market drift is not counted as skill, and the buy-and-hold baseline of
simulations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from factory.book.ledger import Execution, LedgerState, step
from factory.book.sizing import BookSpec, target_weights

_EQUAL = BookSpec("long_only", tilt=0.0)


def universe_returns(
    close: pd.DataFrame,
    *,
    execution: Execution = "next_close",
    open_: pd.DataFrame | None = None,
    max_gap: int = 21,
    assets: Sequence[str] | None = None,
) -> pd.Series:
    """Bar returns of the equal-weight book over ``close`` (``T x N``, NaN = no bar)."""
    if assets is not None:
        close = close.reindex(columns=list(assets))
    values = close.to_numpy(dtype=np.float64)
    opens = None if open_ is None else open_.reindex_like(close).to_numpy(dtype=np.float64)
    state = LedgerState.empty(tuple(str(c) for c in close.columns))
    zero = np.zeros(values.shape[1])
    out = np.empty(values.shape[0])
    for t in range(values.shape[0]):
        frozen = ~np.isfinite(values[t])
        target = target_weights(
            np.where(frozen, np.nan, 0.0), held=state.held, frozen=frozen, book=_EQUAL
        )
        row, state = step(
            state,
            close=values[t],
            open_=None if opens is None else opens[t],
            cost=zero,
            target=target,
            execution=execution,
            max_gap=max_gap,
        )
        out[t] = row.net
    return pd.Series(out, index=close.index, name="universe")
