"""The training loop every deep architecture shares (architectures/deep/_torch.py): warm
starts start from the previous weights and keep them when fine-tuning does not help,
the global random state is restored, and every sequence model reads the whole window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from architectures import available, get
from architectures.deep._torch import TargetScaling, TorchRegressor
from architectures.deep.gru import GRU
from architectures.testing import synthetic_dataset

DEEP = sorted(s.name for s in available() if issubclass(s.load(), TorchRegressor))
SEQUENCE = sorted(n for n in DEEP if get(n).input == "sequence")
TINY: dict[str, Any] = {"hidden_size": 8, "batch_size": 64, "epochs": 2}


def _data(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6, 3)).astype(np.float32)
    y = 0.01 * X[:, -1, 0] + 0.01 * rng.standard_normal(n)
    return X, y, np.repeat([0, 1], n // 2)


def _weights(model: TorchRegressor) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.net_.state_dict().items()}


def test_every_deep_architecture_uses_the_shared_trainer() -> None:
    assert {"lstm", "gru", "gru_lstm", "bilstm", "mlp", "tcn", "transformer", "tft"} <= set(DEEP)


def test_target_scaling_round_trip_and_constant_target() -> None:
    y = np.array([0.01, -0.02, 0.03])
    s = TargetScaling.of(y)
    assert s.mean == pytest.approx(y.mean()) and s.std == pytest.approx(y.std())
    assert np.allclose(s.mean + s.std * s.standardise(y), y, atol=1e-9)
    assert TargetScaling.of(np.full(4, 0.5)).std == 1.0


def test_a_warm_start_begins_at_the_previous_weights() -> None:
    X, y, g = _data()
    previous = GRU(**TINY).fit(X, y, seed=0, groups=g)
    before = _weights(previous)
    # No fine-tuning epoch: the network is exactly the previous one, rescaled to new y.
    warm = GRU(**{**TINY, "warm_epochs": 0})
    previous.warm_epochs = 0  # same params, as the base class requires
    X2, y2, g2 = _data(seed=1)
    warm.fit(X2, y2, seed=3, groups=g2, warm_start=previous)
    assert warm.epochs_run_ == 0 and warm.best_epoch_ == 0
    for key, value in _weights(warm).items():
        assert torch.equal(value, before[key]), key
    for key, value in _weights(previous).items():
        assert torch.equal(value, before[key]), key  # previous untouched
    assert warm.y_mean_ == pytest.approx(y2.mean())  # scaling recomputed on the new rows
    cold = GRU(**{**TINY, "warm_epochs": 0}).fit(X2, y2, seed=3, groups=g2)
    assert not all(torch.equal(v, before[k]) for k, v in _weights(cold).items())


def test_a_warm_start_keeps_the_previous_weights_when_fine_tuning_hurts() -> None:
    X, y, g = _data()
    params = {**TINY, "lr": 50.0, "warm_epochs": 2, "patience": 5}
    previous = GRU(**{**params, "lr": 1e-2}).fit(X, y, seed=0, groups=g)
    previous.lr = 50.0  # same params as the warm model: a learning rate that wrecks the fit
    warm = GRU(**params).fit(X, y, seed=1, groups=g, warm_start=previous)
    assert warm.epochs_run_ == 2
    assert warm.best_epoch_ == 0  # neither diverged epoch beat the starting weights
    for key, value in _weights(warm).items():
        assert torch.equal(value, previous.net_.state_dict()[key]), key


def test_a_warm_start_runs_at_most_warm_epochs() -> None:
    X, y, g = _data()
    previous = GRU(**{**TINY, "epochs": 1, "warm_epochs": 3, "val_fraction": 0.0})
    previous.fit(X, y, seed=0, groups=g)
    warm = GRU(**{**TINY, "epochs": 1, "warm_epochs": 3, "val_fraction": 0.0})
    warm.fit(X, y, seed=0, groups=g, warm_start=previous)
    assert previous.epochs_run_ == 1 and warm.epochs_run_ == 3 == warm.best_epoch_


@pytest.mark.parametrize("name", DEEP)
def test_fit_and_warm_fit_restore_the_global_random_state(name: str) -> None:
    spec = get(name)
    data = synthetic_dataset(spec.tags, n_train=100, n_test=10, signal=0.5, seed=0)
    params = {**spec.test_params, "dropout": 0.5}

    def draw() -> tuple[float, float]:
        return torch.rand(1).item(), float(np.random.random())

    torch.manual_seed(5)
    np.random.seed(5)
    expected = draw()
    torch.manual_seed(5)
    np.random.seed(5)
    first = spec.build(params).fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    spec.build(params).fit(
        data.X_train, data.y_train, seed=1, groups=data.groups_train, warm_start=first
    )
    assert draw() == expected


@pytest.mark.parametrize("name", SEQUENCE)
def test_the_forecast_depends_on_the_oldest_bar_of_the_window(name: str) -> None:
    """Structure, not training: at initialisation the gradient of the forecast with
    respect to every bar of the window, the oldest included, is non-zero (the recurrent
    state, the TCN's receptive field, the attention reach back to the first bar)."""
    spec = get(name)
    model = spec.build(spec.test_params)
    assert isinstance(model, TorchRegressor)
    lookback = 30
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = model._network((lookback, 4))
    net.eval()
    x = torch.randn(16, lookback, 4, requires_grad=True)
    net(x).sum().backward()
    assert x.grad is not None
    per_bar = x.grad.abs().sum(dim=(0, 2))
    assert (per_bar > 0).all(), per_bar
