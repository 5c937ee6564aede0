"""deploy/kubernetes: built-in kinds pass kubernetes-validate (strict: unknown fields are
errors); the RayCluster passes a documented minimal schema of the KubeRay fields it uses,
its pod templates pass as core/v1 PodTemplateSpec; the kustomization and the ConfigMap
agree with the files next to them."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import ray
import yaml

from factory.settings import load_settings
from tests.deploy.manifests import DEPLOY, KUBE, SCHEMAS, kube_documents, pod_templates

# The newest Kubernetes version kubernetes-validate knows, and an older one still in
# support at the cloud providers, so the manifests use no field newer than that.
VERSIONS = [kubernetes_validate.latest_version(), "1.30.0"]
DOCS = [(path, doc) for path, doc in kube_documents()]
BUILT_IN = [(p, d) for p, d in DOCS if d["kind"] != "RayCluster"]
RAY_CLUSTERS = [d for _, d in DOCS if d["kind"] == "RayCluster"]
RAY_SCHEMA = json.loads((SCHEMAS / "raycluster.minimal.schema.json").read_text())


def ident(item: tuple[Any, dict[str, Any]]) -> str:
    path, doc = item
    return f"{path.name}:{doc['kind']}/{doc['metadata']['name']}"


def k8s_errors(doc: dict[str, Any], version: str) -> str | None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'/'.join(map(str, exc.path))}: {exc.message}"
    return None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("item", BUILT_IN, ids=[ident(i) for i in BUILT_IN])
def test_built_in_kinds_are_valid(item: tuple[Any, dict[str, Any]], version: str) -> None:
    assert k8s_errors(item[1], version) is None


def test_every_kind_is_checked() -> None:
    kinds = {d["kind"] for _, d in DOCS}
    assert {"Deployment", "Service", "Secret", "ConfigMap", "RayCluster"} <= kinds
    assert len(RAY_CLUSTERS) == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ("container-typo", "Additional properties"),
        ("port-as-text", "is not of type 'integer'"),
    ],
)
def test_validation_rejects_a_broken_deployment(mutate: str, message: str) -> None:
    daemon = copy.deepcopy(next(d for _, d in DOCS if d["metadata"]["name"] == "factory-api"))
    container = daemon["spec"]["template"]["spec"]["containers"][0]
    if mutate == "container-typo":
        container["enviroment"] = container.pop("env")
    else:
        container["ports"][0]["containerPort"] = "eight thousand"
    error = k8s_errors(daemon, VERSIONS[0])
    assert error is not None and message in error


def ray_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(RAY_SCHEMA)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]
    for label, template in pod_templates(doc):
        wrapped = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "check"},
            "template": template,
        }
        error = k8s_errors(wrapped, VERSIONS[0])
        if error:
            errors.append(f"{label}: {error}")
    return errors


@pytest.mark.parametrize("cluster", RAY_CLUSTERS, ids=lambda d: d["metadata"]["name"])
def test_raycluster_is_valid(cluster: dict[str, Any]) -> None:
    assert ray_errors(cluster) == []


@pytest.mark.parametrize(
    "mutate",
    ["start-param-not-a-string", "unknown-spec-key", "bad-upscaling-mode", "pod-template-typo"],
)
def test_raycluster_check_rejects_a_broken_cluster(mutate: str) -> None:
    cluster = copy.deepcopy(RAY_CLUSTERS[0])
    spec = cluster["spec"]
    if mutate == "start-param-not-a-string":
        spec["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    elif mutate == "unknown-spec-key":
        spec["workerGroupSpecs"][0]["maxReplica"] = 3
    elif mutate == "bad-upscaling-mode":
        spec["autoscalerOptions"]["upscalingMode"] = "Fast"
    else:
        spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resource"] = {}
    assert ray_errors(cluster)


@pytest.mark.parametrize("cluster", RAY_CLUSTERS, ids=lambda d: d["metadata"]["name"])
def test_raycluster_matches_the_installed_ray_and_can_autoscale(cluster: dict[str, Any]) -> None:
    spec = cluster["spec"]
    assert spec["rayVersion"] == ray.__version__  # the version requirements.lock pins
    assert spec["enableInTreeAutoscaling"] is True
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
        assert group["maxReplicas"] > group["minReplicas"]
        for container in group["template"]["spec"]["containers"]:
            resources = container["resources"]
            assert resources["requests"] and resources["limits"]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_manifests() -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    built = [d for d in yaml.safe_load_all(done.stdout) if d]
    expected = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS if d["kind"] != "Secret"}
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == expected
    assert all(d["metadata"].get("namespace", "model-factory") == "model-factory" for d in built)


def test_configmap_holds_the_production_settings_file() -> None:
    configmap = next(d for _, d in DOCS if d["kind"] == "ConfigMap")
    production = (DEPLOY / "factory.production.toml").read_text()
    assert configmap["data"]["factory.toml"] == production


def test_production_settings_file_is_valid(workdir: Any) -> None:
    s = load_settings(DEPLOY / "factory.production.toml")
    assert s.scheduler.backend == "ray"
    assert s.db_url.startswith("postgresql://")
    for path in (s.artifacts, s.output_dir, s.cache_dir):
        assert path.startswith("/var/lib/factory/")  # the volumes of compose and Kubernetes


def test_pod_volumes_refer_to_objects_that_exist() -> None:
    """Secrets (and their keys), ConfigMaps and claims named by a pod are defined here."""
    defined: dict[str, dict[str, set[str]]] = {"Secret": {}, "ConfigMap": {}}
    claims = set()
    for _, doc in DOCS:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in defined:
            defined[kind][name] = {*doc.get("data", {}), *doc.get("stringData", {})}
        elif kind == "PersistentVolumeClaim":
            claims.add(name)
    problems = []
    for _, doc in DOCS:
        for label, template in pod_templates(doc):
            for volume in template["spec"].get("volumes", []):
                for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                    if key not in volume:
                        continue
                    ref = volume[key].get("secretName") or volume[key].get("name")
                    if ref not in defined[kind]:
                        problems.append(f"{label}: {kind} {ref} is not defined")
                        continue
                    for item in volume[key].get("items", []):
                        if item["key"] not in defined[kind][ref]:
                            problems.append(f"{label}: {kind} {ref} has no key {item['key']}")
                claim = volume.get("persistentVolumeClaim", {}).get("claimName")
                if claim is not None and claim not in claims:
                    problems.append(f"{label}: claim {claim} is not defined")
    assert problems == []
