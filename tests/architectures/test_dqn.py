"""DQN: positions are the greedy action of the Q-network, only -1, 0 or +1; a warm start
explores at the final epsilon from its first step; the replay buffer is not kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from architectures.rl.dqn import DQN
from architectures.testing import synthetic_dataset

TINY: dict[str, Any] = {
    "total_timesteps": 400,
    "n_envs": 2,
    "learning_starts": 64,
    "batch_size": 32,
}


def test_positions_are_greedy_q_actions_in_minus_one_zero_one() -> None:
    data = synthetic_dataset(DQN.tags, n_train=200, n_test=100, signal=0.7, seed=0)
    model = DQN(**TINY).fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    obs = torch.tensor(data.X_test.reshape(len(data.X_test), -1))
    with torch.no_grad():
        q = model.model_.policy.q_net(obs).numpy()
    assert q.shape == (len(data.X_test), 3)
    pred = model.predict(data.X_test)
    assert set(np.unique(pred)) <= {-1.0, 0.0, 1.0}
    assert np.array_equal(pred, q.argmax(axis=1) - 1.0)


def test_a_warm_start_explores_at_the_final_epsilon() -> None:
    data = synthetic_dataset(DQN.tags, n_train=200, n_test=20, signal=0.7, seed=0)
    params = {**TINY, "exploration_final_eps": 0.07, "warm_timesteps": 128}
    cold = DQN(**params).fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    assert cold.model_.exploration_initial_eps == 1.0
    assert cold.model_.exploration_rate == 0.07  # the schedule ended at its floor
    warm = DQN(**params).fit(
        data.X_train, data.y_train, seed=1, groups=data.groups_train, warm_start=cold
    )
    assert warm.model_.exploration_initial_eps == 0.07 == warm.model_.exploration_rate
    assert cold.model_.replay_buffer is None and warm.model_.replay_buffer is None
