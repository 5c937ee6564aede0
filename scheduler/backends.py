"""Execution backends: where evaluation tasks run.

``ray`` (default): ``ray.init`` embedded on this machine with ``num_cpus = workers`` and
the dashboard off, or joined to a cluster by address. The embedded runtime's processes
die with the driver, even after ``kill -9`` (a watchdog sidecar, `scheduler.ray_reaper`). Large inputs go to the object store
once (`put`) and every task reads them from there. Each worker runs one thread
(``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``) so that ``workers`` tasks use
``workers`` cores.

``serial``: in-process, one task at a time, for tests and debugging (breakpoints work).

Backends only execute; what to run and what to do with results is the caller's policy.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from scheduler.ray_reaper import Watchdog, reap_leftovers, start_watchdog

MAX_TASK_RETRIES = 2
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def single_thread() -> None:
    """Pin the current process to one compute thread (called at the start of every task)."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@dataclass(frozen=True)
class Outcome:
    """A finished task: its tag, its value (if it returned) or the error (if it crashed)."""

    tag: Any
    value: Any = None
    error: str | None = None
    seconds: float = 0.0


class Backend(Protocol):
    name: str

    @property
    def slots(self) -> int:
        """Tasks that run at once (workers)."""
        ...

    def warm_up(self, fn: Callable[..., Any], *args: Any) -> None: ...

    def put(self, obj: Any) -> Any: ...

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None: ...

    def results(self, timeout_s: float | None = None) -> Iterator[Outcome]: ...

    def shutdown(self) -> None: ...


class SerialBackend:
    """Runs each task in-process, in submission order, when results are iterated."""

    name = "serial"
    slots = 1

    def __init__(self) -> None:
        self._queue: list[tuple[Any, Callable[..., Any], tuple[Any, ...]]] = []

    def warm_up(self, fn: Callable[..., Any], *args: Any) -> None:
        """Nothing to do: tasks run in this process, which imports what they need."""

    def put(self, obj: Any) -> Any:
        return obj

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.append((tag, fn, args))

    def results(self, timeout_s: float | None = None) -> Iterator[Outcome]:
        while self._queue:
            tag, fn, args = self._queue.pop(0)
            single_thread()  # the same computation as on a Ray worker
            start = time.perf_counter()
            try:
                value = fn(*args)
            except Exception as exc:
                yield Outcome(
                    tag, error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - start
                )
            else:
                yield Outcome(tag, value=value, seconds=time.perf_counter() - start)

    def shutdown(self) -> None:
        self._queue.clear()


def _call(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """Runs in the worker: the value and the seconds the task itself took (waiting in
    Ray's queue is not task time)."""
    single_thread()
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


class RayBackend:
    """Ray tasks of one CPU each. Starts a local Ray runtime unless ``address`` is given
    (then joins that cluster). A task that runs longer than ``timeout_s`` is cancelled and
    reported as an error. Ray does not report when a task starts; tasks are dispatched in
    submission order, so a task's clock starts when it becomes one of the oldest
    ``workers`` outstanding tasks (waiting in the queue does not count)."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._started = False
        self._watchdog: Watchdog | None = None
        if not ray.is_initialized():
            env = {"env_vars": {var: "1" for var in THREAD_VARS}}
            if address:
                _check_reachable(address)
                ray.init(address=address, runtime_env=env, log_to_driver=True)
            else:
                # Processes of an earlier local runtime whose driver was killed and whose
                # watchdog did not get to them (see scheduler/ray_reaper.py).
                reaped = reap_leftovers()
                if reaped:
                    logging.getLogger(__name__).warning(
                        "reaped %d Ray processes left by a killed driver: %s", len(reaped), reaped
                    )
                ray.init(
                    address="local",  # never join a stale cluster or $RAY_ADDRESS by accident
                    num_cpus=workers,
                    include_dashboard=False,
                    runtime_env=env,
                    log_to_driver=True,
                    logging_level=logging.WARNING,
                    configure_logging=True,
                )
                # The local runtime's processes die with this driver, even after kill -9.
                self._watchdog = start_watchdog()
            self._started = True
        # A task whose worker process or node dies is re-run (at most MAX_TASK_RETRIES
        # times: evaluations are deterministic, so a retry computes the same result); a
        # config that keeps killing its worker then ends as an error with Ray's reason.
        self._remote = ray.remote(num_cpus=1, max_retries=MAX_TASK_RETRIES)(_call)
        self._slots = max(1, int(ray.cluster_resources().get("CPU", workers)))
        self._pending: dict[Any, tuple[Any, float]] = {}  # ref -> (tag, submitted at)
        self._running_since: dict[Any, float] = {}
        self._warming: list[Any] = []  # refs of the warm-up tasks (never waited for)

    @property
    def slots(self) -> int:
        """CPUs of the runtime: tasks that run at once."""
        return self._slots

    def warm_up(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` once in each of `slots` worker processes, in the background,
        the first time only (later calls do nothing): a fresh worker spends seconds on
        imports (torch alone 2-4 s) before its first task, and this lets it do them while
        the driver is still loading data and building inputs. Nobody waits for these
        tasks; their errors are ignored (the real task then imports what it needs)."""
        if self._warming:
            return
        self._warming = [self._remote.remote(fn, *args) for _ in range(self._slots)]

    def put(self, obj: Any) -> Any:
        return self._ray.put(obj)

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        ref = self._remote.remote(fn, *args)
        self._pending[ref] = (tag, time.perf_counter())

    def results(self, timeout_s: float | None = None) -> Iterator[Outcome]:
        ray = self._ray
        while self._pending:
            now = time.perf_counter()
            for ref in list(self._pending)[: self._slots]:
                self._running_since.setdefault(ref, now)
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=5.0)
            now = time.perf_counter()
            for ref in ready:
                tag, submitted = self._pending.pop(ref)
                started = self._running_since.pop(ref, submitted)
                try:
                    value, seconds = ray.get(ref)
                except Exception as exc:  # worker crash, cancellation, task error
                    yield Outcome(tag, error=_ray_error(exc), seconds=now - started)
                else:
                    yield Outcome(tag, value=value, seconds=seconds)
            if timeout_s is not None:
                for ref, (tag, _submitted) in list(self._pending.items()):
                    running = self._running_since.get(ref)
                    if running is not None and now - running > timeout_s:
                        ray.cancel(ref, force=True)
                        self._pending.pop(ref)
                        self._running_since.pop(ref)
                        yield Outcome(
                            tag,
                            error=f"cancelled after {timeout_s:.0f} s (time budget)",
                            seconds=now - running,
                        )

    def shutdown(self) -> None:
        for ref in [*self._pending, *self._warming]:
            self._ray.cancel(ref, force=True)
        self._pending.clear()
        self._warming.clear()
        self._running_since.clear()
        if self._started:
            self._ray.shutdown()
            self._started = False
        if self._watchdog is not None:
            self._watchdog.stop()  # reaps what ray.shutdown() left (the agents)
            self._watchdog = None


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an unreachable ``host:port`` (Ray itself retries for minutes)."""
    if address in ("auto", "local") or "://" in address:
        return
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"Ray address {address!r} is not host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def _ray_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


def make_backend(name: str, *, workers: int = 2, address: str | None = None) -> Backend:
    if name == "serial":
        return SerialBackend()
    if name == "ray":
        return RayBackend(workers=workers, address=address)
    raise ValueError(f"unknown backend {name!r}; choose 'ray' or 'serial'")
