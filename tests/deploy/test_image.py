"""deploy/Dockerfile, checked without a Docker engine (none runs here): stages, the locked
install, the runtime stage's contents, and the torch pin of requirements.lock."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    DEPLOY,
    DOCKERFILE,
    ROOT,
    Instruction,
    dockerfile_stages,
    image_defaults,
)

STAGES = dockerfile_stages(DOCKERFILE.read_text())
FINAL = STAGES[-1]
# Packages that compile code; none may be in the image that runs.
BUILD_TOOLS = re.compile(
    r"^(build-essential|gcc.*|g\+\+.*|clang.*|make|cmake|cargo|rustc|.*-dev|git)$"
)
OFFICIAL_TORCH_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")


def runs(instructions: tuple[Instruction, ...]) -> list[str]:
    return [i.args for i in instructions if i.keyword == "RUN"]


def apt_packages(instructions: tuple[Instruction, ...]) -> set[str]:
    out: set[str] = set()
    for command in runs(instructions):
        for part in command.split("&&"):
            words = shlex.split(part)
            if words[:2] == ["apt-get", "install"]:
                out.update(w for w in words[2:] if not w.startswith("-"))
    return out


def test_multi_stage_with_a_separate_runtime_stage() -> None:
    named = {s.name for s in STAGES}
    assert {"build", "runtime"} <= named and FINAL.name == "runtime"
    assert FINAL.base == STAGES[[s.name for s in STAGES].index("build")].base


def test_runtime_stage_has_no_build_tools() -> None:
    build = next(s for s in STAGES if s.name == "build")
    assert any(BUILD_TOOLS.match(p) for p in apt_packages(build.instructions))  # the check bites
    assert not [p for p in apt_packages(FINAL.instructions) if BUILD_TOOLS.match(p)]
    copies = [i.args for i in FINAL.instructions if i.keyword == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"], copies


def test_dependencies_are_exactly_the_lock_with_hashes_then_the_project_without() -> None:
    build = next(s for s in STAGES if s.name == "build")
    commands = runs(build.instructions)
    lock = [c for c in commands if "-r requirements.lock" in c]
    assert len(lock) == 1 and "--require-hashes" in lock[0]
    project = [c for c in commands if re.search(r"pip install [^&]*--no-deps[^&]* \.( |$)", c)]
    assert len(project) == 1
    assert commands.index(lock[0]) < commands.index(project[0])
    # nothing else is pip-installed
    installs = [c for c in commands if "pip install" in c]
    assert installs == [lock[0], project[0]]


def test_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    users = [i.args for i in FINAL.instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    image = image_defaults()
    assert image.entrypoint == ["factory"] and image.cmd == ["run"]
    assert image.healthcheck[0] == "factory"


def test_no_secret_or_setting_is_baked_in() -> None:
    for stage in STAGES:
        for ins in stage.instructions:
            if ins.keyword in ("ENV", "ARG"):
                assert "FACTORY_" not in ins.args, ins
                assert not re.search(r"(PASSWORD|TOKEN|SECRET)", ins.args, re.I), ins


def test_build_context_filter_keeps_only_what_the_image_needs() -> None:
    rules = [
        r
        for r in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if r and not r.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    copied: set[str] = set()
    for stage in STAGES:
        for ins in stage.instructions:
            if ins.keyword == "COPY" and not ins.args.startswith("--from"):
                copied.update(p.rstrip("/").removeprefix("./") for p in ins.args.split()[:-1])
    assert copied == allowed
    assert all((ROOT / p).exists() for p in copied)


def locked_torch() -> tuple[str, list[str]]:
    text = (ROOT / "requirements.lock").read_text()
    match = re.search(r"^torch==(\S+)((?:\s*\\\s*--hash=sha256:[0-9a-f]{64})+)", text, re.M)
    assert match, "torch is not pinned with hashes in requirements.lock"
    return match[1], re.findall(r"sha256:([0-9a-f]{64})", match[2])


def test_lock_pins_the_cpu_build_of_torch() -> None:
    version, hashes = locked_torch()
    assert version == "2.13.0+cpu"
    assert hashes


@pytest.mark.skipif(not OFFICIAL_TORCH_WHEEL.exists(), reason=f"{OFFICIAL_TORCH_WHEEL} absent")
def test_lock_hash_of_torch_is_the_wheels_on_disk() -> None:
    """The lock's torch hash is that of the wheel on the build machines' disk, which the
    image build expects PyTorch's CPU index to serve byte for byte (docs/operations.md)."""
    digest = hashlib.sha256()
    with OFFICIAL_TORCH_WHEEL.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    assert locked_torch()[1] == [digest.hexdigest()]
