"""Shared fixtures. Storage tests take ``db_url``/``db`` and run once on SQLite and once on
PostgreSQL when a server is reachable (``FACTORY_TEST_POSTGRES_URL``, or
127.0.0.1:5432 with user ``postgres`` and database ``test``). Each PostgreSQL test gets a
schema of its own, dropped afterwards."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.backends import single_thread

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

single_thread()  # tests behave like a Ray worker: one compute thread


def postgres_url() -> str | None:
    url = os.environ.get("FACTORY_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_PG
    except OSError:
        return None


PG_URL = postgres_url()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'factory.db'}"
        return
    if PG_URL is None:
        pytest.skip("no PostgreSQL server reachable (set FACTORY_TEST_POSTGRES_URL)")
    from factory.storage.database import scratch_schema

    with scratch_schema(PG_URL) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[object]:
    from factory.storage.database import Database

    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory with no FACTORY_* variables leaking in."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    return tmp_path


# Hypothesis: CI and `make test` draw the same examples every run (derandomize), so a
# red build is reproducible. `HYPOTHESIS_PROFILE=explore pytest ...` searches afresh.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("repeatable", derandomize=True)
_hypothesis_settings.register_profile("explore", derandomize=False)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
