"""A compact Temporal Fusion Transformer network (Lim et al., 2021) for one-step forecasts.

Notation follows the paper. ``x`` is ``(batch, lookback, n_features)``, oldest bar first;
``d`` is the hidden size. There are no static covariates (the engine pools assets and
passes no asset identity to ``predict``) and no known future inputs (the forecast is for
the bar after the window), so the static encoders, the static contexts ``c_s, c_e, c_c,
c_h`` and the decoder LSTM are absent; everything else is kept:

1. Input embedding: every feature ``j`` of every bar gets its own linear embedding
   ``xi_j = W_j x_j + b_j`` in ``R^d``.
2. Variable selection network (per bar): weights
   ``v = softmax(GRN_v([xi_1, ..., xi_F]))`` over the ``F`` features, each feature
   processed by its own ``GRN_j``, and the bar's input ``xi~ = sum_j v_j GRN_j(xi_j)``.
   The weights sum to one over the features (`TFTNet.interpret` returns them).
3. LSTM encoder over the selected inputs, then a gated skip connection
   ``phi~ = LayerNorm(xi~ + GLU(phi))``.
4. Enrichment ``theta = GRN(phi~)`` (no static context).
5. Interpretable multi-head attention at the current bar (the last position): every
   head ``h`` has its own query and key projections, all heads share one value
   projection ``W_V``, and the heads' outputs are *averaged*,
   ``H~ = (1/m_H) sum_h A_h theta W_V``, ``out = H~ W_H``. Only the current bar's query
   is computed: its attention over the window is exactly the last row of the causal
   (decoder-masked) attention of the paper, and the later layers are position-wise,
   so the other queries cannot reach the forecast.
6. Gated skip ``delta = LayerNorm(theta_t + GLU(out))``, position-wise feed-forward
   ``psi = GRN(delta)`` and the final gated skip to the LSTM layer,
   ``psi~ = LayerNorm(phi~_t + GLU(psi))``.
7. Point head: ``linear(psi~)``, trained on the squared error of the standardised
   return (the engine needs a point forecast; quantile heads would need a loss the
   engine does not read).

GRN (gated residual network): ``GRN(a) = LayerNorm(skip(a) + GLU(W_1 ELU(W_2 a + b_2)
+ b_1))`` with ``GLU(g) = (W_4 g + b_4) * sigmoid(W_5 g + b_5)``, dropout before the GLU,
``skip`` the identity or a linear map when widths differ.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F


class GLU(nn.Module):
    """Gated linear unit ``(W_4 g + b_4) * sigmoid(W_5 g + b_5)``."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, 2 * d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.linear(x).chunk(2, dim=-1)
        return value * torch.sigmoid(gate)


class GateAddNorm(nn.Module):
    """Gated skip connection ``LayerNorm(skip + GLU(dropout(x)))``."""

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.glu = GLU(d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + self.glu(self.dropout(x)))


class GRN(nn.Module):
    """Gated residual network ``LayerNorm(skip(a) + GLU(dropout(W_1 ELU(W_2 a + b_2) +
    b_1)))`` from ``d_in`` to ``d_out`` features."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float):
        super().__init__()
        self.fc2 = nn.Linear(d_in, d_hidden)
        self.fc1 = nn.Linear(d_hidden, d_hidden)
        self.dropout = nn.Dropout(dropout)
        self.glu = GLU(d_hidden, d_out)
        self.norm = nn.LayerNorm(d_out)
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else None

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        skip = a if self.skip is None else self.skip(a)
        hidden = self.fc1(F.elu(self.fc2(a)))
        return self.norm(skip + self.glu(self.dropout(hidden)))


class PerVariableLinear(nn.Module):
    """``n_vars`` independent linear maps applied to ``(..., n_vars, d_in)``, one per
    variable (a batched form of ``n_vars`` separate ``nn.Linear``; same initialisation)."""

    def __init__(self, n_vars: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(n_vars, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_vars, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...vi,vio->...vo", x, self.weight) + self.bias


class PerVariableGRN(nn.Module):
    """``n_vars`` independent GRNs of width ``d`` (one per variable, batched): each has
    its own weights and its own layer-norm gain and bias."""

    def __init__(self, n_vars: int, d: int, dropout: float):
        super().__init__()
        self.fc2 = PerVariableLinear(n_vars, d, d)
        self.fc1 = PerVariableLinear(n_vars, d, d)
        self.dropout = nn.Dropout(dropout)
        self.glu = PerVariableLinear(n_vars, d, 2 * d)
        self.norm_weight = nn.Parameter(torch.ones(n_vars, d))
        self.norm_bias = nn.Parameter(torch.zeros(n_vars, d))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        hidden = self.fc1(F.elu(self.fc2(a)))
        value, gate = self.glu(self.dropout(hidden)).chunk(2, dim=-1)
        out = F.layer_norm(a + value * torch.sigmoid(gate), (a.shape[-1],))
        return out * self.norm_weight + self.norm_bias


class VariableSelection(nn.Module):
    """Variable selection network: per-feature embeddings, softmax selection weights
    from a GRN over all of them, per-feature GRNs, weighted sum."""

    def __init__(self, n_features: int, d: int, dropout: float):
        super().__init__()
        bound = 1.0  # nn.Linear's initialisation for one input
        self.embed_weight = nn.Parameter(torch.empty(n_features, d).uniform_(-bound, bound))
        self.embed_bias = nn.Parameter(torch.empty(n_features, d).uniform_(-bound, bound))
        self.select = GRN(n_features * d, d, n_features, dropout)
        self.variables = PerVariableGRN(n_features, d, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(..., F)`` -> the selected input ``(..., d)`` and the weights ``(..., F)``."""
        xi = x.unsqueeze(-1) * self.embed_weight + self.embed_bias  # (..., F, d)
        weights = torch.softmax(self.select(xi.flatten(-2)), dim=-1)
        selected = (weights.unsqueeze(-1) * self.variables(xi)).sum(dim=-2)
        return selected, weights


class InterpretableAttention(nn.Module):
    """Interpretable multi-head attention of the current bar over the window: per-head
    query and key projections, one value projection shared by every head, heads
    averaged (not concatenated), then ``W_H``."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"hidden_size {d} must be a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.d_head = d // n_heads
        self.query = nn.Linear(d, d)  # n_heads blocks of d_head
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, self.d_head)  # shared by every head
        self.out = nn.Linear(self.d_head, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q`` ``(batch, d)``, ``kv`` ``(batch, L, d)`` -> output ``(batch, d)`` and the
        attention weights ``(batch, n_heads, L)`` (each row sums to one)."""
        batch, length, _ = kv.shape
        queries = self.query(q).view(batch, self.n_heads, self.d_head)
        keys = self.key(kv).view(batch, length, self.n_heads, self.d_head)
        scores = torch.einsum("bhe,blhe->bhl", queries, keys) / math.sqrt(self.d_head)
        attention = torch.softmax(scores, dim=-1)
        values = self.value(kv)  # (batch, L, d_head)
        heads = torch.einsum("bhl,ble->bhe", self.dropout(attention), values)
        return self.out(heads.mean(dim=1)), attention


class TFTParts(NamedTuple):
    """A forward pass with its interpretable pieces."""

    forecast: torch.Tensor  # (batch,)
    variable_weights: torch.Tensor  # (batch, lookback, n_features), sums to 1 over features
    attention: torch.Tensor  # (batch, n_heads, lookback), sums to 1 over the window


class TFTNet(nn.Module):
    """The Temporal Fusion Transformer of the module docstring."""

    def __init__(self, n_features: int, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.selection = VariableSelection(n_features, d, dropout)
        self.lstm = nn.LSTM(d, d, batch_first=True)
        self.lstm_gate = GateAddNorm(d, dropout)
        self.enrichment = GRN(d, d, d, dropout)
        self.attention = InterpretableAttention(d, n_heads, dropout)
        self.attention_gate = GateAddNorm(d, dropout)
        self.feed_forward = GRN(d, d, d, dropout)
        self.output_gate = GateAddNorm(d, dropout)
        self.head = nn.Linear(d, 1)

    def interpret(self, x: torch.Tensor) -> TFTParts:
        selected, weights = self.selection(x)  # (B, L, d), (B, L, F)
        phi, _ = self.lstm(selected)
        phi = self.lstm_gate(phi, selected)
        theta = self.enrichment(phi)
        current = theta[:, -1, :]
        attended, attention = self.attention(current, theta)
        delta = self.attention_gate(attended, current)
        psi = self.output_gate(self.feed_forward(delta), phi[:, -1, :])
        return TFTParts(self.head(psi).squeeze(-1), weights, attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.interpret(x).forecast
