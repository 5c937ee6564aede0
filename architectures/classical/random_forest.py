"""Random forest (scikit-learn) regressing the forward return on the flattened window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`); ``predict`` is the forest's average of
its trees' expected returns (``output="return"``). See `architectures.classical._forest`
for threading, seeding and the saved state.
"""

from __future__ import annotations

from typing import Any, ClassVar

from architectures.base import Tags
from architectures.classical._forest import TreeEnsemble
from architectures.registry import register
from architectures.search import FloatRange


@register
class RandomForest(TreeEnsemble):
    """Random forest: bagged regression trees, each grown on a bootstrap sample of
    ``max_samples`` of the rows and choosing every split among a random ``max_features``
    fraction of the window cells (``sklearn.ensemble.RandomForestRegressor``).

    Parameters (scikit-learn names):
        n_estimators      trees in the forest
        max_depth         depth limit of a tree (bounds the cost on long training windows)
        min_samples_leaf  fewest rows in a leaf; large values average out the noise of
                          daily returns (the main regularisation knob)
        max_features      fraction of the columns tried at each split
        max_samples       fraction of the rows in each tree's bootstrap sample (also halves
                          the fit time at the default 0.5)

    Grid: ``min_samples_leaf`` in {25, 100}. Every lookback fits (the window is
    flattened; the cost grows with its width through ``max_features``).
    """

    name = "random_forest"
    version = 1
    estimator_class = "RandomForestRegressor"
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=14.0,
        lookback_use="flattened window (lookback x features columns)",
    )
    search_space: ClassVar = {**TreeEnsemble.search_space, "max_samples": FloatRange(0.1, 1.0)}

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 8,
        min_samples_leaf: int = 50,
        max_features: float = 0.1,
        max_samples: float = 0.5,
    ) -> None:
        super().__init__(n_estimators, max_depth, min_samples_leaf, max_features)
        self.max_samples = max_samples

    def sampling_kwargs(self) -> dict[str, Any]:
        return {"bootstrap": True, "max_samples": float(self.max_samples)}
