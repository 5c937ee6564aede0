"""AR(p)-GJR-GARCH(1, 1, 1) on the asset's one-bar return (``arch``), one model per asset.

Input is ``"series"``: ``X`` of shape ``(n, lookback)``, row i the window of the asset's
standardised one-bar return ending at bar t_i, oldest first. Model, fitting (gaps
included), the row-wise filter and saved state: `architectures.econometric._garch`.
"""

from __future__ import annotations

from architectures.base import Tags
from architectures.econometric._garch import GarchFamily
from architectures.registry import register


@register
class GjrGarch(GarchFamily):
    """AR(p) mean with GJR-GARCH(1, 1, 1) volatility: a negative shock raises the next
    bar's variance by ``(alpha + gamma) e^2`` instead of ``alpha e^2`` (the leverage
    effect). The signal is the next bar's expected return divided by its forecast
    volatility.

    Parameters:
        p      order of the autoregressive mean
        dist   innovation distribution, "normal" or "t" (Student t)

    Grid: ``dist`` in {"normal", "t"}.

    The lookback is the filtering window (see `ar_garch` for why only 30, 60 and 90).
    """

    name = "gjr_garch"
    version = 1
    asymmetric = True
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
