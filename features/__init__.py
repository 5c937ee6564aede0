"""Causal feature pipelines, lookback windowing and labels.

Usable on its own::

    from features import Panel, get_feature_set
    frame = get_feature_set("momentum")(Panel.from_long(bars))
"""

from features.frame import OHLCV, FeatureFrame, Panel
from features.registry import FeatureSet, feature_set, feature_sets, get_feature_set

__all__ = [
    "OHLCV",
    "FeatureFrame",
    "FeatureSet",
    "Panel",
    "feature_set",
    "feature_sets",
    "get_feature_set",
]
