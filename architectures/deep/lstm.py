"""A small LSTM regressor on the lookback window (torch, CPU).

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, oldest bar first.
The network is ``LSTM -> last hidden state -> dropout -> linear`` and predicts the
forward return (``output="return"``).

Training
    * the target is standardised on the training rows, ``z = (y - mean(y)) / std(y)``,
      and the loss is the mean squared error on ``z``; ``predict`` maps back,
      ``pred = mean(y) + std(y) * net(X)``, so predictions are on the scale of ``y``;
    * Adam with learning rate ``lr`` and L2 penalty ``weight_decay`` (torch's coupled
      form), gradient norm clipped at 1, mini-batches of ``batch_size`` rows in an
      order drawn afresh every epoch from a generator seeded with ``seed``;
    * early stopping (``val_fraction > 0``): the validation rows are the latest
      ``floor(val_fraction * n_asset)`` rows of every asset (rows reach ``fit`` ordered by
      asset, then time), never a shuffled sample, so the model is always validated on
      bars after the ones it was trained on. Training stops after ``patience`` epochs
      without a lower validation loss and keeps the weights of the best epoch; the
      validation rows are not trained on (the price of an honest stopping rule is not
      learning from the latest ``val_fraction`` of the window). When the validation
      rows would be fewer than ``MIN_VALIDATION_ROWS`` early stopping is off and all
      ``epochs`` run on all rows. For horizons ``h > 1`` the last ``h - 1``
      training labels of an asset overlap its first validation labels; this only makes
      the stopping rule slightly optimistic, it never leaks into out-of-sample bars.

Reproducibility: weights are initialised and dropout is drawn from torch's global
generator seeded with ``seed`` inside ``torch.random.fork_rng`` (the caller's random
state is restored afterwards); mini-batch order comes from ``numpy`` seeded with
``seed``. With one CPU thread the same seed gives bit-identical predictions.

Saved state: ``model.pt`` (the ``state_dict``, loaded with ``weights_only=True``) and
``scaling.json`` (the target mean and standard deviation, the epochs trained).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.registry import register
from architectures.search import FloatRange, IntRange

WEIGHTS_FILE = "model.pt"
SCALING_FILE = "scaling.json"
MIN_VALIDATION_ROWS = 20
PREDICT_BATCH = 4096


def latest_rows_mask(groups: np.ndarray | None, n: int, fraction: float) -> np.ndarray:
    """Boolean mask of the latest ``floor(fraction * n_g)`` rows of every group.

    Rows must be ordered by time within each group (the order in which ``fit``
    receives them), so "latest" means "last in order of appearance". ``groups=None``
    treats all rows as one series.
    """
    mask = np.zeros(n, dtype=bool)
    if fraction <= 0:
        return mask
    if groups is None:
        k = math.floor(fraction * n)
        if k:
            mask[n - k :] = True
        return mask
    for code in np.unique(groups):
        rows = np.flatnonzero(groups == code)
        k = math.floor(fraction * rows.size)
        if k:
            mask[rows[rows.size - k :]] = True
    return mask


def _make_network(n_features: int, hidden_size: int, num_layers: int, dropout: float) -> Any:
    """``LSTM -> last hidden state -> dropout -> linear`` as a ``ModuleDict`` (run it with
    `_run_network`), initialised from torch's global generator."""
    nn = require("torch").nn
    return nn.ModuleDict(
        {
            "lstm": nn.LSTM(
                input_size=n_features,
                hidden_size=hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            ),
            "dropout": nn.Dropout(dropout),
            "head": nn.Linear(hidden_size, 1),
        }
    )


def _run_network(net: Any, x: Any) -> Any:
    """Forward pass: ``(batch, lookback, n_features)`` -> ``(batch,)``."""
    out, _ = net["lstm"](x)
    return net["head"](net["dropout"](out[:, -1, :])).squeeze(-1)


@register
class LSTM(Architecture):
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
    """

    name = "lstm"
    version = 1
    tags = Tags(
        family="deep",
        input="sequence",
        output="return",
        min_history=100,
        cost_hint=4.0,
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

    def _network(self, n_features: int) -> Any:
        return _make_network(
            n_features, int(self.hidden_size), int(self.num_layers), float(self.dropout)
        )

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        torch = require("torch")
        y_mean = float(y.mean())
        y_std = float(y.std())
        if not y_std > 0:
            y_std = 1.0
        z = ((y - y_mean) / y_std).astype(np.float32)

        val = latest_rows_mask(groups, X.shape[0], float(self.val_fraction))
        if val.sum() < MIN_VALIDATION_ROWS:
            val[:] = False
        train_rows = np.flatnonzero(~val)
        val_rows = np.flatnonzero(val)

        # Mini-batches are gathered with numpy fancy indexing (a fresh, writable copy), so
        # X may be read-only (Ray's object store hands out read-only arrays).
        z_t = torch.from_numpy(z)
        order_rng = np.random.default_rng(seed)
        batch = max(1, int(self.batch_size))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._network(X.shape[2])
            opt = torch.optim.Adam(
                net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay)
            )
            loss_fn = torch.nn.MSELoss()
            best_loss = math.inf
            best_state: dict[str, Any] | None = None
            best_epoch = 0
            stale = 0
            epochs_run = 0
            for epoch in range(1, int(self.epochs) + 1):
                net.train()
                perm = order_rng.permutation(train_rows)
                for start in range(0, perm.size, batch):
                    rows = perm[start : start + batch]
                    opt.zero_grad()
                    loss = loss_fn(
                        _run_network(net, torch.from_numpy(X[rows])), z_t[torch.from_numpy(rows)]
                    )
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                epochs_run = epoch
                if val_rows.size == 0:
                    continue
                val_loss = float(np.mean((self._forward(net, X[val_rows]) - z[val_rows]) ** 2))
                if val_loss < best_loss:
                    best_loss, best_epoch, stale = val_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= int(self.patience):
                        break
            if best_state is not None:
                net.load_state_dict(best_state)

        net.eval()
        self.net_ = net
        self.y_mean_ = y_mean
        self.y_std_ = y_std
        self.epochs_run_ = epochs_run
        self.best_epoch_ = best_epoch if best_state is not None else epochs_run

    @staticmethod
    def _forward(net: Any, X: np.ndarray) -> np.ndarray:
        """Standardised predictions for ``X`` in eval mode, batch by batch."""
        torch = require("torch")
        was_training = net.training
        net.eval()
        out = np.empty(X.shape[0], dtype=np.float64)
        with torch.no_grad():
            for start in range(0, X.shape[0], PREDICT_BATCH):
                chunk = torch.tensor(X[start : start + PREDICT_BATCH])  # a copy
                out[start : start + chunk.shape[0]] = _run_network(net, chunk).numpy()
        net.train(was_training)
        return out

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.y_mean_ + self.y_std_ * self._forward(self.net_, X)

    def _save(self, path: Path) -> None:
        torch = require("torch")
        torch.save(self.net_.state_dict(), path / WEIGHTS_FILE)
        scaling = {
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
            "epochs_run": self.epochs_run_,
            "best_epoch": self.best_epoch_,
        }
        (path / SCALING_FILE).write_text(json.dumps(scaling, indent=2))

    def _load(self, path: Path) -> None:
        torch = require("torch")
        scaling = json.loads((path / SCALING_FILE).read_text())
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten
            net = self._network(int(self.input_shape_[1]))
        net.load_state_dict(torch.load(path / WEIGHTS_FILE, weights_only=True))
        net.eval()
        self.net_ = net
        self.y_mean_ = float(scaling["y_mean"])
        self.y_std_ = float(scaling["y_std"])
        self.epochs_run_ = int(scaling["epochs_run"])
        self.best_epoch_ = int(scaling["best_epoch"])
