"""Proximal Policy Optimisation (stable-baselines3) trading positions {-1, 0, +1}.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, flattened into the
policy's observation (the lookback is the observation window); output is a position
(``output="position"``). Training runs PPO with an MLP policy on
`architectures.rl.env.TradingEnv`; rewards, prediction, warm starts, reproducibility and
the saved state (``ppo.zip``, ``training.json``) are those of every agent of the zoo:
see `architectures.rl._sb3`.

Discounting: the environment's next observation does not depend on the action, so the
future matters only through the cost of changing position; a small ``gamma`` (0.5)
credits that link without the variance of long bootstrapped returns.
"""

from __future__ import annotations

from typing import Any, ClassVar

from architectures.base import Tags
from architectures.registry import register
from architectures.rl._sb3 import SB3Agent
from architectures.search import FloatRange, IntRange


@register
class PPO(SB3Agent):
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
        warm_timesteps   environment steps of a warm start (continuing from the
                         previous policy and value networks)

    Grid: ``ent_coef`` in {0.0, 0.01}.
    """

    name = "ppo"
    version = 1
    algorithm = "PPO"
    tags = Tags(
        family="rl",
        input="sequence",
        output="position",
        supports_warm_start=True,
        min_history=100,
        cost_hint=1.1,
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
    test_params: ClassVar = {
        "total_timesteps": 256,
        "n_envs": 2,
        "n_steps": 64,
        "batch_size": 64,
        "warm_timesteps": 128,
    }

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
        warm_timesteps: int = 5_000,
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
        self.warm_timesteps = warm_timesteps

    def _algorithm_kwargs(self, *, warm: bool) -> dict[str, Any]:
        hidden = int(self.hidden_size)
        return {
            "n_steps": int(self.n_steps),
            "batch_size": int(self.batch_size),
            "n_epochs": int(self.n_epochs),
            "learning_rate": float(self.learning_rate),
            "gamma": float(self.gamma),
            "gae_lambda": float(self.gae_lambda),
            "ent_coef": float(self.ent_coef),
            "clip_range": float(self.clip_range),
            "policy_kwargs": {"net_arch": {"pi": [hidden, hidden], "vf": [hidden, hidden]}},
        }
