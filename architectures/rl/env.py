"""A gymnasium trading environment over pre-built training samples.

Each step is one training sample (one bar of one asset):

observation  the sample's feature window flattened to ``float32`` (``X[t].ravel()``);
             nothing else (no previous position, no account state), so a policy trained
             here is *stateless*: its action for a bar depends on that bar's window only,
             which keeps ``predict`` row-wise and causal.
action       ``Discrete(3)``: 0, 1, 2 -> position -1 (short), 0 (flat), +1 (long).
reward       ``reward_scale * (position * y[t] - cost_bps / 1e4 * |position - previous|)``
             with ``y[t]`` the forward return of the sample; the previous position is 0
             at the start of every episode.

Episodes run through one asset's contiguous rows (a run of equal ``groups`` values; all
rows form one run when ``groups`` is None). ``reset`` draws the first row uniformly over
all rows; the episode lasts ``episode_length`` steps or until the asset's rows end,
whichever comes first. Both endings are *truncations* (``truncated=True``,
``terminated=False``): the market goes on, so PPO bootstraps the value of the next
observation. After the last step the observation is the next row of the same asset
(or the last row again when the asset's rows are exhausted).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

POSITIONS = np.array([-1.0, 0.0, 1.0])


def segment_ends(groups: np.ndarray | None, n: int) -> np.ndarray:
    """For every row, the (exclusive) end index of its run of equal ``groups`` values."""
    if groups is None or n == 0:
        return np.full(n, n, dtype=np.int64)
    groups = np.asarray(groups)
    change = np.flatnonzero(groups[1:] != groups[:-1]) + 1  # first row of each new run
    ends = np.append(change, n)
    run = np.searchsorted(change, np.arange(n), side="right")
    return ends[run].astype(np.int64)


class TradingEnv(gym.Env[np.ndarray, np.int64]):
    """Trade one asset's training samples with positions {-1, 0, +1} (see module docstring).

    Args:
        X               ``(n, ...)`` feature windows; each row is flattened into one
                        observation (not copied when already ``float32`` and contiguous)
        y               ``(n,)`` forward return of each sample
        groups          ``(n,)`` asset code per row, rows ordered by asset then time;
                        None = one asset
        cost_bps        cost per unit of position change, in basis points
        reward_scale    multiplies the reward (e.g. ``1 / std(y)`` to get rewards of
                        order one)
        episode_length  maximum steps per episode
        seed            seeds the start-row generator (``reset(seed=...)`` reseeds it)
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray | None = None,
        cost_bps: float = 5.0,
        reward_scale: float = 1.0,
        episode_length: int = 256,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        X = np.asarray(X)
        n = X.shape[0]
        if n == 0:
            raise ValueError("TradingEnv needs at least one sample")
        obs = np.ascontiguousarray(X.reshape(n, -1), dtype=np.float32)
        obs.flags.writeable = False  # a new array object (a view at most): X keeps its flags
        self._obs = obs
        self._y = np.asarray(y, dtype=np.float64).copy()
        if self._y.shape != (n,):
            raise ValueError(f"y has shape {self._y.shape}, expected ({n},)")
        if groups is not None and np.shape(groups) != (n,):
            raise ValueError(f"groups has shape {np.shape(groups)}, expected ({n},)")
        if episode_length < 1:
            raise ValueError("episode_length must be at least 1")
        self._segment_end = segment_ends(groups, n)
        self.cost = float(cost_bps) / 1e4
        self.reward_scale = float(reward_scale)
        self.episode_length = int(episode_length)
        self.observation_space = spaces.Box(
            low=-np.inf, high=np.inf, shape=(obs.shape[1],), dtype=np.float32
        )
        self.action_space = spaces.Discrete(3)
        self._row = 0
        self._episode_end = 0
        self._position = 0.0
        if seed is not None:
            super().reset(seed=seed)

    @property
    def n_samples(self) -> int:
        return int(self._obs.shape[0])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. ``options={"start": row}`` fixes the first row (for tests)."""
        super().reset(seed=seed)
        if options is not None and "start" in options:
            start = int(options["start"])
            if not 0 <= start < self.n_samples:
                raise ValueError(f"start row {start} outside [0, {self.n_samples})")
        else:
            start = int(self.np_random.integers(self.n_samples))
        self._row = start
        self._episode_end = min(int(self._segment_end[start]), start + self.episode_length)
        self._position = 0.0
        return self._obs[start], {"row": start}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._row >= self._episode_end:
            raise RuntimeError("step() called after the episode ended; call reset()")
        a = int(action)
        if not 0 <= a < 3:
            raise ValueError(f"action must be 0, 1 or 2, got {action!r}")
        row = self._row
        position = float(POSITIONS[a])
        turnover = abs(position - self._position)
        reward = self.reward_scale * (position * self._y[row] - self.cost * turnover)
        self._position = position
        self._row = row + 1
        truncated = self._row >= self._episode_end
        next_row = self._row if self._row < self._segment_end[row] else row
        info = {"row": row, "position": position, "turnover": turnover}
        return self._obs[next_row], float(reward), False, truncated, info
