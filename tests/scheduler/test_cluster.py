"""Ray faults and a real multi-process cluster on loopback.

* A worker process killed with SIGKILL mid-task: Ray retries the task (bounded,
  ``MAX_TASK_RETRIES``) and the result arrives; a task that kills its worker every time
  ends as an error with the reason, and the rest go on.
* A cluster started the way docs/operations.md says (``ray start --head`` + a second
  node process, token authentication off) with PostgreSQL as the store: ``factory
  evaluate --address`` and ``factory run --once --address`` go through it, and a sweep
  survives its second node being killed mid-way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from scheduler.backends import MAX_TASK_RETRIES, RayBackend

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
FACTORY = shutil.which("factory", path=str(Path(sys.executable).parent)) or "factory"


@pytest.mark.ray
@pytest.mark.xdist_group("ray")
def test_a_killed_worker_is_retried_and_a_worker_killer_fails_with_the_reason(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "first-attempt.pid"

    def slow_once(path: str) -> str:
        # First attempt: announce the pid and wait to be killed. A retry finds the marker.
        if not os.path.exists(path):
            Path(path).write_text(str(os.getpid()))
            time.sleep(120)
            return "not killed"
        return "retried"

    def kills_its_worker() -> None:
        os._exit(1)

    backend = RayBackend(workers=1)
    try:
        backend.submit("slow", slow_once, str(marker))
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the task never started"
        os.kill(int(marker.read_text()), signal.SIGKILL)
        backend.submit("killer", kills_its_worker)
        outcomes = {o.tag: o for o in backend.results(timeout_s=300)}
    finally:
        backend.shutdown()
    assert outcomes["slow"].error is None and outcomes["slow"].value == "retried"
    killer = outcomes["killer"]
    assert killer.value is None and killer.error is not None
    assert "Worker" in killer.error or "died" in killer.error, killer.error
    assert MAX_TASK_RETRIES >= 1


# -- a loopback cluster -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a ``ray start --block`` process and everything it started (its raylet,
    workers and agents ignore SIGTERM for a long time); never `ray stop`, which would stop
    every Ray process of the machine."""
    try:
        parent = psutil.Process(proc.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)


class LoopbackCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "RAY_"))},
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.address = ""

    def start(self) -> None:
        head = [RAY, "start", "--head", f"--port={self.port}", "--num-cpus=1"]
        head += ["--include-dashboard=false", "--disable-usage-stats"]
        head += [f"--temp-dir={self.root / 'ray'}", "--block"]
        self.nodes.append(self._spawn(head, "head"))
        self.address = f"{_node_ip()}:{self.port}"
        _wait_port(_node_ip(), self.port)
        self.nodes.append(
            self._spawn(
                [RAY, "start", f"--address={self.address}", "--num-cpus=1", "--block"], "node2"
            )
        )
        self._wait_cpus(2)

    def _spawn(self, cmd: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        return subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd="/")

    def _wait_cpus(self, n: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        status = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(
                [RAY, "status", f"--address={self.address}"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            status = proc.stdout
            if f"/{n}.0 CPU" in status:
                return
            time.sleep(1)
        raise AssertionError(f"the cluster never reached {n} CPUs:\n{status}")

    def factory(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FACTORY, *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=900
        )

    def stop(self) -> None:
        for node in reversed(self.nodes):
            _kill_tree(node)


def _node_ip() -> str:
    """The address `ray start --head` advertises: the host's own IP, not 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.255", 9))  # no packet is sent; picks the outgoing interface
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _wait_port(host: str, port: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing listens on {host}:{port}")


def _wait_for_task_on(node: subprocess.Popen[bytes], sweep: subprocess.Popen[str]) -> bool:
    """Wait until a worker of ``node`` is running a task (its title becomes ``ray::_call``)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and sweep.poll() is None:
        for p in psutil.Process(node.pid).children(recursive=True):
            try:
                if any("ray::_call" in part for part in p.cmdline()):
                    return True
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        time.sleep(0.1)
    return False


@pytest.fixture
def cluster() -> Iterator[LoopbackCluster]:
    root = Path(tempfile.mkdtemp(prefix="mfc-", dir="/tmp"))  # Ray's socket paths are short
    c = LoopbackCluster(root)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


SETTINGS = """
[plan]
architectures = ["lightgbm", "ridge"]
feature_sets = ["ohlcv", "momentum"]
lookbacks = [8]
max_grid = 2
[evaluation]
min_train = 250
retrain_every = 100
[scheduler]
backend = "ray"
"""


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.xdist_group("ray")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the production store
def test_factory_runs_through_a_loopback_cluster_and_survives_a_node_kill(
    cluster: LoopbackCluster, tmp_path: Path, db_url: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "factory.toml").write_text(SETTINGS)
    cluster.env["FACTORY_DB_URL"] = db_url
    synth = cluster.factory(work, "data", "synth", "--assets", "4", "--bars", "900", "--seed", "1")
    assert synth.returncode == 0, synth.stderr
    plan = json.loads(cluster.factory(work, "configs", "--format", "json").stdout)
    n = plan["total"]
    assert n >= 4

    ev = cluster.factory(work, "evaluate", "--address", cluster.address, "--format", "json")
    assert ev.returncode == 0, ev.stdout + ev.stderr
    assert json.loads(ev.stdout)["evaluated"] == n

    once = cluster.factory(work, "run", "--once", "--address", cluster.address)
    assert once.returncode == 0, once.stdout + once.stderr
    for job in ("rate", "promote", "rebalance"):
        assert job in once.stdout

    # A forced re-evaluation; the second node dies with tasks on it. Ray retries them on
    # the head and the sweep completes with every config evaluated.
    proc = subprocess.Popen(
        [FACTORY, "evaluate", "--address", cluster.address, "--force", "--format", "json"],
        cwd=work,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert _wait_for_task_on(cluster.nodes[1], proc), "no task ever ran on the second node"
    _kill_tree(cluster.nodes[1])
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out + err
    report = json.loads(out)
    assert (report["evaluated"], report["failed"]) == (n, 0), report
