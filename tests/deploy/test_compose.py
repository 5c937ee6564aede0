"""deploy/docker-compose.yml: valid Compose (a compose client's `config` when one is
installed, else the Compose Specification's JSON schema plus the cross-references the schema
cannot see), and the secret files made by deploy/make-secrets.sh work with the settings."""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from factory.settings import load_settings
from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    SCHEMAS,
    coerce_compose_types,
    compose_config,
    load_documents,
    yaml_files,
)

COMPOSE_SCHEMA = json.loads((SCHEMAS / "compose-spec" / "compose-spec.json").read_text())


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_documents(path)
    assert docs and all(isinstance(d, dict) for d in docs)


def schema_errors(config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(COMPOSE_SCHEMA)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(coerce_compose_types(config))
    ]


def reference_errors(config: dict[str, Any]) -> list[str]:
    """What `docker compose config` checks beyond the schema: every service, secret and
    named volume a service refers to is defined."""
    errors = []
    services = config["services"]
    named_volumes = set(config.get("volumes") or {})
    secrets = set(config.get("secrets") or {})
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                errors.append(f"{name}: depends_on unknown service {dep}")
        for item in svc.get("secrets") or []:
            source = item if isinstance(item, str) else item["source"]
            if source not in secrets:
                errors.append(f"{name}: unknown secret {source}")
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in named_volumes:
                errors.append(f"{name}: unknown named volume {source}")
    for name, secret in (config.get("secrets") or {}).items():
        if "file" in secret and not secret["file"].startswith("./secrets/"):
            errors.append(f"secret {name} is not a file under deploy/secrets/")
    return errors


@pytest.mark.parametrize(
    "env",
    [{}, {"RAY_WORKERS": "6", "RAY_WORKER_CPUS": "4", "MODEL_FACTORY_IMAGE": "reg/mf:0.1.0"}],
    ids=["defaults", "overridden"],
)
def test_compose_file_matches_the_compose_spec(env: dict[str, str]) -> None:
    config = compose_config(env)
    assert schema_errors(config) == []
    assert reference_errors(config) == []
    worker = config["services"]["ray-worker"]
    assert worker["deploy"]["replicas"] == env.get("RAY_WORKERS", "2")


def _broken(mutate: str) -> dict[str, Any]:
    config = copy.deepcopy(compose_config())
    services = config["services"]
    if mutate == "unknown-key":
        services["daemon"]["enviroment"] = {"FACTORY_DB_URL": "x"}
    elif mutate == "replicas-not-a-number":
        services["ray-worker"]["deploy"]["replicas"] = "two"
    elif mutate == "bad-depends-on-condition":
        services["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    elif mutate == "healthcheck-retries-as-text":
        services["db"]["healthcheck"]["retries"] = "six"
    return config


@pytest.mark.parametrize(
    "mutate",
    [
        "unknown-key",
        "replicas-not-a-number",
        "bad-depends-on-condition",
        "healthcheck-retries-as-text",
    ],
)
def test_schema_check_rejects_a_broken_compose_file(mutate: str) -> None:
    assert schema_errors(_broken(mutate))


def test_reference_check_rejects_dangling_names() -> None:
    config = copy.deepcopy(compose_config())
    config["services"]["api"]["secrets"].append("api_tokn")
    config["services"]["daemon"]["depends_on"]["ray-hed"] = {"condition": "service_healthy"}
    config["services"]["daemon"]["volumes"].append("artefacts:/x")
    assert len(reference_errors(config)) == 3


def compose_client() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose`, whichever answers; None if neither."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        done = subprocess.run([*cmd, "version"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return cmd
    return None


CLIENT = compose_client()
needs_client = pytest.mark.skipif(
    CLIENT is None, reason="no compose client (docker compose / docker-compose) installed"
)


def run_config(path: Path) -> subprocess.CompletedProcess[str]:
    assert CLIENT is not None
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_WORKERS", "MODEL_FACTORY_IMAGE")}
    return subprocess.run(
        [*CLIENT, "-f", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )


@needs_client
def test_compose_client_accepts_the_file() -> None:
    done = run_config(COMPOSE_FILE)
    assert done.returncode == 0, done.stderr


@needs_client
def test_compose_client_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["ray-worker"]["deploy"]["replicas"] = "two"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    assert run_config(path).returncode != 0


def test_make_secrets_writes_files_the_settings_read(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    script = DEPLOY / "make-secrets.sh"
    first = subprocess.run(
        ["sh", str(script), str(secrets)], capture_output=True, text=True, check=True
    )
    assert first.stdout.count("wrote") == 3
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    password = (secrets / "db_password").read_text().strip()
    assert len(password) == 64 and int(password, 16) >= 0
    url = (secrets / "db_url").read_text().strip()
    assert url == f"postgresql://factory:{password}@db:5432/factory"
    token = (secrets / "api_token").read_text().strip()
    assert len(token) == 64 and token != password
    again = subprocess.run(
        ["sh", str(script), str(secrets)], capture_output=True, text=True, check=True
    )
    assert again.stdout.count("kept") == 3 and (secrets / "db_password").read_text().strip() == (
        password
    )
    # The files as the daemon and the API of the compose file read them.
    monkeypatch.setenv("FACTORY_CONFIG", str(DEPLOY / "factory.production.toml"))
    monkeypatch.setenv("FACTORY_DB_URL_FILE", str(secrets / "db_url"))
    monkeypatch.setenv("FACTORY_API__TOKEN_FILE", str(secrets / "api_token"))
    s = load_settings()
    assert s.db_url == url
    assert s.api.token is not None and s.api.token.get_secret_value() == token


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", ["db_password", "db_url", "api_token"])
def test_git_ignores_the_secret_files(name: str) -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", f"deploy/secrets/{name}"],
        cwd=DEPLOY.parent,
        check=False,
    )
    if done.returncode == 128:
        pytest.skip("not a git checkout")
    assert done.returncode == 0, f"deploy/secrets/{name} would be committed"
