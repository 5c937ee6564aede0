"""Package boundaries (docs/architecture.md): imports flow scheduler -> factory ->
{architectures, features, rating}. The CLI (factory/cli) is the composition root and the
only part of factory that may import scheduler."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAVES = ("architectures", "features", "rating")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", LEAVES)
def test_leaf_packages_import_no_other_project_package(package: str) -> None:
    forbidden = {"factory", "scheduler", *LEAVES} - {package}
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_packages(p) & forbidden) for p in modules(package)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_factory_does_not_import_scheduler_outside_the_cli() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in modules("factory")
        if "cli" not in p.relative_to(ROOT).parts and "scheduler" in imported_packages(p)
    ]
    assert offenders == []


def test_the_checker_sees_imports() -> None:
    """Guard against a vacuous pass: the CLI does import scheduler."""
    assert "scheduler" in imported_packages(ROOT / "factory/cli/pipeline_cmd.py")
    assert "factory" in imported_packages(ROOT / "scheduler/sweep.py")
