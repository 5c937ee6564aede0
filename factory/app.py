"""The application context: settings, clock, database and artifact store, opened lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

from factory.artifacts import ArtifactStore
from factory.clock import Clock, SystemClock
from factory.settings import Settings
from factory.storage.database import Database


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    # Inspection commands: the database is opened read-only and never migrated.
    read_only: bool = False

    @cached_property
    def db(self) -> Database:
        """The database, migrated to the newest schema on first use (or, read-only,
        checked to be a Model Factory database at the newest schema)."""
        return Database(self.settings.db_url, read_only=self.read_only)

    @cached_property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.settings.artifacts)

    @property
    def output_dir(self) -> Path:
        path = Path(self.settings.output_dir).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def now(self) -> datetime:
        """Current time as naive UTC (the database convention)."""
        return self.clock.now().replace(tzinfo=None)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.dispose()
