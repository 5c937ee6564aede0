"""A Transformer encoder regressor on the lookback window (torch, CPU).

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first;
every bar of the window is one token. Each bar's features are embedded linearly into
``d_model`` dimensions and the fixed sinusoidal positional encoding of Vaswani et al.
is added (self-attention alone ignores order). ``num_layers`` pre-norm encoder layers
(multi-head self-attention and a ReLU feed-forward block of width ``dim_feedforward``,
each with a residual connection and dropout) follow, then a final layer norm. With
``causal=True`` a token attends only to itself and earlier bars (a decoder-style mask);
with ``causal=False`` every token sees the whole window. Both are causal with respect
to the forecast: the window holds only bars up to the current one. The head reads the
current bar's token (``pooling="last"``) or the mean of all tokens (``"mean"``) through
dropout and a linear layer and predicts the forward return (``output="return"``).

Lookbacks: 14, 30 and 60. Over 7 tokens attention has little to choose from (the
recurrent models cover short windows at a fraction of the cost), and attention's cost
grows with the square of the window: at 90 bars a fit costs about three times one at
30 for no shown gain on daily bars.

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
class Transformer(TorchRegressor):
    """Transformer encoder (sinusoidal positions, causal or full attention) over the window.

    Parameters:
        d_model          token width
        n_heads          attention heads (must divide ``d_model``)
        num_layers       encoder layers
        dim_feedforward  width of each layer's feed-forward block
        dropout          dropout in attention, feed-forward blocks and before the head
        causal           mask attention to earlier bars of the window
        pooling          "last" (the current bar's token) or "mean" (all tokens)
        epochs           maximum passes over the training rows
        lr               Adam learning rate
        batch_size       rows per gradient step
        weight_decay     Adam L2 penalty
        val_fraction     latest fraction of each asset's rows held out for early
                         stopping (0 disables early stopping)
        patience         epochs without a lower validation loss before stopping
        warm_epochs      maximum fine-tuning epochs of a warm start

    Grid: ``lr`` in {5e-4, 1e-3} (the platform's learning-rate axis).
    """

    name = "transformer"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        supports_warm_start=True,
        min_history=100,
        cost_hint=10.2,
        lookbacks=(14, 30, 60),
        lookback_use="sequence length (one token per bar)",
    )
    param_grid: ClassVar = {"lr": (5e-4, 1e-3)}
    search_space: ClassVar = {
        **TRAINING_SPACE,
        "d_model": Choice((16, 32, 64, 128)),
        "n_heads": Choice((1, 2, 4)),
        "num_layers": IntRange(1, 4),
        "causal": Choice((True, False)),
        "pooling": Choice(("last", "mean")),
    }
    test_params: ClassVar = {
        "d_model": 8,
        "n_heads": 2,
        "num_layers": 1,
        "dim_feedforward": 16,
        "epochs": 1,
        "batch_size": 64,
    }

    def __init__(
        self,
        d_model: int = 32,
        n_heads: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 64,
        dropout: float = 0.1,
        causal: bool = True,
        pooling: str = "last",
        epochs: int = 8,
        lr: float = 1e-3,
        batch_size: int = 256,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        patience: int = 2,
        warm_epochs: int = 1,
    ) -> None:
        self.d_model = d_model
        self.n_heads = n_heads
        self.num_layers = num_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.causal = causal
        self.pooling = pooling
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.patience = patience
        self.warm_epochs = warm_epochs

    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        from architectures.deep._nets import TransformerNet

        lookback, n_features = input_shape
        return TransformerNet(
            n_features,
            lookback,
            d_model=int(self.d_model),
            n_heads=int(self.n_heads),
            num_layers=int(self.num_layers),
            dim_feedforward=int(self.dim_feedforward),
            dropout=float(self.dropout),
            causal=bool(self.causal),
            pooling=str(self.pooling),
        )
