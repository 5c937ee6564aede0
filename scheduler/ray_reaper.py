"""Ray processes die with the driver that started them.

A local Ray runtime is a tree of processes under the driver: ``gcs_server`` and
``raylet`` (children), and under the raylet ``ray::DashboardAgent``,
``ray::RuntimeEnvAgent`` and the workers. When the driver is killed (``kill -9``, the
OOM killer, a crashed terminal), Ray's own fate-sharing takes down the raylet and the
workers, but the two agents are re-parented to init and keep running (~170 MB, and they
ignore SIGTERM). Ray has no setting that avoids them (``include_dashboard=False`` still
starts both), so the factory reaps them itself, twice over:

1. **Watchdog.** Right after ``ray.init`` the driver starts a small sidecar process
   (``python -m scheduler.ray_reaper watch``) in a session of its own, holding the read end
   of a pipe whose write end only the driver has. The sidecar keeps a list of the driver's
   Ray descendants (pid + start time, refreshed every half second) and, when the pipe
   reaches end-of-file — the driver closed it in `RayBackend.shutdown` or died — sends
   SIGTERM to every listed process still alive, then SIGKILL after a short grace.
2. **Pid file.** The sidecar writes that list to
   ``<tmp>/model-factory-ray-<uid>/<driver pid>-<unique>.json``. If the sidecar itself was killed too, the next local start
   (`reap_leftovers`) reaps the processes of every file whose driver is gone.

A process is only ever signalled when its pid *and* start time match the list and its
command line is a Ray one, so a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

GRACE_S = 1.0
REFRESH_S = 0.5


def state_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"model-factory-ray-{os.getuid()}"


@dataclass(frozen=True)
class Proc:
    pid: int
    started: float  # psutil create_time

    def handle(self) -> psutil.Process | None:
        """The live process, if it is still this one (same start time) and not a zombie."""
        try:
            p = psutil.Process(self.pid)
            if abs(p.create_time() - self.started) > 0.01:
                return None
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except psutil.Error:
            return None


def is_ray_process(p: psutil.Process) -> bool:
    """A process of a Ray runtime: a ``ray::`` title (agents, workers) or an executable or
    script under a ``ray`` package directory (gcs_server, raylet, dashboard, monitors)."""
    try:
        cmd = p.cmdline()
    except psutil.Error:
        return False
    return any(part.startswith("ray::") for part in cmd) or any("/ray/" in part for part in cmd[:3])


def ray_descendants(pid: int) -> list[Proc]:
    """The Ray processes below ``pid`` (empty when it is gone)."""
    me = os.getpid()
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for c in children:
        if c.pid == me or not is_ray_process(c):
            continue
        with contextlib.suppress(psutil.Error):
            out.append(Proc(c.pid, c.create_time()))
    return out


def reap(procs: Iterable[Proc], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM every listed Ray process still alive, SIGKILL what is left after
    ``grace_s``. Returns the pids signalled."""
    live = [p for proc in procs if (p := proc.handle()) is not None and is_ray_process(p)]
    for p in live:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(live, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return [p.pid for p in live]


def _write_state(path: Path, driver: Proc, procs: Sequence[Proc]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "driver": [driver.pid, driver.started],
                "processes": [[p.pid, p.started] for p in procs],
            }
        )
    )
    os.replace(tmp, path)


def _read_state(path: Path) -> tuple[Proc, list[Proc]] | None:
    try:
        data = json.loads(path.read_text())
        driver = Proc(int(data["driver"][0]), float(data["driver"][1]))
        return driver, [Proc(int(a), float(b)) for a, b in data["processes"]]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def reap_leftovers(directory: Path | None = None) -> list[int]:
    """Reap the Ray processes recorded by drivers that are gone (their watchdog did not
    get to it); called before a local Ray runtime starts. Returns the pids signalled."""
    directory = directory or state_dir()
    reaped: list[int] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        state = _read_state(path)
        if state is None:
            path.unlink(missing_ok=True)
            continue
        driver, procs = state
        if driver.handle() is not None:
            continue  # still running: its own watchdog is in charge
        reaped += reap(procs)
        path.unlink(missing_ok=True)
    return reaped


class Watchdog:
    """The sidecar of one driver (see the module docstring). `stop` after
    ``ray.shutdown()``: the sidecar reaps what is left and exits."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def start_watchdog(directory: Path | None = None) -> Watchdog:
    """Start the sidecar for this process (the Ray driver)."""
    directory = directory or state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    me = psutil.Process()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scheduler.ray_reaper",
            "watch",
            str(me.pid),
            repr(me.create_time()),
            str(directory / f"{me.pid}-{uuid.uuid4().hex[:8]}.json"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C or kill of the driver's group leaves it running
        close_fds=True,
    )
    return Watchdog(proc)


def watch(driver: Proc, state: Path, stdin: IO[bytes]) -> None:
    """The sidecar's loop: follow the driver's Ray processes until the pipe closes or the
    driver is gone, then reap them."""
    closed = threading.Event()

    def wait_eof() -> None:
        with contextlib.suppress(OSError):
            while stdin.read(1 << 16):
                pass
        closed.set()

    threading.Thread(target=wait_eof, daemon=True).start()
    known: dict[int, Proc] = {}
    try:
        while not closed.is_set() and driver.handle() is not None:
            # The driver's Ray descendants now, plus earlier ones still alive (an agent
            # whose raylet died is no longer a descendant); finished workers drop out.
            fresh = {p.pid: p for p in ray_descendants(driver.pid)}
            current = {pid: p for pid, p in known.items() if p.handle() is not None} | fresh
            if current.keys() != known.keys():
                _write_state(state, driver, list(current.values()))
            known = current
            closed.wait(REFRESH_S)
        reap(known.values())
    finally:
        state.unlink(missing_ok=True)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 4 or argv[0] != "watch":
        print("usage: python -m scheduler.ray_reaper watch PID START_TIME STATE_FILE")
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # outlive a Ctrl-C aimed at the driver
    driver = Proc(int(argv[1]), float(argv[2]))
    watch(driver, Path(argv[3]), sys.stdin.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
