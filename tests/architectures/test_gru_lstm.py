"""GRU-LSTM hybrid: the GRU's hidden sequence is the LSTM's input sequence, and the head
reads the LSTM's output at the current bar."""

from __future__ import annotations

import torch

from architectures.deep._nets import GRULSTMNet
from architectures.deep.gru_lstm import GRULSTM


def test_the_lstm_reads_the_gru_sequence() -> None:
    torch.manual_seed(0)
    net = GRULSTM(hidden_size=6)._network((5, 3))
    assert isinstance(net, GRULSTMNet)
    net.eval()
    assert isinstance(net.gru, torch.nn.GRU) and isinstance(net.lstm, torch.nn.LSTM)
    assert net.lstm.input_size == net.gru.hidden_size == 6
    x = torch.randn(4, 5, 3)
    with torch.no_grad():
        gru_seq, _ = net.gru(x)
        lstm_out, _ = net.lstm(gru_seq)
        by_hand = net.head(lstm_out[:, -1, :]).squeeze(-1)
        assert torch.allclose(net(x), by_hand)
        # Not an LSTM on the raw features: bypassing the GRU gives another forecast.
        assert not torch.allclose(
            net(x), net.head(net.lstm(net.gru(x)[0][:, :1])[0][:, -1]).squeeze(-1)
        )
