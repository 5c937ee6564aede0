"""The training loop every deep architecture shares (torch, CPU), and their base class.

A deep architecture subclasses `TorchRegressor`, declares the common training parameters
in its ``__init__`` (``epochs``, ``lr``, ``batch_size``, ``weight_decay``,
``val_fraction``, ``patience``, ``warm_epochs``) next to its own, and writes one method,
``_network(input_shape)``, returning a ``torch.nn.Module`` that maps a batch of samples
``(batch, *input_shape)`` to ``(batch,)`` standardised forecasts. Everything else —
fitting, warm starts, prediction, saving — is here, so every deep model is trained the
same way:

Target scaling
    the target is standardised on the training rows, ``z = (y - mean(y)) / std(y)``
    (``std = 1`` when ``y`` is constant); the loss is the mean squared error on ``z`` and
    ``predict`` maps back, ``pred = mean(y) + std(y) * net(X)``, so forecasts are on the
    scale of ``y``.

Optimisation
    Adam with learning rate ``lr`` and L2 penalty ``weight_decay`` (torch's coupled
    form), gradient norm clipped at `GRAD_CLIP`, mini-batches of ``batch_size`` rows in
    an order drawn afresh every epoch from ``numpy.random.default_rng(seed)``.

Early stopping (``val_fraction > 0``)
    the validation rows are the latest ``floor(val_fraction * n_asset)`` rows of every
    asset (rows reach ``fit`` ordered by asset, then time; see `latest_rows_mask`),
    never a shuffled sample, so the model is always validated on bars after those it
    was trained on. Training stops after ``patience`` epochs without a lower
    validation loss and keeps the weights of the best epoch; validation rows are not
    trained on. With fewer than `MIN_VALIDATION_ROWS` validation rows early stopping is
    off and every epoch runs on all rows. For horizons ``h > 1`` the last ``h - 1``
    training labels of an asset overlap its first validation labels; this only makes
    the stopping rule slightly optimistic, it never leaks into out-of-sample bars.

Warm starts (``fit(..., warm_start=previous)``)
    the network starts from ``previous``'s weights (a copy; ``previous`` is untouched)
    and is fine-tuned for at most ``warm_epochs`` epochs with a fresh Adam state, the
    same early-stopping rule and a target scaling recomputed on the new rows. The
    starting weights compete as "epoch 0": if no fine-tuning epoch lowers the
    validation loss, the previous weights are kept. Only saved state is used (weights
    and scaling), so a warm start from a loaded model equals one from the in-memory one.

Reproducibility
    weights are initialised and dropout drawn from torch's global generator seeded with
    ``seed`` inside ``torch.random.fork_rng`` (the caller's random state is restored);
    with one CPU thread the same seed gives bit-identical predictions. Prediction runs
    in eval mode in batches of `PREDICT_BATCH` rows; a row's forecast depends on its
    own window only.

Cost: each module's ``tags.cost_hint`` is measured — CPU seconds of one default fit on
8 assets x 1,000 rows, lookback 30, 10 features, one thread, divided by those of a
default LightGBM fit on the same data (2.3 s).

Saved state: ``model.pt`` (the ``state_dict``, loaded with ``weights_only=True``) and
``scaling.json`` (target mean and standard deviation, epochs run, best epoch).
"""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from architectures.base import Architecture, require
from architectures.search import FloatRange, IntRange, Space

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "model.pt"
SCALING_FILE = "scaling.json"
MIN_VALIDATION_ROWS = 20
PREDICT_BATCH = 4096
GRAD_CLIP = 1.0

# Search ranges of the training parameters every deep architecture shares; a module adds
# its own (``{**TRAINING_SPACE, "hidden_size": ...}``).
TRAINING_SPACE: dict[str, Space] = {
    "dropout": FloatRange(0.0, 0.5),
    "epochs": IntRange(1, 30),
    "lr": FloatRange(1e-4, 1e-2, log=True),
    "weight_decay": FloatRange(1e-6, 1e-2, log=True),
}


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


@dataclass(frozen=True)
class TrainSettings:
    """One training run: at most ``epochs`` passes (see the module docstring)."""

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    val_fraction: float
    patience: int


@dataclass(frozen=True)
class TrainOutcome:
    """How a training run ended: epochs run and the epoch whose weights were kept
    (0 = the starting weights of a warm start)."""

    epochs_run: int
    best_epoch: int


@dataclass(frozen=True)
class TargetScaling:
    """``z = (y - mean) / std`` on the training rows."""

    mean: float
    std: float

    @classmethod
    def of(cls, y: np.ndarray) -> TargetScaling:
        std = float(y.std())
        return cls(float(y.mean()), std if std > 0 else 1.0)

    def standardise(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.mean) / self.std).astype(np.float32)


def forward(net: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    """Standardised forecasts for ``X`` in eval mode, ``PREDICT_BATCH`` rows at a time
    (``float64``). The network's train/eval mode is restored afterwards."""
    torch = require("torch")
    was_training = net.training
    net.eval()
    out = np.empty(X.shape[0], dtype=np.float64)
    with torch.no_grad():
        for start in range(0, X.shape[0], PREDICT_BATCH):
            chunk = torch.tensor(X[start : start + PREDICT_BATCH])  # a copy: X may be read-only
            out[start : start + chunk.shape[0]] = net(chunk).numpy()
    net.train(was_training)
    return out


def train(
    net: torch.nn.Module,
    X: np.ndarray,
    z: np.ndarray,
    *,
    groups: np.ndarray | None,
    settings: TrainSettings,
    seed: int,
    warm: bool = False,
) -> TrainOutcome:
    """Train ``net`` in place on ``X`` -> ``z`` (standardised targets) with Adam,
    gradient clipping and early stopping on each asset's latest rows; on return ``net``
    holds the best epoch's weights and is in eval mode. ``warm``: the starting weights
    are a candidate (epoch 0), as in a warm start. Call inside ``torch.random.fork_rng``
    with the global generator seeded (dropout draws from it); the batch order comes from
    ``numpy.random.default_rng(seed)``."""
    torch = require("torch")
    val = latest_rows_mask(groups, X.shape[0], float(settings.val_fraction))
    if val.sum() < MIN_VALIDATION_ROWS:
        val[:] = False
    train_rows = np.flatnonzero(~val)
    val_rows = np.flatnonzero(val)

    # Mini-batches are gathered with numpy fancy indexing (a fresh, writable copy), so X
    # may be read-only (Ray's object store hands out read-only arrays).
    z_t = torch.from_numpy(z)
    order_rng = np.random.default_rng(seed)
    batch = max(1, int(settings.batch_size))
    opt = torch.optim.Adam(
        net.parameters(), lr=float(settings.lr), weight_decay=float(settings.weight_decay)
    )
    loss_fn = torch.nn.MSELoss()

    def validation_loss() -> float:
        return float(np.mean((forward(net, X[val_rows]) - z[val_rows]) ** 2))

    def snapshot() -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    best_loss = math.inf
    best_state: dict[str, Any] | None = None
    best_epoch = 0
    if warm and val_rows.size:
        best_loss, best_state = validation_loss(), snapshot()
    stale = 0
    epochs_run = 0
    for epoch in range(1, int(settings.epochs) + 1):
        net.train()
        perm = order_rng.permutation(train_rows)
        for start in range(0, perm.size, batch):
            rows = perm[start : start + batch]
            opt.zero_grad()
            loss = loss_fn(net(torch.from_numpy(X[rows])), z_t[torch.from_numpy(rows)])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
            opt.step()
        epochs_run = epoch
        if val_rows.size == 0:
            continue
        val_loss = validation_loss()
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = snapshot()
        else:
            stale += 1
            if stale >= int(settings.patience):
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        best_epoch = epochs_run
    net.eval()
    return TrainOutcome(epochs_run=epochs_run, best_epoch=best_epoch)


class TorchRegressor(Architecture):
    """Base of the deep architectures: a torch network regressing the standardised
    forward return (see the module docstring for training, warm starts, saved state).

    Subclasses define ``_network`` and an ``__init__`` that takes (at least) the
    training parameters annotated below, with defaults.
    """

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    val_fraction: float
    patience: int
    warm_epochs: int

    net_: torch.nn.Module
    y_mean_: float
    y_std_: float
    epochs_run_: int
    best_epoch_: int

    @abstractmethod
    def _network(self, input_shape: tuple[int, ...]) -> torch.nn.Module:
        """A fresh network for samples of shape ``input_shape`` (``X.shape[1:]``) mapping
        ``(batch, *input_shape)`` float32 to ``(batch,)``; its initial weights are drawn
        from torch's global generator."""

    def train_settings(self, *, warm: bool) -> TrainSettings:
        """The training run of a cold fit (``epochs``) or a warm start (``warm_epochs``)."""
        return TrainSettings(
            epochs=int(self.warm_epochs if warm else self.epochs),
            lr=float(self.lr),
            batch_size=int(self.batch_size),
            weight_decay=float(self.weight_decay),
            val_fraction=float(self.val_fraction),
            patience=int(self.patience),
        )

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        self._train(X, y, seed=seed, groups=groups, previous=None)

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        if not isinstance(previous, TorchRegressor):  # the base class checked the type
            raise TypeError(f"cannot warm-start {self.name} from {type(previous).__name__}")
        self._train(X, y, seed=seed, groups=groups, previous=previous)

    def _train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: TorchRegressor | None,
    ) -> None:
        torch = require("torch")
        scaling = TargetScaling.of(y)
        z = scaling.standardise(y)
        warm = previous is not None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = self._network(tuple(int(s) for s in X.shape[1:]))
            if previous is not None:
                net.load_state_dict(previous.net_.state_dict())  # copies the values
            outcome = train(
                net,
                X,
                z,
                groups=groups,
                settings=self.train_settings(warm=warm),
                seed=seed,
                warm=warm,
            )
        self.net_ = net
        self.y_mean_ = scaling.mean
        self.y_std_ = scaling.std
        self.epochs_run_ = outcome.epochs_run
        self.best_epoch_ = outcome.best_epoch

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.y_mean_ + self.y_std_ * forward(self.net_, X)

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
            net = self._network(tuple(int(s) for s in self.input_shape_))
        net.load_state_dict(torch.load(path / WEIGHTS_FILE, weights_only=True))
        net.eval()
        self.net_ = net
        self.y_mean_ = float(scaling["y_mean"])
        self.y_std_ = float(scaling["y_std"])
        self.epochs_run_ = int(scaling["epochs_run"])
        self.best_epoch_ = int(scaling["best_epoch"])
