"""MLP: the input is the flattened window (one input per bar and feature), and a signal
in any cell of it is learned."""

from __future__ import annotations

import numpy as np
import torch

from architectures.deep.mlp import MLP


def test_every_cell_of_the_flattened_window_is_an_input() -> None:
    torch.manual_seed(0)
    net = MLP(hidden_size=16, num_layers=3)._network((8 * 3,))
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.in_features for m in linears] == [24, 16, 16, 16]
    x = torch.randn(10, 24, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None and (x.grad.abs().sum(dim=0) > 0).all()


def test_learns_a_signal_in_the_oldest_bar() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1600, 8 * 3)).astype(np.float32)
    y = 0.01 * X[:, 2] + 0.003 * rng.standard_normal(1600)  # oldest bar, third feature
    groups = np.repeat([0, 1], 800)
    model = MLP().fit(X[:1200], y[:1200], seed=0, groups=groups[:1200])
    corr = float(np.corrcoef(model.predict(X[1200:]), y[1200:])[0, 1])
    assert corr > 0.8, corr
