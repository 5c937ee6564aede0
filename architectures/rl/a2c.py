"""Advantage Actor-Critic (stable-baselines3 A2C) trading positions {-1, 0, +1}.

A2C is the synchronous, deterministic form of A3C: instead of asynchronous workers each
pushing gradients, ``n_envs`` environments are stepped together for ``n_steps`` steps and
one gradient step is taken on the whole rollout — the policy-gradient loss with
advantages from generalised advantage estimation, the value loss (weight ``vf_coef``)
and an entropy bonus (``ent_coef``), optimised with RMSprop and gradient clipping at
``max_grad_norm``. Unlike PPO there is no ratio clipping and each rollout is used once,
so A2C is cheaper per environment step and needs more of them.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, flattened into the
policy's observation (the lookback is the observation window); output is a position
(``output="position"``). Environment, rewards, prediction, warm starts,
reproducibility and the saved state (``a2c.zip``, ``training.json``) are those of every
agent of the zoo: see `architectures.rl._sb3`. As for PPO, ``gamma`` is small (0.5): the
next observation does not depend on the action, only the cost of changing position links
one step to the next.
"""

from __future__ import annotations

from typing import Any, ClassVar

from architectures.base import Tags
from architectures.registry import register
from architectures.rl._sb3 import SB3Agent
from architectures.search import Choice, FloatRange, IntRange


@register
class A2C(SB3Agent):
    """A2C (stable-baselines3, the synchronous A3C) choosing short / flat / long.

    Parameters:
        total_timesteps  environment steps of training (summed over the environments)
        n_envs           environments stepped together (the synchronous "workers")
        n_steps          steps per environment per update (rollout = n_steps x n_envs)
        learning_rate    RMSprop learning rate
        gamma            discount factor
        gae_lambda       GAE lambda (1 = plain n-step advantages)
        ent_coef         entropy bonus (keeps the policy exploring)
        vf_coef          weight of the value loss
        max_grad_norm    gradient norm clipping
        hidden_size      units of each of the two hidden layers of the policy and of
                         the value network
        cost_bps         cost per unit of position change in the training reward
        episode_length   maximum steps of an episode
        warm_timesteps   environment steps of a warm start (continuing from the
                         previous policy and value networks)

    Grid: ``hidden_size`` in {64, 128} (the platform's hidden-size axis).
    """

    name = "a2c"
    version = 1
    algorithm = "A2C"
    tags = Tags(
        family="rl",
        input="sequence",
        output="position",
        supports_warm_start=True,
        min_history=100,
        cost_hint=0.9,
        lookback_use="observation window (flattened into the policy input)",
    )
    param_grid: ClassVar = {"hidden_size": (64, 128)}
    search_space: ClassVar = {
        "total_timesteps": IntRange(5_000, 200_000, log=True),
        "n_steps": IntRange(4, 64, log=True),
        "learning_rate": FloatRange(1e-5, 3e-3, log=True),
        "gamma": FloatRange(0.0, 0.99),
        "ent_coef": FloatRange(0.0, 0.05),
        "hidden_size": Choice((32, 64, 128, 256)),
    }
    test_params: ClassVar = {
        "total_timesteps": 256,
        "n_envs": 2,
        "n_steps": 8,
        "warm_timesteps": 128,
    }

    def __init__(
        self,
        total_timesteps: int = 30_000,
        n_envs: int = 16,
        n_steps: int = 8,
        learning_rate: float = 7e-4,
        gamma: float = 0.5,
        gae_lambda: float = 0.9,
        ent_coef: float = 0.01,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        hidden_size: int = 64,
        cost_bps: float = 5.0,
        episode_length: int = 256,
        warm_timesteps: int = 7_500,
    ) -> None:
        self.total_timesteps = total_timesteps
        self.n_envs = n_envs
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.ent_coef = ent_coef
        self.vf_coef = vf_coef
        self.max_grad_norm = max_grad_norm
        self.hidden_size = hidden_size
        self.cost_bps = cost_bps
        self.episode_length = episode_length
        self.warm_timesteps = warm_timesteps

    def _algorithm_kwargs(self, *, warm: bool) -> dict[str, Any]:
        hidden = int(self.hidden_size)
        return {
            "n_steps": int(self.n_steps),
            "learning_rate": float(self.learning_rate),
            "gamma": float(self.gamma),
            "gae_lambda": float(self.gae_lambda),
            "ent_coef": float(self.ent_coef),
            "vf_coef": float(self.vf_coef),
            "max_grad_norm": float(self.max_grad_norm),
            "policy_kwargs": {"net_arch": {"pi": [hidden, hidden], "vf": [hidden, hidden]}},
        }
