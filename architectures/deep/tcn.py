"""A temporal convolutional network (TCN, Bai et al. 2018) on the lookback window.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first.
The network stacks residual blocks; block ``i`` holds two causal 1-D convolutions of
width ``kernel_size`` and dilation ``2^i`` (ReLU and dropout after each) and adds its
input back (through a 1x1 convolution when the widths differ). "Causal": each output
position sees only its own bar and earlier ones (the sequence is padded on the left
only), so no position looks ahead even inside the window. The channels of the last
block at the current bar go to a linear head that predicts the forward return
(``output="return"``).

How the lookback is used: the number of blocks is the smallest whose receptive field
``1 + 2 (kernel_size - 1) (2^blocks - 1)`` covers the lookback (kernel 3: 2 blocks
cover 13 bars, 3 cover 29, 4 cover 61, 5 cover 125), so the forecast can depend on
every bar of the window and the network deepens logarithmically with the lookback. The
original TCN's weight normalisation is left out: Adam and gradient clipping keep these
shallow stacks stable.

Lookbacks: 14, 30, 60 and 90. At 7 bars a TCN is a two-block convolution over a window
that the MLP and the recurrent models already cover at lower cost; its dilations pay off
on longer windows.

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
class TCN(TorchRegressor):
    """Causal dilated convolutions with residual blocks covering the window, linear head.

    Parameters:
        channels       convolution channels of every block
        kernel_size    width of every convolution (2 or more)
        dropout        dropout after every convolution
        epochs         maximum passes over the training rows
        lr             Adam learning rate
        batch_size     rows per gradient step
        weight_decay   Adam L2 penalty
        val_fraction   latest fraction of each asset's rows held out for early stopping
                       (0 disables early stopping)
        patience       epochs without a lower validation loss before stopping
        warm_epochs    maximum fine-tuning epochs of a warm start

    Grid: ``dropout`` in {0.1, 0.2} (the platform's dropout axis).
    """

    name = "tcn"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=5.5,
        lookbacks=(14, 30, 60, 90),
        lookback_use="sequence length; sets the number of dilated blocks (receptive field)",
    )
    param_grid: ClassVar = {"dropout": (0.1, 0.2)}
    search_space: ClassVar = {
        **TRAINING_SPACE,
        "channels": Choice((16, 32, 64, 128)),
        "kernel_size": Choice((2, 3, 5)),
    }
    test_params: ClassVar = {"channels": 8, "epochs": 1, "batch_size": 64}

    def __init__(
        self,
        channels: int = 32,
        kernel_size: int = 3,
        dropout: float = 0.1,
        epochs: int = 8,
        lr: float = 1e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        patience: int = 2,
        warm_epochs: int = 1,
    ) -> None:
        self.channels = channels
        self.kernel_size = kernel_size
        self.dropout = dropout
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.patience = patience
        self.warm_epochs = warm_epochs

    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        from architectures.deep._nets import TCNNet

        lookback, n_features = input_shape
        return TCNNet(
            n_features, lookback, int(self.channels), int(self.kernel_size), float(self.dropout)
        )
