"""GRU: it carries information across the window (a signal five bars back is learned),
and stacking adds inter-layer dropout only where torch applies it."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from architectures.deep._nets import GRUNet
from architectures.deep.gru import GRU


def _lagged(n: int, lag: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of 8 bars x 2 features; y is feature 0 ``lag`` bars before the current bar."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8, 2)).astype(np.float32)
    y = 0.01 * X[:, -1 - lag, 0] + 0.002 * rng.standard_normal(n)
    return X, y


def test_learns_a_signal_five_bars_back() -> None:
    X, y = _lagged(1200, 5, seed=0)
    X_test, y_test = _lagged(400, 5, seed=1)
    model = GRU(hidden_size=16, epochs=15, batch_size=32, lr=5e-3)
    model.fit(X, y, seed=0, groups=np.repeat([0, 1], 600))
    corr = float(np.corrcoef(model.predict(X_test), y_test)[0, 1])
    assert corr > 0.8, corr


def test_stacked_layers_and_dropout() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when dropout is set on a single layer
        one = GRU(num_layers=1, dropout=0.3)._network((8, 2))
    two = GRU(num_layers=2, dropout=0.3)._network((8, 2))
    assert isinstance(one, GRUNet) and isinstance(two, GRUNet)
    assert isinstance(one.gru, torch.nn.GRU) and one.gru.num_layers == 1 and one.gru.dropout == 0
    assert two.gru.num_layers == 2 and two.gru.dropout == 0.3
