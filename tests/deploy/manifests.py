"""Reading deploy/: YAML documents, Compose variable interpolation, the Dockerfile's
instructions, and every container (compose service or Kubernetes pod) as one plain record
of its image, argv, environment and mounts, so the tests check all of them alike."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
# How the manifests name the project's image (compose: the build section's tag; Kubernetes:
# the repository that `kustomize edit set image` rewrites).
K8S_IMAGE_REPO = "ghcr.io/model-factory/model-factory"


def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])


def load_documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


# -- Compose ---------------------------------------------------------------------------------
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution on every string of a parsed file: ``${VAR}``,
    ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``$VAR`` and ``$$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-") and unset:
            return arg
        if op in (":?", "?") and unset:
            raise ValueError(f"required variable {name} is missing: {arg}")
        return current or ""

    return _VAR.sub(sub, value)


def compose_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """deploy/docker-compose.yml parsed (merge keys resolved) and interpolated with
    ``env`` (default: no variables set, so every default applies)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    return dict(interpolate(data, env or {}))


def coerce_compose_types(config: dict[str, Any]) -> dict[str, Any]:
    """The integer fields compose converts after interpolation (a `${VAR:-2}` is a string
    until then): ``deploy.replicas``."""
    out = json.loads(json.dumps(config))
    for service in out.get("services", {}).values():
        deploy = service.get("deploy") or {}
        if isinstance(deploy.get("replicas"), str) and deploy["replicas"].isdigit():
            deploy["replicas"] = int(deploy["replicas"])
    return out


# -- Dockerfile ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


@dataclass(frozen=True)
class Stage:
    index: int
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword, args.strip()))
    return out


def dockerfile_stages(text: str) -> list[Stage]:
    instructions = dockerfile_instructions(text)
    stages = []
    for i in range(max((ins.stage for ins in instructions), default=-1) + 1):
        own = tuple(ins for ins in instructions if ins.stage == i)
        base_args = own[0].args.split()
        name = base_args[2] if len(base_args) >= 3 and base_args[1].upper() == "AS" else None
        stages.append(Stage(i, base_args[0], name, own))
    return stages


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) instruction argument; a shell-form one as ``sh -c``."""
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value
    return ["/bin/sh", "-c", args]


@dataclass(frozen=True)
class Image:
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]


def image_defaults() -> Image:
    """ENTRYPOINT, CMD and HEALTHCHECK of the Dockerfile's final stage."""
    final = dockerfile_stages(DOCKERFILE.read_text())[-1]
    found: dict[str, list[str]] = {}
    for ins in final.instructions:
        if ins.keyword in ("ENTRYPOINT", "CMD"):
            found[ins.keyword] = exec_form(ins.args)
        elif ins.keyword == "HEALTHCHECK":
            _, _, command = ins.args.partition("CMD ")
            found["HEALTHCHECK"] = exec_form(command.strip())
    return Image(found.get("ENTRYPOINT", []), found.get("CMD", []), found.get("HEALTHCHECK", []))


# -- containers ------------------------------------------------------------------------------
@dataclass
class Container:
    """One container of the project's image (or another image) as deployed."""

    where: str  # "compose:daemon", "kubernetes:daemon.yaml:Deployment/factory-daemon/daemon"
    project_image: bool
    argv: list[str]
    env: dict[str, str]
    probes: list[list[str]] = field(default_factory=list)  # exec/healthcheck commands
    secret_files: dict[str, str] = field(default_factory=dict)  # mounted path -> source
    mounted_dirs: dict[str, str] = field(default_factory=dict)  # mount path -> volume kind


def _compose_env(raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {k: "" if v is None else str(v) for k, v in (raw or {}).items()}


def compose_containers(config: dict[str, Any] | None = None) -> list[Container]:
    config = config or compose_config()
    image = image_defaults()
    out = []
    for name, svc in config["services"].items():
        ours = "build" in svc
        entrypoint = svc.get("entrypoint", image.entrypoint if ours else [])
        command = svc.get("command", image.cmd if ours and "entrypoint" not in svc else [])
        entrypoint = entrypoint if isinstance(entrypoint, list) else shlex.split(entrypoint)
        command = command if isinstance(command, list) else shlex.split(command)
        probes = []
        health = svc.get("healthcheck") or {}
        if not health.get("disable"):
            test = health.get("test")
            if isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"):
                probes.append(test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]])
            elif test is None and ours:
                probes.append(image.healthcheck)
        secrets = {}
        for item in svc.get("secrets", []):
            source = item if isinstance(item, str) else item["source"]
            target = item.get("target", source) if isinstance(item, dict) else source
            path = target if target.startswith("/") else f"/run/secrets/{target}"
            secrets[path] = source
        mounts = {}
        for vol in svc.get("volumes", []):
            parts = vol.split(":") if isinstance(vol, str) else [vol["source"], vol["target"]]
            mounts[parts[1]] = "bind" if parts[0].startswith((".", "/")) else "volume"
        out.append(
            Container(
                where=f"compose:{name}",
                project_image=ours,
                argv=[*entrypoint, *command],
                env=_compose_env(svc.get("environment")),
                probes=probes,
                secret_files=secrets,
                mounted_dirs=mounts,
            )
        )
    return out


def kube_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_documents(path):
            yield path, doc


def pod_templates(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, pod template) of a Deployment or a RayCluster's head and worker groups."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    spec = doc.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield f"{kind}/{name}", spec["template"]
    elif kind == "RayCluster":
        yield f"{kind}/{name}/head", spec["headGroupSpec"]["template"]
        for group in spec.get("workerGroupSpecs", []):
            yield f"{kind}/{name}/{group['groupName']}", group["template"]


def secret_keys() -> dict[str, set[str]]:
    """Secret name -> keys, from the Secret manifests (the template included)."""
    out: dict[str, set[str]] = {}
    for _, doc in kube_documents():
        if doc["kind"] == "Secret":
            keys = {*doc.get("stringData", {}), *doc.get("data", {})}
            out[doc["metadata"]["name"]] = keys
    return out


def kube_containers() -> list[Container]:
    image = image_defaults()
    secrets = secret_keys()
    out = []
    for path, doc in kube_documents():
        for label, template in pod_templates(doc):
            pod = template["spec"]
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                ours = c["image"].split(":")[0] == K8S_IMAGE_REPO
                if doc["kind"] == "RayCluster":
                    # KubeRay replaces command and args with its `ray start ...`.
                    argv = ["ray", "start"]
                elif "command" in c:
                    argv = [*c["command"], *c.get("args", [])]
                else:
                    argv = [*image.entrypoint, *c.get("args", image.cmd)] if ours else []
                probes = [
                    c[p]["exec"]["command"]
                    for p in ("readinessProbe", "livenessProbe", "startupProbe")
                    if "exec" in c.get(p, {})
                ]
                probes += [
                    c["lifecycle"][h]["exec"]["command"]
                    for h in ("preStop", "postStart")
                    if "exec" in c.get("lifecycle", {}).get(h, {})
                ]
                secret_files: dict[str, str] = {}
                mounts: dict[str, str] = {}
                for m in c.get("volumeMounts", []):
                    volume = volumes[m["name"]]
                    kind = next(k for k in volume if k != "name")
                    mounts[m["mountPath"]] = kind
                    if kind == "secret":
                        name = volume["secret"]["secretName"]
                        items = volume["secret"].get("items")
                        keys = [i["path"] for i in items] if items else sorted(secrets[name])
                        for key in keys:
                            secret_files[f"{m['mountPath']}/{key}"] = f"{name}:{key}"
                out.append(
                    Container(
                        where=f"kubernetes:{path.name}:{label}/{c['name']}",
                        project_image=ours,
                        argv=argv,
                        env={e["name"]: str(e.get("value", "")) for e in c.get("env", [])},
                        probes=probes,
                        secret_files=secret_files,
                        mounted_dirs=mounts,
                    )
                )
    return out


# -- commands --------------------------------------------------------------------------------
_SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}
_SPLIT = re.compile(r"&&|\|\||;|\|")
# Root options of `factory` that take a value (factory/cli/__init__.py).
_FACTORY_VALUE_OPTIONS = {"--config", "-c", "--db"}


def invocations(argv: list[str], program: str) -> list[list[str]]:
    """Every invocation of ``program`` in ``argv``, looking into ``sh -c`` scripts."""
    if not argv:
        return []
    head = argv[0].rsplit("/", 1)[-1]
    if argv[0] in _SHELLS and len(argv) >= 3 and argv[1] in ("-c", "-lc"):
        found = []
        for part in _SPLIT.split(argv[2]):
            words = shlex.split(part)
            while words and words[0] in ("exec", "nohup"):
                words = words[1:]
            found += invocations(words, program)
        return found
    return [argv] if head == program else []


def subcommand(invocation: list[str]) -> str | None:
    """The first command word after the program and its root options."""
    words = invocation[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if word in _FACTORY_VALUE_OPTIONS:
            i += 2
            continue
        if word.startswith("-"):
            i += 1
            continue
        return word
    return None
