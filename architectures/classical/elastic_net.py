"""Elastic net (L1 and L2 penalties) of the forward return on the flattened window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`); ``predict`` is an expected return
(``output="return"``). Objective, target scaling and saved state: see
`architectures.classical._linear`.
"""

from __future__ import annotations

from typing import ClassVar

from architectures.base import Tags
from architectures.classical._linear import PenalisedLinear
from architectures.registry import register
from architectures.search import FloatRange


@register
class ElasticNet(PenalisedLinear):
    """Linear regression with both penalties (coordinate descent,
    ``sklearn.linear_model.ElasticNet``): sparse like the lasso, but correlated window
    cells (neighbouring lags of one feature) share weight instead of one being picked.

    Parameters:
        alpha      total penalty on the standardised target
        l1_ratio   the L1 share: ``alpha * l1_ratio |w|_1 + alpha (1 - l1_ratio)/2 |w|^2``

    Grid: ``l1_ratio`` in {0.2, 0.5, 0.8} at ``alpha = 0.02``: the "both" point of the
    platform's regularisation axis. Every lookback fits.
    """

    name = "elastic_net"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=0.15,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"l1_ratio": (0.2, 0.5, 0.8)}
    search_space: ClassVar = {
        "alpha": FloatRange(1e-4, 1.0, log=True),
        "l1_ratio": FloatRange(0.05, 0.95),
    }
    test_params: ClassVar = {}

    def __init__(self, alpha: float = 0.02, l1_ratio: float = 0.5) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio

    def penalty(self) -> tuple[float, float]:
        ratio = float(self.l1_ratio)
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"elastic_net needs 0 < l1_ratio < 1, got {ratio}")
        return float(self.alpha), ratio
