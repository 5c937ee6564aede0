"""An architecture from outside the repository, end to end: `examples/plugin-kama` is
installed with pip (into a scratch directory on PYTHONPATH, the way a package sits next
to the factory), found through its entry point, checked, and its configs evaluated by the
CLI. A broken plugin is listed as unavailable and never breaks the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACTORY = shutil.which("factory", path=str(Path(sys.executable).parent)) or "factory"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = tmp_path_factory.mktemp("src") / "plugin-kama"
    shutil.copytree(ROOT / "examples" / "plugin-kama", source)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # A second, broken plugin: its entry point names a module that does not exist.
    info = target / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[model_factory.architectures]\nbroken = broken_plugin_missing:Model\n"
    )
    return target


def factory(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [FACTORY, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_an_outside_plugin_is_listed_checked_and_evaluated(site: Path, tmp_path: Path) -> None:
    listed = factory(tmp_path, site, "arch", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    (kama,) = [a for a in doc["architectures"] if a["name"] == "kama"]
    assert kama["entry_point"] == "mf_kama.model:Kama" and kama["source"].startswith("entry point")
    (broken,) = doc["unavailable"]
    assert broken["name"] == "broken" and "ModuleNotFoundError" in broken["error"]

    check = factory(tmp_path, site, "arch", "check", "kama")
    assert check.returncode == 0 and "checks passed" in check.stdout, check.stdout + check.stderr

    assert factory(tmp_path, site, "init").returncode == 0
    (tmp_path / "factory.toml").write_text(
        '[plan]\narchitectures = ["kama"]\nlookbacks = [14]\n'
        "[evaluation]\nmin_train = 250\nretrain_every = 200\n"
        '[scheduler]\nbackend = "serial"\n'
    )
    synth = factory(tmp_path, site, "data", "synth", "--assets", "3", "--bars", "600")
    assert synth.returncode == 0, synth.stderr
    ev = factory(tmp_path, site, "evaluate", "--format", "json")
    assert ev.returncode == 0, ev.stdout + ev.stderr
    report = json.loads(ev.stdout)
    assert report["evaluated"] >= 2 and report["failed"] == 0, report


def test_a_broken_plugin_never_breaks_the_cli(site: Path, tmp_path: Path) -> None:
    table = factory(tmp_path, site, "arch", "list")
    assert table.returncode == 0 and "broken" in table.stdout + table.stderr
    unknown = factory(tmp_path, site, "arch", "show", "broken")
    assert unknown.returncode == 1 and "unavailable" in unknown.stderr
