"""Extremely randomised trees (scikit-learn) regressing the forward return on the
flattened window.

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`); ``predict`` is the ensemble's average of
its trees' expected returns (``output="return"``). See `architectures.classical._forest`
for threading, seeding and the saved state.
"""

from __future__ import annotations

from architectures.base import Tags
from architectures.classical._forest import TreeEnsemble
from architectures.registry import register


@register
class ExtraTrees(TreeEnsemble):
    """Extra trees: every tree sees all rows, and each split draws one random threshold per
    candidate column (among a random ``max_features`` fraction of the window cells) and
    keeps the best (``sklearn.ensemble.ExtraTreesRegressor``). The random thresholds make
    the trees smoother and cheaper than a random forest's.

    Parameters (scikit-learn names):
        n_estimators      trees in the ensemble
        max_depth         depth limit of a tree
        min_samples_leaf  fewest rows in a leaf; large values average out the noise of
                          daily returns (the main regularisation knob)
        max_features      fraction of the columns tried at each split

    Grid: ``min_samples_leaf`` in {25, 100}. Every lookback fits.
    """

    name = "extra_trees"
    version = 1
    estimator_class = "ExtraTreesRegressor"
    tags = Tags(
        family="classical",
        input="tabular",
        output="return",
        min_history=100,
        cost_hint=6.0,
        lookback_use="flattened window (lookback x features columns)",
    )
