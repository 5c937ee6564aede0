"""A compact Temporal Fusion Transformer (Lim et al., 2021) on the lookback window.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first;
the lookback is the encoder length (the past the model attends over). The network
(`architectures.deep._tft`) keeps the TFT's defining parts: a variable selection
network choosing among the features at every bar (softmax weights, one gated residual
network per feature), gated residual networks (GLU gating, layer norm) throughout, an
LSTM encoder for local processing with a gated skip connection, interpretable
multi-head attention of the current bar over the window (per-head queries and keys, one
shared value projection, heads averaged) with a gated skip, a position-wise GRN and the
final gated skip to the LSTM output, and a point head predicting the forward return
(``output="return"``). There are no static covariates and no known future inputs, so
the static encoders and the decoder LSTM of the full model are absent.

Interpretation: `TFT.interpret(X)` returns the variable-selection weights per bar and
feature (they sum to one over the features) and the attention of the current bar over
the window per head (summing to one over the window).

Lookbacks: 14, 30 and 60. The variable selection network runs one GRN per feature at
every bar, so the cost grows with ``lookback x n_features``; at 90 bars a fit costs three
times one at 30, and at 7 bars there is little for the attention to select from.

Training, early stopping, warm starts, reproducibility and the saved state are those of
every deep architecture: see `architectures.deep._torch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

import numpy as np

from architectures.base import Tags, require
from architectures.deep._torch import PREDICT_BATCH, TRAINING_SPACE, TorchRegressor
from architectures.registry import register
from architectures.search import Choice

if TYPE_CHECKING:
    import torch

    from architectures.deep._tft import TFTNet


@register
class TFT(TorchRegressor):
    """Temporal Fusion Transformer: variable selection, GRNs, LSTM, interpretable attention.

    Parameters:
        hidden_size    width ``d`` of every GRN, the LSTM and the attention
        n_heads        attention heads (must divide ``hidden_size``)
        dropout        dropout inside the GRNs, the gates and on the attention weights
        epochs         maximum passes over the training rows
        lr             Adam learning rate
        batch_size     rows per gradient step
        weight_decay   Adam L2 penalty
        val_fraction   latest fraction of each asset's rows held out for early stopping
                       (0 disables early stopping)
        patience       epochs without a lower validation loss before stopping
        warm_epochs    maximum fine-tuning epochs of a warm start

    Grid: ``dropout`` in {0.1, 0.2} (the platform's dropout axis; the hidden-size axis
    {64, 128, 256} is beyond a CPU budget for one GRN per feature and bar).
    """

    name = "tft"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=11.4,
        lookbacks=(14, 30, 60),
        lookback_use="encoder length (LSTM input and attention span)",
    )
    param_grid: ClassVar = {"dropout": (0.1, 0.2)}
    search_space: ClassVar = {
        **TRAINING_SPACE,
        "hidden_size": Choice((8, 16, 32, 64)),
        "n_heads": Choice((1, 2, 4)),
    }
    test_params: ClassVar = {"hidden_size": 8, "n_heads": 2, "epochs": 1, "batch_size": 64}

    def __init__(
        self,
        hidden_size: int = 16,
        n_heads: int = 2,
        dropout: float = 0.1,
        epochs: int = 8,
        lr: float = 1e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        patience: int = 2,
        warm_epochs: int = 1,
    ) -> None:
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.patience = patience
        self.warm_epochs = warm_epochs

    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        from architectures.deep._tft import TFTNet

        return TFTNet(input_shape[1], int(self.hidden_size), int(self.n_heads), float(self.dropout))

    def interpret(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Variable-selection weights ``(n, lookback, n_features)`` and the current bar's
        attention over the window ``(n, n_heads, lookback)`` of a fitted model."""
        torch = require("torch")
        self._check_fitted()
        X = self._check_X(X, fitting=False)
        weights, attention = [], []
        net = cast("TFTNet", self.net_)
        net.eval()
        with torch.no_grad():
            for start in range(0, X.shape[0], PREDICT_BATCH):
                parts = net.interpret(torch.tensor(X[start : start + PREDICT_BATCH]))
                weights.append(parts.variable_weights.numpy())
                attention.append(parts.attention.numpy())
        return np.concatenate(weights).astype(np.float64), np.concatenate(attention).astype(
            np.float64
        )
