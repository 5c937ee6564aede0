"""Bidirectional LSTM: the head reads the forward state after the current bar and the
backward state after the oldest bar (the backward pass over the whole window)."""

from __future__ import annotations

import torch

from architectures.deep._nets import BiLSTMNet
from architectures.deep.bilstm import BiLSTM


def test_the_head_reads_both_directions_over_the_whole_window() -> None:
    torch.manual_seed(0)
    net = BiLSTM(hidden_size=5)._network((7, 3))
    assert isinstance(net, BiLSTMNet)
    net.eval()
    assert net.lstm.bidirectional
    x = torch.randn(4, 7, 3)
    with torch.no_grad():
        out, _ = net.lstm(x)  # (batch, bar, [forward 5 | backward 5])
        forward_last = out[:, -1, :5]  # forward direction after the current bar
        backward_first = out[:, 0, 5:]  # backward direction after reading back to bar 0
        by_hand = net.head(torch.cat([forward_last, backward_first], dim=-1)).squeeze(-1)
        assert torch.allclose(net(x), by_hand)
        # The backward state at the current bar has seen only that bar: not what is used.
        shortcut = net.head(torch.cat([forward_last, out[:, -1, 5:]], dim=-1)).squeeze(-1)
        assert not torch.allclose(net(x), shortcut)


def test_the_oldest_bar_reaches_the_forecast_through_the_backward_direction() -> None:
    torch.manual_seed(1)
    net = BiLSTM(hidden_size=4)._network((6, 2))
    assert isinstance(net, BiLSTMNet)
    net.eval()
    x = torch.randn(3, 6, 2)
    with torch.no_grad():
        out, _ = net.lstm(x)
        changed = x.clone()
        changed[:, 0, :] += 1.0  # the oldest bar
        out2, _ = net.lstm(changed)
    # The backward state read by the head (position 0) moves; the forward state moves too.
    assert not torch.allclose(out[:, 0, 4:], out2[:, 0, 4:])
    assert not torch.allclose(out[:, -1, :4], out2[:, -1, :4])
