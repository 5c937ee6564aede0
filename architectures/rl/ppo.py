"""Proximal Policy Optimisation (stable-baselines3) trading positions {-1, 0, +1}.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``; output is a
position (``output="position"``). Training runs PPO with an MLP policy on
`architectures.rl.env.TradingEnv` (one step = one training sample, episodes through one
asset's contiguous rows, reward = position x forward return minus costs on position
changes). ``predict`` is the policy's deterministic action (the most probable one) for
every row, from one batched forward pass, mapped to -1 / 0 / +1.

Reward scale: rewards are multiplied by ``1 / std(y)`` of the training labels, so that
they are of order one whatever the bar frequency (daily returns have ``std ~ 1e-2``);
``cost_bps`` is scaled by the same factor and keeps its meaning relative to returns.

Discounting: the environment's next observation does not depend on the action, so the
future matters only through the cost of changing position; a small ``gamma`` (0.5)
credits that link without the variance of long bootstrapped returns.

Reproducibility: PPO and the ``n_envs`` environments are seeded from ``seed`` (env ``i``
with ``seed + i``); stable-baselines3 seeds Python's, numpy's and torch's global
generators, which ``fit`` restores afterwards. With one CPU thread the same seed gives
identical predictions.

Saved state: stable-baselines3's ``ppo.zip`` (``PPO.save``, loaded on the CPU) and
``training.json`` (the reward scale used in training).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from architectures.base import Architecture, Tags, require
from architectures.registry import register
from architectures.search import FloatRange, IntRange

MODEL_FILE = "ppo.zip"
TRAINING_FILE = "training.json"


@contextmanager
def _restore_global_rng() -> Iterator[None]:
    """Restore Python's, numpy's and torch's global random state on exit."""
    torch = require("torch")
    py_state = random.getstate()
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@register
class PPO(Architecture):
    """PPO (stable-baselines3, MLP policy) choosing short / flat / long from the window.

    Parameters:
        total_timesteps  environment steps of training (summed over the environments)
        n_envs           parallel environments in one process (batches the policy's
                         forward passes during rollouts; no threads)
        n_steps          steps per environment per rollout (rollout = n_steps x n_envs)
        batch_size       minibatch size of the PPO update
        n_epochs         passes over each rollout
        learning_rate    Adam learning rate
        gamma            discount factor
        gae_lambda       GAE lambda
        ent_coef         entropy bonus (keeps the policy exploring)
        clip_range       PPO ratio clipping
        hidden_size      units of each of the two hidden layers of the policy and of
                         the value network
        cost_bps         cost per unit of position change in the training reward
        episode_length   maximum steps of an episode
    """

    name = "ppo"
    version = 1
    tags = Tags(
        family="rl",
        input="sequence",
        output="position",
        min_history=100,
        cost_hint=8.0,
        lookback_use="observation window (flattened into the policy input)",
    )
    param_grid: ClassVar = {"ent_coef": (0.0, 0.01)}
    search_space: ClassVar = {
        "total_timesteps": IntRange(5_000, 100_000, log=True),
        "learning_rate": FloatRange(1e-5, 1e-3, log=True),
        "gamma": FloatRange(0.0, 0.99),
        "ent_coef": FloatRange(0.0, 0.05),
        "hidden_size": IntRange(16, 256, log=True),
    }
    test_params: ClassVar = {"total_timesteps": 256, "n_envs": 2, "n_steps": 64, "batch_size": 64}

    def __init__(
        self,
        total_timesteps: int = 20_000,
        n_envs: int = 16,
        n_steps: int = 64,
        batch_size: int = 256,
        n_epochs: int = 4,
        learning_rate: float = 3e-4,
        gamma: float = 0.5,
        gae_lambda: float = 0.9,
        ent_coef: float = 0.01,
        clip_range: float = 0.2,
        hidden_size: int = 64,
        cost_bps: float = 5.0,
        episode_length: int = 256,
    ) -> None:
        self.total_timesteps = total_timesteps
        self.n_envs = n_envs
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.ent_coef = ent_coef
        self.clip_range = clip_range
        self.hidden_size = hidden_size
        self.cost_bps = cost_bps
        self.episode_length = episode_length

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        sb3 = require("stable_baselines3", package="stable-baselines3")
        vec_env = require("stable_baselines3.common.vec_env", package="stable-baselines3")
        from architectures.rl.env import TradingEnv

        y_std = float(y.std())
        reward_scale = 1.0 / y_std if y_std > 0 else 1.0
        make_env = [
            partial(
                TradingEnv,
                X,
                y,
                groups,
                cost_bps=float(self.cost_bps),
                reward_scale=reward_scale,
                episode_length=int(self.episode_length),
                seed=seed + i,
            )
            for i in range(int(self.n_envs))
        ]
        hidden = int(self.hidden_size)
        with _restore_global_rng():
            env = vec_env.DummyVecEnv(make_env)
            model = sb3.PPO(
                "MlpPolicy",
                env,
                n_steps=int(self.n_steps),
                batch_size=int(self.batch_size),
                n_epochs=int(self.n_epochs),
                learning_rate=float(self.learning_rate),
                gamma=float(self.gamma),
                gae_lambda=float(self.gae_lambda),
                ent_coef=float(self.ent_coef),
                clip_range=float(self.clip_range),
                policy_kwargs={"net_arch": {"pi": [hidden, hidden], "vf": [hidden, hidden]}},
                seed=seed,
                device="cpu",
                verbose=0,
            )
            model.learn(total_timesteps=int(self.total_timesteps))
            env.close()
        model.env = None  # drop the environments (and their view of the training data)
        self.model_ = model
        self.reward_scale_ = reward_scale

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # A writable copy: torch warns on read-only arrays (Ray's object store gives those).
        obs = np.array(X.reshape(X.shape[0], -1), dtype=np.float32, copy=True)
        actions, _ = self.model_.policy.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.float64).reshape(-1) - 1.0

    def _save(self, path: Path) -> None:
        self.model_.save(path / MODEL_FILE)
        (path / TRAINING_FILE).write_text(json.dumps({"reward_scale": self.reward_scale_}))

    def _load(self, path: Path) -> None:
        sb3 = require("stable_baselines3", package="stable-baselines3")
        self.model_ = sb3.PPO.load(path / MODEL_FILE, device="cpu")
        self.reward_scale_ = float(json.loads((path / TRAINING_FILE).read_text())["reward_scale"])
