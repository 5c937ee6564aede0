"""Deep Q-Network (stable-baselines3 DQN) choosing among the positions {-1, 0, +1}.

DQN learns ``Q(s, a)``, the discounted reward of taking action ``a`` (short, flat,
long) for the window ``s``, by regressing on the one-step target
``r + gamma * max_a' Q_target(s', a')`` over mini-batches drawn from a replay buffer of
past transitions; ``Q_target`` is a copy of the Q-network refreshed every
``target_update_interval`` steps. Exploration is epsilon-greedy, epsilon falling
linearly from 1 to ``exploration_final_eps`` over the first ``exploration_fraction`` of
training. The position for a window is the greedy action ``argmax_a Q(s, a)`` mapped to
-1 / 0 / +1, so the agent only ever holds one of those three positions.

Input is ``"sequence"``: ``X`` of shape ``(n, lookback, n_features)``, flattened into the
Q-network's input (the lookback is the observation window); output is a position
(``output="position"``). Environment, rewards, prediction, warm starts,
reproducibility and the saved state (``dqn.zip``, ``training.json``) are those of every
agent of the zoo: see `architectures.rl._sb3`. A warm start copies the Q-network and its
target, starts with an empty replay buffer (buffers are not saved) and explores at
``exploration_final_eps`` from the start: the copied Q-network is already trained.
``gamma`` is small (0.5) for the reason given in `architectures.rl.ppo`.

Sizing: the reward of one step is mostly noise (a daily return's predictable part is a
small fraction of its variance), and a Q-network regresses those rewards directly, so it
overfits quickly. The defaults train little and wide: a small network (two layers of
32), large batches (256) and one gradient step every 4 steps of 8 environments (625
updates over 20,000 steps). On the synthetic planted market (tests/factory) more updates
or wider layers lowered the out-of-sample Sharpe (e.g. 5,000 updates of 64 transitions on
64-unit layers: 0.8 against 2.8).
"""

from __future__ import annotations

from typing import Any, ClassVar

from architectures.base import Tags
from architectures.registry import register
from architectures.rl._sb3 import SB3Agent
from architectures.search import Choice, FloatRange, IntRange


@register
class DQN(SB3Agent):
    """DQN (stable-baselines3, MLP Q-network) with discrete positions -1 / 0 / +1.

    Parameters:
        total_timesteps        environment steps of training (over all environments)
        n_envs                 environments stepped together
        learning_rate          Adam learning rate
        buffer_size            transitions kept in the replay buffer
        learning_starts        environment steps collected before the first update
        batch_size             transitions per gradient step
        train_freq             environment steps (per environment) between updates
        target_update_interval environment steps between target-network refreshes
        exploration_fraction   fraction of training over which epsilon falls from 1
        exploration_final_eps  final epsilon of the epsilon-greedy exploration
        gamma                  discount factor
        hidden_size            units of each of the two hidden layers of the Q-network
        cost_bps               cost per unit of position change in the training reward
        episode_length         maximum steps of an episode
        warm_timesteps         environment steps of a warm start (continuing from the
                               previous Q-network)

    Grid: ``hidden_size`` in {32, 64} (64 from the platform's hidden-size axis; wider
    Q-networks fit the noise of daily rewards, see the module docstring).
    """

    name = "dqn"
    version = 1
    algorithm = "DQN"
    tags = Tags(
        family="rl",
        input="sequence",
        output="position",
        supports_warm_start=True,
        min_history=100,
        cost_hint=1.9,
        lookback_use="observation window (flattened into the Q-network input)",
    )
    param_grid: ClassVar = {"hidden_size": (32, 64)}
    search_space: ClassVar = {
        "total_timesteps": IntRange(5_000, 200_000, log=True),
        "learning_rate": FloatRange(1e-5, 3e-3, log=True),
        "target_update_interval": IntRange(100, 5_000, log=True),
        "exploration_fraction": FloatRange(0.05, 0.5),
        "exploration_final_eps": FloatRange(0.01, 0.2),
        "gamma": FloatRange(0.0, 0.99),
        "hidden_size": Choice((32, 64, 128, 256)),
    }
    test_params: ClassVar = {
        "total_timesteps": 256,
        "n_envs": 2,
        "learning_starts": 64,
        "batch_size": 32,
        "warm_timesteps": 128,
    }

    def __init__(
        self,
        total_timesteps: int = 20_000,
        n_envs: int = 8,
        learning_rate: float = 5e-4,
        buffer_size: int = 20_000,
        learning_starts: int = 1_000,
        batch_size: int = 256,
        train_freq: int = 4,
        target_update_interval: int = 1_000,
        exploration_fraction: float = 0.3,
        exploration_final_eps: float = 0.05,
        gamma: float = 0.5,
        hidden_size: int = 32,
        cost_bps: float = 5.0,
        episode_length: int = 256,
        warm_timesteps: int = 5_000,
    ) -> None:
        self.total_timesteps = total_timesteps
        self.n_envs = n_envs
        self.learning_rate = learning_rate
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.batch_size = batch_size
        self.train_freq = train_freq
        self.target_update_interval = target_update_interval
        self.exploration_fraction = exploration_fraction
        self.exploration_final_eps = exploration_final_eps
        self.gamma = gamma
        self.hidden_size = hidden_size
        self.cost_bps = cost_bps
        self.episode_length = episode_length
        self.warm_timesteps = warm_timesteps

    def _algorithm_kwargs(self, *, warm: bool) -> dict[str, Any]:
        hidden = int(self.hidden_size)
        final_eps = float(self.exploration_final_eps)
        return {
            "learning_rate": float(self.learning_rate),
            "buffer_size": int(self.buffer_size),
            "learning_starts": int(self.learning_starts),
            "batch_size": int(self.batch_size),
            "train_freq": int(self.train_freq),
            "gradient_steps": 1,
            "target_update_interval": int(self.target_update_interval),
            "exploration_fraction": float(self.exploration_fraction),
            "exploration_initial_eps": final_eps if warm else 1.0,
            "exploration_final_eps": final_eps,
            "gamma": float(self.gamma),
            "policy_kwargs": {"net_arch": [hidden, hidden]},
        }
