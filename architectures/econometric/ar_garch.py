"""AR(p)-GARCH(1, 1) on the asset's one-bar return (``arch``), one model per asset.

Input is ``"series"``: ``X`` of shape ``(n, lookback)``, row i the window of the asset's
standardised one-bar return ending at bar t_i, oldest first. Model, fitting (gaps
included), the row-wise filter and saved state: `architectures.econometric._garch`.
"""

from __future__ import annotations

from architectures.base import Tags
from architectures.econometric._garch import GarchFamily
from architectures.registry import register


@register
class ArGarch(GarchFamily):
    """AR(p) mean with GARCH(1, 1) volatility; the signal is the next bar's expected return
    divided by its forecast volatility (a one-bar Sharpe ratio).

    The ``arch`` package has no moving-average mean term, so this is the AR member of the
    ARMA-GARCH family; on daily returns an AR(1) or AR(2) mean captures what an ARMA(1, 1)
    would.

    Parameters:
        p      order of the autoregressive mean
        dist   innovation distribution, "normal" or "t" (Student t, fat tails: outliers
               pull the mean and volatility estimates less)

    Grid: ``dist`` in {"normal", "t"}.

    The lookback is the filtering window: each row's variance recursion runs over its
    window from the unconditional variance. Lookbacks 30, 60 and 90 only: daily GARCH
    fits are persistent (alpha + beta around 0.95-0.99), so over 7 or 14 bars the
    volatility forecast hardly leaves its starting value. Estimation uses the whole
    training series (at least ``min_history`` = 250 bars).
    """

    name = "ar_garch"
    version = 1
    asymmetric = False
    tags = Tags(
        family="econometric",
        input="series",
        output="return",
        per_asset=True,
        min_history=250,
        feature_sets=("ohlcv",),
        cost_hint=0.5,
        lookbacks=(30, 60, 90),
        lookback_use="filtering window (variance recursion run over the last lookback returns)",
    )
