"""``sentiment`` — aggregates of a per-asset sentiment score series.

Input: ``sentiment_score`` (any provider scale, e.g. [-1, 1]) aligned to the bars as of
each bar by the factory, NaN on rows without a new observation; optionally
``sentiment_volume`` (number of items behind the score). Windows count panel rows
(timestamps): news arrives on calendar time, not on an asset's bars. Every value at row t
uses rows up to and including t.

Sentiment is sparse, and a NaN feature drops every sample whose window contains it, so
absence is encoded instead of propagated: after an asset's first observation, the *level*
is the last observed score carried forward (past to present only, never backwards) and
``sent_age`` says how old it is. Before the first observation everything is NaN.

With ``s_t`` the observed score (or NaN), ``L_t`` the last observed score at or before t:

=================  =================================================================================
``sent_level``     ``L_t``
``sent_age``       ``log(1 + bars since the last observation)`` (0 on a row with an observation)
``sent_change``    ``L_t - L_{t-1}``: the new score minus the previous one on a row with a new
                   observation, 0 otherwise
``sent_mean_k``    ``mean(L_{t-k+1..t})``, k in 5, 21
``sent_z_63``      ``(L_t - mean_63(L)) / std_63(L)`` over the last 63 rows (ddof=1; 0 when
                   ``L`` is constant over the window)
``sent_surprise``  ``s_t - mean_21(L)_{t-1}``: the new score minus what the trailing 21-row mean
                   expected before it; 0 on rows without a new observation
``sent_items``     (only with ``sentiment_volume``) ``log((1 + n_t) / (1 + mean_21(n)))``, the
                   number of items ``n_t`` (missing counts as 0 after the first observation)
                   relative to its trailing 21-row mean
=================  =================================================================================

Features are NaN where the asset has no bar. Warm-up: 62 rows after the first
observation (``sent_z_63``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.bar_clock import BarClock, feature_frame
from features.frame import FeatureFrame, Panel
from features.registry import feature_set
from features.rolling import lag, rolling_mean, rolling_zscore

MEANS = (5, 21)
Z_WINDOW = 63
SURPRISE_WINDOW = 21
ITEMS_WINDOW = 21
WARMUP = Z_WINDOW - 1


def carried_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(last finite value at or before each row, rows since it) for a ``T x N`` array;
    both NaN before the first finite value of a column."""
    observed = np.isfinite(x)
    rows = np.arange(x.shape[0], dtype=np.float64)[:, None]
    last_row = pd.DataFrame(np.where(observed, rows, np.nan)).ffill().to_numpy()
    level = pd.DataFrame(x).ffill().to_numpy()
    return level, rows - last_row


@feature_set(
    "sentiment",
    requires=("close", "sentiment_score"),
    optional=("sentiment_volume",),
    description="sentiment level, change, rolling mean, z-score, surprise",
)
def sentiment(panel: Panel) -> FeatureFrame:
    score = panel["sentiment_score"].to_numpy(dtype=np.float64)
    observed = np.isfinite(score)
    level, age = carried_forward(score)
    started = np.isfinite(level)
    columns: dict[str, np.ndarray] = {
        "sent_level": level,
        "sent_age": np.log1p(age),
        "sent_change": level - lag(level, 1),
    }
    for k in MEANS:
        columns[f"sent_mean_{k}"] = rolling_mean(level, k)
    columns[f"sent_z_{Z_WINDOW}"] = rolling_zscore(level, Z_WINDOW)
    expected = lag(rolling_mean(level, SURPRISE_WINDOW), 1)
    surprise = np.where(observed, score - expected, 0.0)
    surprise[~np.isfinite(expected)] = np.nan
    columns["sent_surprise"] = surprise
    if "sentiment_volume" in panel:
        items = panel["sentiment_volume"].to_numpy(dtype=np.float64)
        items = np.where(np.isfinite(items), items, np.where(started, 0.0, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            columns["sent_items"] = np.log1p(items) - np.log1p(rolling_mean(items, ITEMS_WINDOW))
    return feature_frame(columns, panel, BarClock.of(panel), compact=False)
