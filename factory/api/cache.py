"""Versioned response cache for the read endpoints polled most (leaderboard, latest
rebalance).

Building the leaderboard reads and joins a whole rating snapshot (tens of milliseconds
for hundreds of configs); checking whether anything changed is one small query. So
each cached entry is stored with the *version* of the data it was built from (ids and
timestamps of the newest rows, see `factory.api.views`), and rebuilt only when that
version changes — a new snapshot, cycle, evaluation or rebalance. Nothing is ever served
stale: the version is read on every request.

The routes that use it are ``async``: a hit costs one indexed query (well under a
millisecond), cheaper to run on the event loop than to hand to a worker thread, and
under load the thread hand-off is what waits for a CPU (measured with bench/api.py:
p99 at 200 requests/s). Rebuilds go to the thread pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Entry(Generic[M]):
    version: Hashable
    model: M | None
    body: bytes  # the model's JSON (empty when model is None)


class VersionedCache:
    """Thread-safe map of name -> the newest `Entry` built."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, Entry[BaseModel]] = {}
        self._lock = threading.Lock()
        self.builds = 0  # how often an entry was (re)built, for tests

    def hit(self, name: Hashable, version: Hashable) -> Entry[BaseModel] | None:
        with self._lock:
            entry = self._entries.get(name)
        return entry if entry is not None and entry.version == version else None

    def store(self, name: Hashable, version: Hashable, model: M | None) -> Entry[M]:
        entry: Entry[M] = Entry(version, model, model.model_dump_json().encode() if model else b"")
        with self._lock:
            self._entries[name] = entry  # type: ignore[assignment]
            self.builds += 1
        return entry

    def get(self, name: Hashable, version: Hashable, build: Callable[[], M | None]) -> Entry[M]:
        """The entry for ``version``, built (in this thread) if missing or outdated."""
        hit = self.hit(name, version)
        if hit is not None:
            return hit  # type: ignore[return-value]
        return self.store(name, version, build())

    async def aget(
        self, name: Hashable, version: Hashable, build: Callable[[], M | None]
    ) -> Entry[M]:
        """As `get`, for async routes: a rebuild runs in the worker thread pool."""
        hit = self.hit(name, version)
        if hit is not None:
            return hit  # type: ignore[return-value]
        return self.store(name, version, await run_in_threadpool(build))
