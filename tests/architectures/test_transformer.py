"""Transformer encoder: the sinusoidal positional encoding by hand, the causal mask, and
that the positions make the forecast depend on the order of the bars."""

from __future__ import annotations

import math

import pytest
import torch

from architectures.deep._nets import TransformerNet, sinusoidal_encoding


def _net(causal: bool, pooling: str = "last", seed: int = 0) -> TransformerNet:
    torch.manual_seed(seed)
    return TransformerNet(
        n_features=3,
        lookback=6,
        d_model=8,
        n_heads=2,
        num_layers=2,
        dim_feedforward=16,
        dropout=0.0,
        causal=causal,
        pooling=pooling,
    ).eval()


def test_sinusoidal_encoding_by_hand() -> None:
    pe = sinusoidal_encoding(2, 4)
    # rates 10000^(-0/4) = 1 and 10000^(-2/4) = 0.01
    expected = [[0.0, 1.0, 0.0, 1.0], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]]
    assert torch.allclose(pe, torch.tensor(expected))


def _encoded(net: TransformerNet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.encoder(net.embed(x) + net.positions, mask=net.mask)


def test_causal_attention_hides_later_bars_and_full_attention_does_not() -> None:
    x = torch.randn(2, 6, 3)
    changed = x.clone()
    changed[:, 3, :] += 1.0
    causal = _net(causal=True)
    diff = (_encoded(causal, changed) - _encoded(causal, x)).abs().sum(dim=(0, 2))
    assert torch.all(diff[:3] < 1e-6) and torch.all(diff[3:] > 0)
    full = _net(causal=False)
    diff = (_encoded(full, changed) - _encoded(full, x)).abs().sum(dim=(0, 2))
    assert torch.all(diff > 1e-4)  # every token sees bar 3


@pytest.mark.parametrize("causal", [True, False])
def test_the_order_of_the_bars_matters(causal: bool) -> None:
    # Mean pooling over full attention is permutation-invariant without positions; the
    # sinusoidal encoding breaks that symmetry.
    net = _net(causal=causal, pooling="mean")
    x = torch.randn(4, 6, 3)
    with torch.no_grad():
        assert not torch.allclose(net(x), net(x.flip(1)), atol=1e-5)
        net.positions.zero_()
        if not causal:
            assert torch.allclose(net(x), net(x.flip(1)), atol=1e-5)


def test_pooling_last_reads_the_current_bar_token() -> None:
    net = _net(causal=True, pooling="last")
    x = torch.randn(3, 6, 3)
    with torch.no_grad():
        token = net.norm(_encoded(net, x))[:, -1, :]
        assert torch.allclose(net(x), net.head(token).squeeze(-1))
    with pytest.raises(ValueError, match="pooling"):
        _net(causal=True, pooling="max")
