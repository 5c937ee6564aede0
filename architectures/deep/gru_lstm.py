"""A GRU-LSTM hybrid regressor on the lookback window (torch, CPU).

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first;
the lookback is the sequence length. A GRU layer reads the window and its hidden state
at every bar becomes the input sequence of an LSTM layer (dropout in between); the
LSTM's output at the current bar goes through dropout to a linear head that predicts
the forward return (``output="return"``). The GRU acts as a cheap learned feature
extractor per bar, the LSTM's cell state as the longer memory.

Training, early stopping, warm starts, reproducibility and the saved state are those of
every deep architecture: see `architectures.deep._torch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from architectures.base import Tags
from architectures.deep._torch import TRAINING_SPACE, TorchRegressor
from architectures.registry import register
from architectures.search import Choice

if TYPE_CHECKING:
    import torch


@register
class GRULSTM(TorchRegressor):
    """GRU layer feeding an LSTM layer over the window, linear head, MSE loss.

    Parameters:
        hidden_size    units of the GRU layer and of the LSTM layer
        dropout        dropout between the two layers and before the head
        epochs         maximum passes over the training rows
        lr             Adam learning rate
        batch_size     rows per gradient step
        weight_decay   Adam L2 penalty
        val_fraction   latest fraction of each asset's rows held out for early stopping
                       (0 disables early stopping)
        patience       epochs without a lower validation loss before stopping
        warm_epochs    maximum fine-tuning epochs of a warm start

    Grid: ``lr`` in {5e-4, 1e-3} (the platform's learning-rate axis).
    """

    name = "gru_lstm"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=5.0,
        lookback_use="sequence length",
    )
    param_grid: ClassVar = {"lr": (5e-4, 1e-3)}
    search_space: ClassVar = {**TRAINING_SPACE, "hidden_size": Choice((32, 64, 128, 256))}
    test_params: ClassVar = {"hidden_size": 8, "epochs": 1, "batch_size": 64}

    def __init__(
        self,
        hidden_size: int = 64,
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
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.patience = patience
        self.warm_epochs = warm_epochs

    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        from architectures.deep._nets import GRULSTMNet

        return GRULSTMNet(input_shape[1], int(self.hidden_size), float(self.dropout))
