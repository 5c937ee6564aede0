"""The PPO trading environment: gymnasium/stable-baselines3 compliance, reward
arithmetic by hand, episode boundaries; and the PPO architecture's RNG hygiene."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest
import torch
from stable_baselines3.common.env_checker import check_env

from architectures import get
from architectures.rl.env import TradingEnv, segment_ends
from architectures.testing import synthetic_dataset

LONG, FLAT, SHORT = 2, 1, 0


def small_env(**kw: object) -> TradingEnv:
    X = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    y = np.array([0.01, -0.02, 0.03, 0.0, 0.05])
    args: dict[str, object] = {
        "cost_bps": 10.0,
        "reward_scale": 2.0,
        "episode_length": 10,
        "seed": 0,
    }
    args.update(kw)
    return TradingEnv(X, y, **args)  # type: ignore[arg-type]


def test_passes_stable_baselines3_env_checker() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4, 3)).astype(np.float32)
    env = TradingEnv(X, rng.standard_normal(40) * 0.01, np.repeat([0, 1], 20), seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, warn=True)
    assert [str(w.message) for w in caught] == []


def test_reward_arithmetic_by_hand() -> None:
    env = small_env()
    _, info = env.reset(options={"start": 0})
    assert info["row"] == 0
    rewards = [env.step(a)[1] for a in (LONG, LONG, SHORT, FLAT)]
    # reward = 2 * (position * y - 0.001 * |position - previous|), previous starts at 0
    expected = [
        2 * (1 * 0.01 - 0.001 * 1),  # flat -> long
        2 * (1 * -0.02 - 0.001 * 0),  # stay long
        2 * (-1 * 0.03 - 0.001 * 2),  # long -> short: two units of turnover
        2 * (0 * 0.0 - 0.001 * 1),  # short -> flat
    ]
    assert rewards == pytest.approx(expected, abs=1e-15)


def test_observation_is_the_flattened_window() -> None:
    env = small_env()
    obs, _ = env.reset(options={"start": 3})
    assert obs.dtype == np.float32 and obs.shape == (6,)
    assert np.array_equal(obs, np.arange(18, 24, dtype=np.float32))
    obs, *_ = env.step(FLAT)
    assert np.array_equal(obs, np.arange(24, 30, dtype=np.float32))


def test_episodes_stay_within_one_asset_and_reset_the_position() -> None:
    env = small_env(groups=np.array([7, 7, 7, 3, 3]))
    env.reset(options={"start": 1})
    _, _, terminated, truncated, _ = env.step(LONG)
    assert not terminated and not truncated
    obs, _, terminated, truncated, _ = env.step(LONG)  # row 2 is asset 7's last row
    assert truncated and not terminated
    assert np.array_equal(obs, np.arange(12, 18, dtype=np.float32))  # not asset 3's row
    with pytest.raises(RuntimeError, match="reset"):
        env.step(LONG)
    env.reset(options={"start": 3})
    _, reward, *_ = env.step(LONG)  # the previous position is flat again: pays the cost
    assert reward == pytest.approx(2 * (1 * 0.0 - 0.001))


def test_episode_length_truncates() -> None:
    env = small_env(episode_length=2)
    env.reset(options={"start": 0})
    assert env.step(FLAT)[3] is False
    assert env.step(FLAT)[3] is True


def test_segment_ends_by_hand() -> None:
    assert segment_ends(np.array([5, 5, 2, 2, 2, 9]), 6).tolist() == [2, 2, 5, 5, 5, 6]
    assert segment_ends(None, 3).tolist() == [3, 3, 3]


def test_random_starts_are_seeded_and_cover_every_row() -> None:
    def starts(seed: int) -> list[int]:
        env = small_env(seed=seed)
        return [env.reset()[1]["row"] for _ in range(200)]

    assert starts(3) == starts(3)
    assert starts(3) != starts(4)
    assert set(starts(3)) == {0, 1, 2, 3, 4}


def test_rejects_bad_actions_and_inputs() -> None:
    env = small_env()
    env.reset(options={"start": 0})
    with pytest.raises(ValueError, match="action"):
        env.step(3)
    with pytest.raises(ValueError, match="y has shape"):
        TradingEnv(np.zeros((3, 2)), np.zeros(4))


def test_ppo_fit_restores_the_global_random_state() -> None:
    data = synthetic_dataset(get("ppo").tags, n_train=120, n_test=10, signal=0.5, seed=0)
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    before = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    model = get("ppo").build(get("ppo").test_params)
    model.fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    after = (random.random(), np.random.random(), torch.rand(1).item())
    assert after == before
    assert set(np.unique(model.predict(data.X_test))) <= {-1.0, 0.0, 1.0}
