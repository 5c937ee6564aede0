"""A small LSTM regressor on the lookback window (torch, CPU).

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first;
the lookback is the sequence length the LSTM reads. The network is ``LSTM -> output at
the current bar -> dropout -> linear`` and predicts the forward return
(``output="return"``).

Training, early stopping, warm starts, reproducibility and the saved state are those of
every deep architecture: see `architectures.deep._torch` (target standardised on the
training rows, Adam, gradient clipping, early stopping on each asset's latest rows,
warm starts fine-tuning the previous weights for ``warm_epochs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from architectures.base import Tags
from architectures.deep._torch import TorchRegressor, latest_rows_mask
from architectures.registry import register
from architectures.search import FloatRange, IntRange

if TYPE_CHECKING:
    import torch

__all__ = ["LSTM", "latest_rows_mask"]


@register
class LSTM(TorchRegressor):
    """LSTM over the lookback window with a linear head, MSE on the standardised return.

    Parameters:
        hidden_size    LSTM units per layer
        num_layers     stacked LSTM layers
        dropout        dropout before the head (and between LSTM layers if stacked)
        epochs         maximum passes over the training rows
        lr             Adam learning rate
        batch_size     rows per gradient step
        weight_decay   Adam L2 penalty
        val_fraction   latest fraction of each asset's rows held out for early stopping
                       (0 disables early stopping)
        patience       epochs without a lower validation loss before stopping
        warm_epochs    maximum fine-tuning epochs of a warm start

    Grid: ``hidden_size`` in {16, 32}.
    """

    name = "lstm"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=0.8,
        lookback_use="sequence length",
    )
    param_grid: ClassVar = {"hidden_size": (16, 32)}
    search_space: ClassVar = {
        "hidden_size": IntRange(8, 256, log=True),
        "num_layers": IntRange(1, 3),
        "dropout": FloatRange(0.0, 0.5),
        "epochs": IntRange(1, 30),
        "lr": FloatRange(1e-4, 1e-2, log=True),
        "weight_decay": FloatRange(1e-6, 1e-2, log=True),
    }
    test_params: ClassVar = {"hidden_size": 8, "epochs": 1, "batch_size": 64}

    def __init__(
        self,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        epochs: int = 5,
        lr: float = 2e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        patience: int = 2,
        warm_epochs: int = 1,
    ) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.patience = patience
        self.warm_epochs = warm_epochs

    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        from architectures.deep._nets import LSTMNet

        return LSTMNet(
            input_shape[1], int(self.hidden_size), int(self.num_layers), float(self.dropout)
        )
