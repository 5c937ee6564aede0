"""LSTM architecture: the early-stopping split, the target scaling, early stopping
itself and RNG hygiene."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from architectures.deep.lstm import LSTM, latest_rows_mask

TINY: dict[str, Any] = {"hidden_size": 8, "batch_size": 64}


def test_latest_rows_mask_by_hand() -> None:
    groups = np.array([5] * 10 + [2] * 5)
    mask = latest_rows_mask(groups, 15, 0.2)
    # floor(0.2 * 10) = 2 latest rows of asset 5, floor(0.2 * 5) = 1 of asset 2
    assert np.flatnonzero(mask).tolist() == [8, 9, 14]
    assert np.flatnonzero(latest_rows_mask(None, 10, 0.3)).tolist() == [7, 8, 9]
    assert not latest_rows_mask(groups, 15, 0.0).any()


def test_predictions_are_on_the_scale_of_y() -> None:
    # y = 0.05 + tiny noise: a model trained on standardised targets must map back.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5, 2)).astype(np.float32)
    y = 0.05 + 1e-4 * rng.standard_normal(300)
    model = LSTM(**{**TINY, "epochs": 2}).fit(X, y, seed=0)
    assert model.y_mean_ == pytest.approx(y.mean())
    assert model.y_std_ == pytest.approx(y.std())
    pred = model.predict(X)
    assert np.abs(pred - 0.05).max() < 1e-3


def test_early_stopping_stops_on_noise_and_keeps_the_best_epoch() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 5, 2)).astype(np.float32)
    y = rng.standard_normal(600)
    groups = np.repeat([0, 1], 300)
    model = LSTM(**{**TINY, "epochs": 40, "patience": 2, "lr": 0.01})
    model.fit(X, y, seed=0, groups=groups)
    assert model.epochs_run_ < 40
    assert model.epochs_run_ == model.best_epoch_ + 2  # stopped after `patience` bad epochs

    full = LSTM(**{**TINY, "epochs": 3, "val_fraction": 0.0}).fit(X, y, seed=0)
    assert full.epochs_run_ == 3 and full.best_epoch_ == 3


def test_fit_restores_torch_and_numpy_global_state() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 4, 2)).astype(np.float32)
    y = rng.standard_normal(200)
    torch.manual_seed(5)
    np.random.seed(5)
    expected = (torch.rand(1).item(), np.random.random())
    torch.manual_seed(5)
    np.random.seed(5)
    LSTM(**{**TINY, "epochs": 1, "dropout": 0.5}).fit(X, y, seed=0)
    assert (torch.rand(1).item(), np.random.random()) == expected


def test_different_seeds_give_different_models() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 4, 2)).astype(np.float32)
    y = rng.standard_normal(200)
    a = LSTM(**{**TINY, "epochs": 1}).fit(X, y, seed=0).predict(X)
    b = LSTM(**{**TINY, "epochs": 1}).fit(X, y, seed=1).predict(X)
    assert not np.array_equal(a, b)
