"""Secrets from files: ``FACTORY_X_FILE`` reads ``FACTORY_X`` from a file (the official
postgres image's convention), with errors that name the variable and the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from factory.settings import (
    CONFIG_ENV,
    Settings,
    SettingsError,
    env_variables,
    load_settings,
    setting_variables,
)


def _secret(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_top_level_and_section_keys_come_from_files(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://factory:s3cret@db:5432/factory"
    monkeypatch.setenv("FACTORY_DB_URL_FILE", _secret(workdir / "db_url", url + "\n"))
    monkeypatch.setenv("FACTORY_API__TOKEN_FILE", _secret(workdir / "token", "tok-en\r\n"))
    monkeypatch.setenv("FACTORY_API__PORT", "9000")  # a plain variable next to a file
    s = load_settings()
    assert s.db_url == url  # the trailing newline is dropped
    assert s.api.token is not None and s.api.token.get_secret_value() == "tok-en"
    assert s.api.port == 9000


def test_file_values_parse_like_environment_values(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_PLAN__LOOKBACKS_FILE", _secret(workdir / "lb", "[7, 30]"))
    monkeypatch.setenv("FACTORY_EVALUATION__COST_BPS_FILE", _secret(workdir / "bps", "2.5\n"))
    s = load_settings()
    assert s.plan.lookbacks == [7, 30] and s.evaluation.cost_bps == 2.5


def test_a_file_beats_the_settings_file_and_overrides_beat_the_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "factory.toml").write_text('db_url = "sqlite:///from-toml.db"\n')
    monkeypatch.setenv("FACTORY_DB_URL_FILE", _secret(workdir / "u", "sqlite:///from-secret.db"))
    assert load_settings().db_url == "sqlite:///from-secret.db"
    assert load_settings(db_url="sqlite:///flag.db").db_url == "sqlite:///flag.db"


def test_a_value_from_a_file_is_validated_and_blamed_on_the_environment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_API__PORT_FILE", _secret(workdir / "port", "99999"))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "[api] port" in str(info.value) and "FACTORY_API__PORT_FILE" in str(info.value)


def test_missing_file_names_variable_and_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = workdir / "run" / "secrets" / "db_url"
    monkeypatch.setenv("FACTORY_DB_URL_FILE", str(missing))
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value) == f"FACTORY_DB_URL_FILE: file {missing} does not exist"


@pytest.mark.parametrize(
    ("content", "expected"),
    [("", "is empty"), ("\n\n", "is empty"), (b"\xff\xfe", "is not UTF-8 text")],
)
def test_empty_or_binary_file_is_an_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, expected: str
) -> None:
    path = workdir / "token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    monkeypatch.setenv("FACTORY_API__TOKEN_FILE", str(path))
    with pytest.raises(SettingsError, match=f"FACTORY_API__TOKEN_FILE: file {path} {expected}"):
        load_settings()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_names_variable_and_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = Path(_secret(workdir / "token", "x"))
    path.chmod(0)
    monkeypatch.setenv("FACTORY_API__TOKEN_FILE", str(path))
    with pytest.raises(SettingsError, match=f"FACTORY_API__TOKEN_FILE: cannot read file {path}"):
        load_settings()


def test_a_directory_is_not_a_secret_file(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_API__TOKEN_FILE", str(workdir))
    with pytest.raises(SettingsError, match=f"FACTORY_API__TOKEN_FILE: cannot read file {workdir}"):
        load_settings()


def test_value_and_file_together_is_an_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_DB_URL", "sqlite:///a.db")
    monkeypatch.setenv("FACTORY_DB_URL_FILE", _secret(workdir / "u", "sqlite:///b.db"))
    with pytest.raises(SettingsError, match="both FACTORY_DB_URL and FACTORY_DB_URL_FILE are set"):
        load_settings()


def test_file_for_an_unknown_setting_is_an_error_with_a_hint(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_DB_ULR_FILE", _secret(workdir / "u", "sqlite:///b.db"))
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert "FACTORY_DB_ULR_FILE=" in text and "FACTORY_DB_ULR is not a setting" in text
    assert "did you mean FACTORY_DB_URL_FILE?" in text


def test_variable_names_follow_the_model() -> None:
    names = setting_variables()
    for name, field in Settings.model_fields.items():
        assert f"FACTORY_{name.upper()}" in names
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            for key in section.model_fields:
                assert f"FACTORY_{name.upper()}__{key.upper()}" in names
    assert "FACTORY_API__TOKEN" in names and "FACTORY_SCHEDULER__ADDRESS" in names
    assert {"FACTORY_DB_URL_FILE", "FACTORY_API__TOKEN_FILE", CONFIG_ENV} <= env_variables()
    assert "FACTORY_API__TOKEN__FILE" not in env_variables()
