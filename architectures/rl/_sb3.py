"""What every stable-baselines3 agent of the zoo shares: training on `TradingEnv`,
warm starts, deterministic prediction, quiet logging, saving.

An agent subclasses `SB3Agent`, names its algorithm (``algorithm = "PPO"``, an attribute
of ``stable_baselines3``), takes the common parameters annotated on `SB3Agent` in its
``__init__`` and writes ``_algorithm_kwargs(warm=...)``: the algorithm's own keyword
arguments (network sizes included).

Training
    ``n_envs`` copies of `architectures.rl.env.TradingEnv` over the training samples
    (one step = one sample, episodes through one asset's rows, reward = position x
    forward return minus costs), stepped in one process by a ``DummyVecEnv``. Rewards
    are multiplied by ``1 / std(y)`` of the training labels so they are of order one
    whatever the bar frequency; ``cost_bps`` keeps its meaning relative to returns.

Prediction
    the policy's deterministic action (the most probable one; the greedy one for a
    Q-network) for every row, from one batched forward pass, mapped 0, 1, 2 -> -1, 0, +1.
    The observation is the row's window only, so predictions are row-wise.

Warm starts (``fit(..., warm_start=previous)``)
    a new agent with the same settings, seeded with ``seed``, copies ``previous``'s
    network parameters (policy and value networks; for DQN the Q-network and its target)
    and continues learning for ``warm_timesteps`` on the new rows with fresh optimiser
    state (``previous`` is untouched). Only the saved parameters are used, so a warm
    start from a loaded agent equals one from the in-memory agent.

Reproducibility
    the algorithm and environment ``i`` are seeded from ``seed`` (environment ``i`` with
    ``seed + i``); stable-baselines3 seeds Python's, numpy's and torch's global
    generators, which ``fit`` restores afterwards. With one CPU thread the same seed
    gives identical predictions.

No files outside the artifact: stable-baselines3's default logger creates a directory
``$TMPDIR/SB3-<date>`` on every ``learn`` even with ``verbose=0``; agents learn with a
logger that has no output and no folder, and never write a tensorboard log.

Cost: each module's ``tags.cost_hint`` is measured — CPU seconds of one default fit on
8 assets x 1,000 rows, lookback 30, 10 features, one thread, divided by those of a
default LightGBM fit on the same data (2.3 s).

Saved state: stable-baselines3's ``<algorithm>.zip`` (``save``, loaded on the CPU) and
``training.json`` (the reward scale used in training).
"""

from __future__ import annotations

import json
import random
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from architectures.base import Architecture, require

TRAINING_FILE = "training.json"
SB3 = "stable-baselines3"


@contextmanager
def restore_global_rng() -> Iterator[None]:
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


def silent_logger() -> Any:
    """A stable-baselines3 logger with no output format and no folder (writes nothing)."""
    logger = require("stable_baselines3.common.logger", package=SB3)
    return logger.Logger(folder=None, output_formats=[])


def reward_scale(y: np.ndarray) -> float:
    """``1 / std(y)`` (1 when ``y`` is constant): rewards of order one."""
    y_std = float(y.std())
    return 1.0 / y_std if y_std > 0 else 1.0


class SB3Agent(Architecture):
    """Base of the reinforcement-learning agents (see the module docstring)."""

    algorithm: ClassVar[str]

    total_timesteps: int
    n_envs: int
    cost_bps: float
    episode_length: int
    warm_timesteps: int

    model_: Any
    reward_scale_: float

    @abstractmethod
    def _algorithm_kwargs(self, *, warm: bool) -> dict[str, Any]:
        """Keyword arguments of the stable-baselines3 algorithm (besides the policy, the
        environment, the seed, the device and the verbosity). ``warm``: for a warm start
        (e.g. DQN explores less)."""

    @property
    def model_file(self) -> str:
        return f"{self.algorithm.lower()}.zip"

    def _fit(self, X: np.ndarray, y: np.ndarray, *, seed: int, groups: np.ndarray | None) -> None:
        self._learn(X, y, seed=seed, groups=groups, previous=None)

    def _fit_warm(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: Architecture,
    ) -> None:
        if not isinstance(previous, SB3Agent):  # the base class checked the type
            raise TypeError(f"cannot warm-start {self.name} from {type(previous).__name__}")
        self._learn(X, y, seed=seed, groups=groups, previous=previous)

    def _learn(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        groups: np.ndarray | None,
        previous: SB3Agent | None,
    ) -> None:
        sb3 = require("stable_baselines3", package=SB3)
        vec_env = require("stable_baselines3.common.vec_env", package=SB3)
        from architectures.rl.env import TradingEnv

        scale = reward_scale(y)
        make_env = [
            partial(
                TradingEnv,
                X,
                y,
                groups,
                cost_bps=float(self.cost_bps),
                reward_scale=scale,
                episode_length=int(self.episode_length),
                seed=seed + i,
            )
            for i in range(int(self.n_envs))
        ]
        warm = previous is not None
        with restore_global_rng():
            env = vec_env.DummyVecEnv(make_env)
            model = getattr(sb3, self.algorithm)(
                "MlpPolicy",
                env,
                **self._algorithm_kwargs(warm=warm),
                seed=seed,
                device="cpu",
                verbose=0,
            )
            if previous is not None:
                # Copies the values into the new policy (its optimiser keeps pointing at
                # the new parameters); the previous agent is not touched.
                model.policy.load_state_dict(previous.model_.policy.state_dict())
            model.set_logger(silent_logger())
            model.learn(total_timesteps=int(self.warm_timesteps if warm else self.total_timesteps))
            env.close()
        model.env = None  # drop the environments (and their view of the training data)
        if hasattr(model, "replay_buffer"):
            model.replay_buffer = None  # not needed to predict; not saved by stable-baselines3
        self.model_ = model
        self.reward_scale_ = scale

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # A writable copy: torch warns on read-only arrays (Ray's object store gives those).
        obs = np.array(X.reshape(X.shape[0], -1), dtype=np.float32, copy=True)
        actions, _ = self.model_.policy.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.float64).reshape(-1) - 1.0

    def _save(self, path: Path) -> None:
        self.model_.save(path / self.model_file)
        (path / TRAINING_FILE).write_text(json.dumps({"reward_scale": self.reward_scale_}))

    def _load(self, path: Path) -> None:
        sb3 = require("stable_baselines3", package=SB3)
        self.model_ = getattr(sb3, self.algorithm).load(path / self.model_file, device="cpu")
        self.reward_scale_ = float(json.loads((path / TRAINING_FILE).read_text())["reward_scale"])
