"""Ridge regression (L2 penalty) of the forward return on the flattened window.

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
class Ridge(PenalisedLinear):
    """Linear regression with an L2 penalty (closed form, ``sklearn.linear_model.Ridge``).

    Parameters:
        alpha   penalty per row on the standardised target (the elastic-net objective
                with ``l1_ratio=0``: ``1/(2n)|z - Xw - b|^2 + alpha/2 |w|^2``); at 1 the
                penalty matches the curvature of a unit-variance column

    Grid: ``alpha`` in {1, 10, 100}: the L2 point of the platform's regularisation axis.
    Every lookback fits.
    """

    name = "ridge"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=0.4,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"alpha": (1.0, 10.0, 100.0)}
    search_space: ClassVar = {"alpha": FloatRange(1e-3, 1e4, log=True)}
    test_params: ClassVar = {}

    def __init__(self, alpha: float = 10.0) -> None:
        self.alpha = alpha

    def penalty(self) -> tuple[float, float]:
        return float(self.alpha), 0.0
