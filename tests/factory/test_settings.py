"""Settings: embedded defaults, file, environment, overrides, and clear errors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from factory.settings import (
    HealthSettings,
    RatingSettings,
    SettingsError,
    default_toml,
    load_settings,
)
from rating.health import HealthPolicy
from rating.policy import RatingPolicy


def test_defaults_need_no_file(workdir: Path) -> None:
    s = load_settings()
    assert s.db_url == "sqlite:///factory.db"
    assert s.scheduler.backend == "ray" and s.evaluation.purge_bars == s.evaluation.horizon


def test_precedence_overrides_env_file_defaults(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "factory.toml").write_text(
        'db_url = "sqlite:///file.db"\n[evaluation]\ncost_bps = 7\nhorizon = 2\n'
    )
    assert load_settings().evaluation.cost_bps == 7
    monkeypatch.setenv("FACTORY_EVALUATION__COST_BPS", "9")
    monkeypatch.setenv("FACTORY_DB_URL", "sqlite:///env.db")
    s = load_settings()
    assert (s.evaluation.cost_bps, s.evaluation.horizon, s.db_url) == (9, 2, "sqlite:///env.db")
    s = load_settings(**{"evaluation.cost_bps": 11, "db_url": None})
    assert s.evaluation.cost_bps == 11 and s.db_url == "sqlite:///env.db"


def test_factory_config_env_points_at_the_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "elsewhere.toml"
    path.write_text('[scheduler]\nbackend = "serial"\n')
    monkeypatch.setenv("FACTORY_CONFIG", str(path))
    assert load_settings().scheduler.backend == "serial"
    monkeypatch.setenv("FACTORY_CONFIG", str(workdir / "missing.toml"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_unknown_key_names_file_section_and_suggestion(workdir: Path) -> None:
    path = workdir / "factory.toml"
    path.write_text("[evaluation]\ncost_bsp = 3\n")
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert (
        "factory.toml" in text
        and "[evaluation] cost_bsp" in text
        and "did you mean 'cost_bps'" in text
    )


def test_unknown_section_and_bad_values(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "factory.toml").write_text("[evaluaton]\nhorizon = 1\n")
    with pytest.raises(SettingsError, match="unknown key evaluaton"):
        load_settings()
    (workdir / "factory.toml").write_text("[evaluation]\nhorizon = 5\npurge = 2\n")
    with pytest.raises(SettingsError, match="purge"):
        load_settings()
    (workdir / "factory.toml").unlink()
    monkeypatch.setenv("FACTORY_SCHEDULER__BACKEND", "dask")
    with pytest.raises(SettingsError, match="environment"):
        load_settings()


def test_invalid_toml(workdir: Path) -> None:
    (workdir / "factory.toml").write_text("[evaluation\n")
    with pytest.raises(SettingsError, match="invalid TOML"):
        load_settings()


def test_written_defaults_load_back_identically(workdir: Path) -> None:
    (workdir / "factory.toml").write_text(default_toml())
    from_file = load_settings()
    (workdir / "factory.toml").unlink()
    assert from_file.model_dump() == load_settings().model_dump()


def test_rating_section_mirrors_every_policy_field() -> None:
    # max_lag_bars (freshness) is read by the factory, not by the rating policy
    mirrored = set(RatingSettings.model_fields) - {"min_holding_days", "max_lag_bars"} | {
        "min_holding"
    }
    assert {f.name for f in fields(RatingPolicy)} == mirrored
    assert RatingSettings().policy() == RatingPolicy()


def test_health_section_mirrors_every_health_policy_field() -> None:
    assert {f.name for f in fields(HealthPolicy)} == set(HealthSettings.model_fields)
    assert HealthSettings().policy() == HealthPolicy()
    assert HealthSettings(drift_correction="fdr_bh").policy().drift_correction == "fdr_bh"
    with pytest.raises(ValueError, match="rmse_ratio_yellow <= rmse_ratio_red"):
        HealthSettings(rmse_ratio_yellow=3.0)


def test_bad_environment_is_blamed_on_the_environment_even_with_a_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "factory.toml").write_text("[evaluation]\nhorizon = 2\n")
    monkeypatch.setenv("FACTORY_EVALUATION__COST_BPS", "abc")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "environment" in str(info.value) and "factory.toml" not in str(info.value)


def test_command_line_overrides_beat_the_environment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_SCHEDULER__BACKEND", "ray")
    assert load_settings(**{"scheduler.backend": "serial"}).scheduler.backend == "serial"
