"""What every stable-baselines3 agent shares (architectures/rl/_sb3.py): no files or
output outside the artifact, the global random state restored, warm starts beginning at
the previous networks."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from architectures import available, get
from architectures.rl._sb3 import SB3Agent
from architectures.testing import SyntheticData, synthetic_dataset

AGENTS = sorted(s.name for s in available() if issubclass(s.load(), SB3Agent))


def _data(name: str) -> SyntheticData:
    return synthetic_dataset(get(name).tags, n_train=120, n_test=20, signal=0.5, seed=0)


def test_every_agent_uses_the_shared_base() -> None:
    assert {"ppo", "a2c", "dqn"} <= set(AGENTS)


@pytest.mark.parametrize("name", AGENTS)
def test_training_writes_no_files_and_prints_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    spec = get(name)
    data = _data(name)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # stable-baselines3 logs under it
    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    model = spec.build(spec.test_params)
    model.fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    torch_cache = {p.name for p in scratch.iterdir()}  # torch may create its own cache once
    assert not [n for n in torch_cache if n.startswith("SB3")]
    again = spec.build(spec.test_params)
    again.fit(data.X_train, data.y_train, seed=1, groups=data.groups_train, warm_start=model)
    again.save(tmp_path / "artifact")
    type(again).load(tmp_path / "artifact").predict(data.X_test)
    assert {p.name for p in scratch.iterdir()} == torch_cache
    assert sorted(p.name for p in (tmp_path / "artifact").iterdir()) == sorted(
        ["architecture.json", f"{name}.zip", "training.json"]
    )
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("name", AGENTS)
def test_fit_restores_the_global_random_state(name: str) -> None:
    spec = get(name)
    data = _data(name)

    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.random()), torch.rand(1).item()

    def seed_all() -> None:
        random.seed(11)
        np.random.seed(11)
        torch.manual_seed(11)

    seed_all()
    expected = draw()
    seed_all()
    model = spec.build(spec.test_params)
    model.fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    spec.build(spec.test_params).fit(
        data.X_train, data.y_train, seed=1, groups=data.groups_train, warm_start=model
    )
    assert draw() == expected


@pytest.mark.parametrize("name", AGENTS)
def test_a_warm_start_begins_at_the_previous_networks(name: str) -> None:
    spec = get(name)
    data = _data(name)
    params = {**spec.test_params, "warm_timesteps": 0}  # copy, do not learn
    previous = spec.build(params).fit(data.X_train, data.y_train, seed=0, groups=data.groups_train)
    assert isinstance(previous, SB3Agent)
    before = {k: v.clone() for k, v in previous.model_.policy.state_dict().items()}
    warm = spec.build(params).fit(
        data.X_train, data.y_train, seed=5, groups=data.groups_train, warm_start=previous
    )
    assert isinstance(warm, SB3Agent)
    for key, value in warm.model_.policy.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert np.array_equal(warm.predict(data.X_test), previous.predict(data.X_test))
    for key, value in previous.model_.policy.state_dict().items():
        assert torch.equal(value, before[key]), key  # previous untouched
    cold = spec.build(params).fit(data.X_train, data.y_train, seed=5, groups=data.groups_train)
    assert isinstance(cold, SB3Agent)
    assert not all(torch.equal(v, before[k]) for k, v in cold.model_.policy.state_dict().items())
