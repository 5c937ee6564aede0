"""Lasso regression (L1 penalty) of the forward return on the flattened window.

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
class Lasso(PenalisedLinear):
    """Linear regression with an L1 penalty (coordinate descent,
    ``sklearn.linear_model.Lasso``); most window cells get a zero weight.

    Parameters:
        alpha   L1 penalty on the standardised target
                (``1/(2n)|z - Xw - b|^2 + alpha |w|_1``): a column enters only if its
                covariance with ``z`` exceeds ``alpha``, so 0.01 keeps columns whose
                correlation with the target is above about 0.01

    Grid: ``alpha`` in {0.003, 0.01, 0.03}: the L1 point of the platform's
    regularisation axis. Every lookback fits. When ``alpha`` removes every column the
    forecast is the constant mean return (a model found nothing).
    """

    name = "lasso"
    version = 1
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=0.15,
        lookback_use="flattened window (lookback x features columns)",
    )
    param_grid: ClassVar = {"alpha": (0.003, 0.01, 0.03)}
    search_space: ClassVar = {"alpha": FloatRange(1e-4, 1.0, log=True)}
    test_params: ClassVar = {}

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = alpha

    def penalty(self) -> tuple[float, float]:
        return float(self.alpha), 1.0
