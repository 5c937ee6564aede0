"""Temporal Fusion Transformer: variable-selection weights sum to one over the features,
interpretable attention shares one value projection and averages its heads, the GRN
follows its formula, per-feature GRNs are independent, and variable selection puts its
weight on the feature that carries the signal."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from architectures.deep._tft import GRN, InterpretableAttention, PerVariableGRN, TFTNet
from architectures.deep.tft import TFT
from architectures.testing import synthetic_dataset


def test_grn_by_hand() -> None:
    torch.manual_seed(0)
    grn = GRN(4, 5, 4, dropout=0.0).eval()
    a = torch.randn(3, 4)
    eta2 = F.elu(a @ grn.fc2.weight.T + grn.fc2.bias)
    eta1 = eta2 @ grn.fc1.weight.T + grn.fc1.bias
    g = eta1 @ grn.glu.linear.weight.T + grn.glu.linear.bias
    glu = g[:, :4] * torch.sigmoid(g[:, 4:])
    expected = F.layer_norm(a + glu, (4,), grn.norm.weight, grn.norm.bias)
    assert torch.allclose(grn(a), expected, atol=1e-6)
    assert GRN(6, 5, 4, dropout=0.0).skip is not None  # widths differ: projected skip


def test_interpretable_attention_shares_values_and_averages_heads() -> None:
    torch.manual_seed(0)
    att = InterpretableAttention(d=8, n_heads=4, dropout=0.0).eval()
    assert att.value.weight.shape == (2, 8)  # one value projection of width d / n_heads
    q, kv = torch.randn(3, 8), torch.randn(3, 5, 8)
    out, weights = att(q, kv)
    assert weights.shape == (3, 4, 5)
    assert torch.allclose(weights.sum(dim=-1), torch.ones(3, 4))
    values = att.value(kv)
    heads = []
    for h in range(4):
        qh = att.query(q)[:, 2 * h : 2 * h + 2]
        kh = att.key(kv)[:, :, 2 * h : 2 * h + 2]
        a = torch.softmax(torch.einsum("be,ble->bl", qh, kh) / np.sqrt(2), dim=-1)
        assert torch.allclose(a, weights[:, h], atol=1e-6)
        heads.append(torch.einsum("bl,ble->be", a, values))
    assert torch.allclose(out, att.out(torch.stack(heads).mean(dim=0)), atol=1e-6)


def test_per_variable_grns_are_independent() -> None:
    torch.manual_seed(0)
    grns = PerVariableGRN(n_vars=3, d=4, dropout=0.0).eval()
    a = torch.randn(2, 3, 4)
    changed = a.clone()
    changed[:, 1, :] += 1.0
    diff = (grns(changed) - grns(a)).abs().sum(dim=(0, 2))
    assert diff[0] == 0 and diff[2] == 0 and diff[1] > 0
    assert not torch.allclose(grns.fc1.weight[0], grns.fc1.weight[1])  # own weights each


def test_selection_and_attention_weights_are_distributions() -> None:
    torch.manual_seed(0)
    net = TFTNet(n_features=3, d=8, n_heads=2, dropout=0.1).eval()
    parts = net.interpret(torch.randn(5, 7, 3))
    assert parts.forecast.shape == (5,)
    assert parts.variable_weights.shape == (5, 7, 3) and parts.attention.shape == (5, 2, 7)
    assert (parts.variable_weights >= 0).all() and (parts.attention >= 0).all()
    assert torch.allclose(parts.variable_weights.sum(-1), torch.ones(5, 7))
    assert torch.allclose(parts.attention.sum(-1), torch.ones(5, 2))


def test_variable_selection_weights_the_informative_feature() -> None:
    # y depends on feature 0 at the current bar only (the contract checks' data).
    data = synthetic_dataset(TFT.tags, n_train=600, n_test=200, signal=0.7, seed=3)
    model = TFT().fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    weights, attention = model.interpret(data.X_test)
    current = weights[:, -1, :].mean(axis=0)  # mean weight per feature at the current bar
    assert current.argmax() == 0 and current[0] > 0.5, current
    assert np.allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert attention.shape == (data.X_test.shape[0], 2, 8)
