"""Ray leftovers (issue 7, case 8): the processes of a local Ray runtime die with the
driver, even after ``kill -9``. One test runs real Ray; the others build a fake Ray
process tree (``ray::`` titles, SIGTERM ignored, re-parented grandchildren) so that the
mechanism is checked in seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from scheduler.ray_reaper import Proc, is_ray_process, reap_leftovers

ROOT = Path(__file__).resolve().parents[2]

# A "ray::" process that ignores SIGTERM, like ray::DashboardAgent / ray::RuntimeEnvAgent.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "[time.sleep(0.2) for _ in range(3000)]"
)


def _env(tmp: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if tmp is not None:  # the pid files of the fake trees stay in their own directory
        env["TMPDIR"] = str(tmp)
    return env


def _wait_gone(procs: list[Proc], timeout_s: float) -> list[Proc]:
    deadline = time.monotonic() + timeout_s
    alive = procs
    while time.monotonic() < deadline:
        alive = [p for p in procs if p.handle() is not None]
        if not alive:
            return []
        time.sleep(0.25)
    return alive


def _kill(procs: list[Proc]) -> None:
    for p in procs:
        if (h := p.handle()) is not None:
            h.kill()


FAKE_DRIVER = textwrap.dedent(
    """
    import subprocess, sys, time
    from scheduler.ray_reaper import start_watchdog
    stubborn = {stubborn!r}
    # a "raylet" child that starts an "agent" grandchild, like Ray does
    raylet = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', " + repr(stubborn) + ", 'ray::FakeAgent']); "
        "time.sleep(600)", "ray::FakeRaylet"])
    {watchdog}
    time.sleep(1.5)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _fake_driver(tmp: Path, *, watchdog: bool) -> tuple[subprocess.Popen[str], list[Proc]]:
    code = FAKE_DRIVER.format(
        stubborn=STUBBORN, watchdog="wd = start_watchdog()" if watchdog else ""
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=_env(tmp)
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    tree = [
        Proc(c.pid, c.create_time())
        for c in psutil.Process(proc.pid).children(recursive=True)
        if is_ray_process(c)
    ]
    assert len(tree) == 2, tree  # the fake raylet and its agent
    return proc, tree


def test_fake_ray_tree_dies_with_a_killed_driver(tmp_path: Path) -> None:
    proc, tree = _fake_driver(tmp_path, watchdog=True)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait_gone(tree, 10.0) == []
        state = tmp_path / f"model-factory-ray-{os.getuid()}"
        deadline = time.monotonic() + 5.0
        while list(state.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(state.glob("*.json")) == []  # the watchdog cleaned up after itself
    finally:
        _kill(tree)


def test_without_the_watchdog_the_agent_survives(tmp_path: Path) -> None:
    """The fault being guarded against, reproduced by the fake tree: nothing else reaps
    an agent that ignores SIGTERM."""
    proc, tree = _fake_driver(tmp_path, watchdog=False)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait_gone(tree, 2.0) != []
    finally:
        _kill(tree)


def test_the_next_start_reaps_what_a_dead_driver_recorded(tmp_path: Path) -> None:
    """When the watchdog was killed too: the pid file it left is enough."""
    agent = subprocess.Popen([sys.executable, "-c", STUBBORN, "ray::FakeAgent"])
    bystander = subprocess.Popen([sys.executable, "-c", STUBBORN, "not-ray"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        time.sleep(0.3)
        procs = [psutil.Process(p.pid) for p in (agent, bystander)]
        started = [p.create_time() for p in procs]
        (tmp_path / "1-x.json").write_text(
            json.dumps(
                {
                    "driver": [dead.pid, time.time() - 5],
                    "processes": [[p.pid, t] for p, t in zip(procs, started, strict=True)],
                }
            )
        )
        (tmp_path / "2-y.json").write_text(  # a live driver: not touched
            json.dumps(
                {
                    "driver": [os.getpid(), psutil.Process().create_time()],
                    "processes": [[agent.pid, started[0]]],
                }
            )
        )
        reaped = reap_leftovers(tmp_path)
        assert reaped == [agent.pid]  # the non-Ray process is never signalled
        assert _wait_gone([Proc(agent.pid, started[0])], 5.0) == []
        assert Proc(bystander.pid, started[1]).handle() is not None
        assert sorted(p.name for p in tmp_path.glob("*.json")) == ["2-y.json"]
    finally:
        for p in (agent, bystander):
            p.kill()
            p.wait()


RAY_DRIVER = textwrap.dedent(
    """
    import os, time
    from scheduler.backends import RayBackend
    be = RayBackend(workers=1)
    time.sleep(2)  # the raylet starts its agents right after init
    print("ready", flush=True)
    time.sleep(600)
    """
)


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_real_ray_processes_die_with_a_killed_driver(tmp_path: Path) -> None:
    """kill -9 of a driver with a local Ray runtime: every Ray process of its session
    (gcs_server, raylet, dashboard, agents, workers) is gone within 20 s. Before the
    watchdog, ray::DashboardAgent and ray::RuntimeEnvAgent outlived it for minutes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RAY_DRIVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),  # Ray's sockets live under TMPDIR: keep the path short
    )
    tree: list[Proc] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        tree = [
            Proc(c.pid, c.create_time())
            for c in psutil.Process(proc.pid).children(recursive=True)
            if is_ray_process(c)
        ]
        names = {psutil.Process(p.pid).name() for p in tree}
        assert {"raylet", "gcs_server"} <= names, names
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        survivors = _wait_gone(tree, 20.0)
        assert survivors == [], [psutil.Process(p.pid).cmdline()[:1] for p in survivors]
    finally:
        proc.kill()
        proc.wait()
        _kill(tree)
