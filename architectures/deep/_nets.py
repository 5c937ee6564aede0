"""The torch networks of the small deep architectures (imported lazily by their modules).

Every network maps a batch of samples to ``(batch,)`` standardised forecasts; sequence
networks take ``(batch, lookback, n_features)`` with the oldest bar first, so position
``lookback - 1`` is the current bar. Weights are initialised from torch's global
generator (torch's default initialisations), in the order the submodules are created.
The Temporal Fusion Transformer lives in `architectures.deep._tft`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LSTMNet(nn.Module):
    """``LSTM -> output at the current bar -> dropout -> linear``."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1, :])).squeeze(-1)


class GRUNet(nn.Module):
    """``GRU -> output at the current bar -> dropout -> linear``."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.gru = nn.GRU(
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(self.dropout(out[:, -1, :])).squeeze(-1)


class GRULSTMNet(nn.Module):
    """``GRU -> dropout -> LSTM -> output at the current bar -> dropout -> linear``: the
    GRU's hidden sequence is the LSTM's input sequence."""

    def __init__(self, n_features: int, hidden_size: int, dropout: float):
        super().__init__()
        self.gru = nn.GRU(input_size=n_features, hidden_size=hidden_size, batch_first=True)
        self.lstm = nn.LSTM(input_size=hidden_size, hidden_size=hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, _ = self.gru(x)
        out, _ = self.lstm(self.dropout(seq))
        return self.head(self.dropout(out[:, -1, :])).squeeze(-1)


class BiLSTMNet(nn.Module):
    """Bidirectional LSTM over the window: the forward direction's state after the
    current bar and the backward direction's state after the oldest bar (it reads the
    window from the current bar back), concatenated -> dropout -> linear."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=True,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)  # h_n: (num_layers * 2, batch, hidden), last layer last
        both = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        return self.head(self.dropout(both)).squeeze(-1)


class MLPNet(nn.Module):
    """``num_layers x (linear -> ReLU -> dropout) -> linear`` on the flattened window."""

    def __init__(self, n_inputs: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_inputs
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


# -- TCN ---------------------------------------------------------------------------


def tcn_receptive_field(levels: int, kernel_size: int) -> int:
    """Bars seen by the last output of ``levels`` residual blocks of two causal
    convolutions each with dilation ``2^i`` in block ``i``: ``1 + 2 (k - 1) (2^levels - 1)``."""
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


def tcn_levels(lookback: int, kernel_size: int) -> int:
    """The fewest residual blocks whose receptive field covers the whole window."""
    levels = 1
    while tcn_receptive_field(levels, kernel_size) < lookback:
        levels += 1
    return levels


class CausalConv1d(nn.Conv1d):
    """A 1-D convolution whose output at time t sees inputs at t, t - d, ..., t - (k-1) d
    only: the sequence is padded with ``(k - 1) d`` zeros on the left (the past), none on
    the right, so the output has the input's length and no position sees its future."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))


class TemporalBlock(nn.Module):
    """Residual block: ``ReLU(x' + drop(ReLU(conv2(drop(ReLU(conv1(x)))))))`` with causal
    dilated convolutions; ``x'`` is ``x`` or a 1x1 convolution when widths differ."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = CausalConv1d(c_in, c_out, kernel_size, dilation)
        self.conv2 = CausalConv1d(c_out, c_out, kernel_size, dilation)
        self.dropout = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout(F.relu(self.conv1(x)))
        out = self.dropout(F.relu(self.conv2(out)))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class TCNNet(nn.Module):
    """Temporal convolutional network: residual blocks of causal dilated convolutions
    (dilation 1, 2, 4, ...), enough of them to cover ``lookback`` (`tcn_levels`); the
    last block's channels at the current bar -> linear."""

    def __init__(
        self, n_features: int, lookback: int, channels: int, kernel_size: int, dropout: float
    ):
        super().__init__()
        self.levels = tcn_levels(lookback, kernel_size)
        self.blocks = nn.ModuleList(
            TemporalBlock(n_features if i == 0 else channels, channels, kernel_size, 2**i, dropout)
            for i in range(self.levels)
        )
        self.head = nn.Linear(channels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, lookback, n_features)`` -> the last block's ``(batch, channels,
        lookback)`` feature map (position t depends on bars up to t only)."""
        out = x.transpose(1, 2)
        for block in self.blocks:
            out = block(out)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[:, :, -1]).squeeze(-1)


# -- Transformer encoder -------------------------------------------------------------


def sinusoidal_encoding(length: int, d_model: int) -> torch.Tensor:
    """The fixed positional encoding of Vaswani et al.: ``PE[p, 2i] = sin(p / 10000^(2i/d))``,
    ``PE[p, 2i+1] = cos(...)``, shape ``(length, d_model)``."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * rate)
    pe[:, 1::2] = torch.cos(position * rate)[:, : d_model // 2]
    return pe


class TransformerNet(nn.Module):
    """Linear embedding of each bar + sinusoidal positions -> pre-norm Transformer
    encoder (causal or full self-attention over the window) -> final layer norm ->
    the current bar's token (``pooling="last"``) or the mean over tokens -> linear."""

    positions: torch.Tensor  # (lookback, d_model) buffer
    mask: torch.Tensor | None  # (lookback, lookback) additive causal mask, or None

    def __init__(
        self,
        n_features: int,
        lookback: int,
        d_model: int,
        n_heads: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        causal: bool,
        pooling: str,
    ):
        super().__init__()
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.embed = nn.Linear(n_features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, 1)
        # Not parameters: rebuilt identically from the shape, so not in the state_dict.
        self.register_buffer("positions", sinusoidal_encoding(lookback, d_model), persistent=False)
        mask = nn.Transformer.generate_square_subsequent_mask(lookback) if causal else None
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x) + self.positions
        encoded = self.norm(self.encoder(tokens, mask=self.mask))
        pooled = encoded[:, -1, :] if self.pooling == "last" else encoded.mean(dim=1)
        return self.head(self.dropout(pooled)).squeeze(-1)
