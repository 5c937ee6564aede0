"""Market regimes known at each bar: high or low volatility of the universe.

The regime of bar t is decided with data up to bar t - 1 (when the position that earns
bar t's return was taken): the universe's realised volatility over the trailing
``window`` bars ending at t - 1, compared with the median of that volatility over every
earlier bar (an expanding median, so no future value sets the threshold). Bars before
``window`` returns exist are unlabelled (""), as are bars whose volatility equals the
running median's undefined start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIMES = ("high_vol", "low_vol")


def volatility_regimes(universe: pd.Series, window: int = 21) -> pd.Series:
    """``"high_vol"`` / ``"low_vol"`` / ``""`` per bar of ``universe`` (bar returns)."""
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    vol = universe.rolling(window, min_periods=window).std()
    threshold = vol.expanding(min_periods=1).median()
    known_vol = vol.shift(1)
    known_threshold = threshold.shift(1)
    label = np.where(
        known_vol.isna() | known_threshold.isna(),
        "",
        np.where(known_vol > known_threshold, "high_vol", "low_vol"),
    )
    return pd.Series(label, index=universe.index, name="regime")
