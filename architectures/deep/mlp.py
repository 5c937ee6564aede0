"""A multilayer perceptron regressor on the flattened lookback window (torch, CPU).

Input is ``"tabular"``: ``X`` of shape ``(n, lookback * n_features)``, the window
flattened lag-major (see `architectures.base`), so the lookback sets the input width:
every (bar, feature) cell of the window is one input. The network is
``num_layers x (linear -> ReLU -> dropout) -> linear`` and predicts the forward return
(``output="return"``). It has no notion of order in time — the cheapest deep baseline
the sequence models must beat.

Training, early stopping, warm starts, reproducibility and the saved state are those of
every deep architecture: see `architectures.deep._torch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from architectures.base import Tags
from architectures.deep._torch import TRAINING_SPACE, TorchRegressor
from architectures.registry import register
from architectures.search import Choice, IntRange

if TYPE_CHECKING:
    import torch


@register
class MLP(TorchRegressor):
    """Feed-forward network (ReLU, dropout) on the flattened window, MSE loss.

    Parameters:
        hidden_size    units of every hidden layer
        num_layers     hidden layers
        dropout        dropout after every hidden layer
        epochs         maximum passes over the training rows
        lr             Adam learning rate
        batch_size     rows per gradient step
        weight_decay   Adam L2 penalty
        val_fraction   latest fraction of each asset's rows held out for early stopping
                       (0 disables early stopping)
        patience       epochs without a lower validation loss before stopping
        warm_epochs    maximum fine-tuning epochs of a warm start

    Grid: ``hidden_size`` in {64, 256} x ``dropout`` in {0.1, 0.3} (the platform's
    hidden-size and dropout axes; the MLP is cheap enough for four combinations).
    """

    name = "mlp"
    version = 1
    tags = Tags(
        family="deep",
        input="tabular",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=1.1,
        lookback_use="flattened window (lookback x features inputs)",
    )
    param_grid: ClassVar = {"hidden_size": (64, 256), "dropout": (0.1, 0.3)}
    search_space: ClassVar = {
        **TRAINING_SPACE,
        "hidden_size": Choice((32, 64, 128, 256, 512)),
        "num_layers": IntRange(1, 4),
    }
    test_params: ClassVar = {"hidden_size": 8, "epochs": 1, "batch_size": 64}

    def __init__(
        self,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.2,
        epochs: int = 20,
        lr: float = 1e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        patience: int = 3,
        warm_epochs: int = 3,
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
        from architectures.deep._nets import MLPNet

        return MLPNet(
            input_shape[0], int(self.hidden_size), int(self.num_layers), float(self.dropout)
        )
