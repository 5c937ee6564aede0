"""Versioned response cache for the read endpoints polled most (leaderboard, latest
rebalance).

Building the leaderboard reads and joins a whole rating snapshot (tens of milliseconds
for hundreds of configs); checking whether anything changed is one small query. So
each cached entry is stored with the *version* of the data it was built from (ids and
timestamps of the newest rows, see `factory.api.views`), and rebuilt only when that
version changes — a new snapshot, cycle, evaluation or rebalance. Nothing is ever served
stale: the version is read on every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

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

    def get(self, name: Hashable, version: Hashable, build: Callable[[], M | None]) -> Entry[M]:
        with self._lock:
            hit = self._entries.get(name)
        if hit is not None and hit.version == version:
            return hit  # type: ignore[return-value]
        model = build()
        entry: Entry[M] = Entry(version, model, model.model_dump_json().encode() if model else b"")
        with self._lock:
            self._entries[name] = entry  # type: ignore[assignment]
            self.builds += 1
        return entry
