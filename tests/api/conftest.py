from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factory.api import create_app
from factory.app import App
from tests.api.helpers import Golden, build_golden, serving_app

TOKEN = "test-token-3f9a"


@pytest.fixture(scope="session")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    return build_golden(tmp_path_factory.mktemp("golden"))


@pytest.fixture
def served(golden: Golden, db_url: str, workdir: Path) -> Iterator[App]:
    """An App on a copy of the golden database (SQLite and PostgreSQL), token set."""
    app = serving_app(golden, db_url, workdir, **{"api.token": TOKEN})
    yield app
    app.close()


@pytest.fixture
def client(served: App) -> Iterator[TestClient]:
    with TestClient(create_app(served)) as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
