"""A2C: one synchronous gradient step per rollout of n_steps x n_envs steps (A3C without
the asynchrony), RMSprop, and positions from the policy's most probable action."""

from __future__ import annotations

import numpy as np
import torch

from architectures.rl.a2c import A2C
from architectures.testing import synthetic_dataset


def test_one_update_per_synchronous_rollout() -> None:
    data = synthetic_dataset(A2C.tags, n_train=120, n_test=20, signal=0.5, seed=0)
    model = A2C(total_timesteps=480, n_envs=4, n_steps=8, hidden_size=16)
    model.fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    agent = model.model_
    assert agent.n_envs == 4 and agent.n_steps == 8
    assert agent.num_timesteps == 480 and agent._n_updates == 480 // (4 * 8)
    assert isinstance(agent.policy.optimizer, torch.optim.RMSprop)


def test_positions_are_the_most_probable_action() -> None:
    data = synthetic_dataset(A2C.tags, n_train=120, n_test=40, signal=0.5, seed=1)
    model = A2C(total_timesteps=256, n_envs=2, n_steps=8, hidden_size=16)
    model.fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    obs = torch.tensor(data.X_test.reshape(len(data.X_test), -1))
    with torch.no_grad():
        probs = model.model_.policy.get_distribution(obs).distribution.probs.numpy()
    assert np.array_equal(model.predict(data.X_test), probs.argmax(axis=1) - 1.0)
