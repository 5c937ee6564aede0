"""What the image, the compose file and the Kubernetes manifests ask of the package: every
`factory` and `ray` command they run exists, and every FACTORY_* variable they set is one
the settings accept (names derived from the Settings model), with each FACTORY_*_FILE
pointing at a mounted secret and FACTORY_CONFIG at a mounted settings file."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import typer

from factory.cli import app
from factory.settings import CONFIG_ENV, FILE_SUFFIX, env_variables
from tests.deploy.manifests import (
    Container,
    compose_containers,
    image_defaults,
    invocations,
    kube_containers,
    subcommand,
)

CONTAINERS = compose_containers() + kube_containers()
FACTORY_COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def ray_commands() -> set[str]:
    from ray.scripts.scripts import cli

    return set(cli.commands)


def used(program: str) -> list[tuple[str, str]]:
    """(where, subcommand) of every invocation of ``program``, image defaults included."""
    image = image_defaults()
    argvs = [
        ("Dockerfile:ENTRYPOINT+CMD", [*image.entrypoint, *image.cmd]),
        ("Dockerfile:HEALTHCHECK", image.healthcheck),
    ]
    for c in CONTAINERS:
        argvs.append((c.where, c.argv))
        argvs += [(f"{c.where} (probe)", p) for p in c.probes]
    out = []
    for where, argv in argvs:
        for inv in invocations(argv, program):
            out.append((where, subcommand(inv) or "<none>"))
    return out


FACTORY_USES = used("factory")
RAY_USES = used("ray")


def test_the_deployment_runs_the_daemon_the_api_and_the_health_check() -> None:
    assert {"run", "serve", "health", "init"} <= {cmd for _, cmd in FACTORY_USES}
    assert {"start", "health-check", "stop"} <= {cmd for _, cmd in RAY_USES}


# `serve` and `health` are added by other branches; until they are merged, their cases fail
# here on purpose.
@pytest.mark.parametrize("command", sorted({cmd for _, cmd in FACTORY_USES}))
def test_factory_commands_exist(command: str) -> None:
    where = sorted({w for w, cmd in FACTORY_USES if cmd == command})
    assert command in FACTORY_COMMANDS, f"`factory {command}` (used by {where}) is not a command"


@pytest.mark.parametrize("command", sorted({cmd for _, cmd in RAY_USES}))
def test_ray_commands_exist(command: str) -> None:
    assert command in ray_commands()


def test_command_discovery_finds_commands_in_shell_scripts() -> None:
    argv = ["/bin/sh", "-c", "ray start --address=h:1 && exec factory --config x.toml run"]
    assert [subcommand(i) for i in invocations(argv, "factory")] == ["run"]
    assert [subcommand(i) for i in invocations(argv, "ray")] == ["start"]


ACCEPTED = env_variables()
SET = sorted({(c.where, name) for c in CONTAINERS for name in c.env if name.startswith("FACTORY_")})


def test_factory_containers_are_configured_through_the_environment() -> None:
    configured = [c for c in CONTAINERS if any(n.startswith("FACTORY_") for n in c.env)]
    assert len(configured) >= 6  # compose: migrate, daemon, api; Kubernetes: the same
    assert all(c.project_image for c in configured)


@pytest.mark.parametrize(("where", "name"), SET, ids=[f"{w}:{n}" for w, n in SET])
def test_every_factory_variable_is_a_setting(where: str, name: str) -> None:
    assert name in ACCEPTED, f"{where} sets {name}, which the settings do not read"


def _file_vars(c: Container) -> list[tuple[str, str]]:
    return [
        (n, v) for n, v in c.env.items() if n.startswith("FACTORY_") and n.endswith(FILE_SUFFIX)
    ]


FILE_VARS = [(c, n, v) for c in CONTAINERS for n, v in _file_vars(c)]


@pytest.mark.parametrize(
    ("container", "name", "path"), FILE_VARS, ids=[f"{c.where}:{n}" for c, n, _ in FILE_VARS]
)
def test_every_secret_file_variable_points_at_a_mounted_secret(
    container: Container, name: str, path: str
) -> None:
    assert path in container.secret_files, (
        f"{container.where}: {name}={path}, but the secrets mounted are "
        f"{sorted(container.secret_files)}"
    )


def test_secrets_come_from_files_not_values() -> None:
    for c in CONTAINERS:
        for secret in ("FACTORY_DB_URL", "FACTORY_API__TOKEN"):
            assert secret not in c.env, f"{c.where} sets {secret} in plain text"


CONFIGS = [(c, c.env[CONFIG_ENV]) for c in CONTAINERS if CONFIG_ENV in c.env]


@pytest.mark.parametrize(("container", "path"), CONFIGS, ids=[c.where for c, _ in CONFIGS])
def test_settings_file_is_mounted(container: Container, path: str) -> None:
    mounted = {PurePosixPath(p) for p in container.mounted_dirs}
    target = PurePosixPath(path)
    assert target in mounted or target.parent in mounted, (container.where, path)
