from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.app import App
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from tests.factory.helpers import make_test_app


@pytest.fixture
def app(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(workdir, db_url)
    u = synth_universe(3, 600, seed=2, signal="planted")
    import_frame(a.db, u.bars, kind="bars", source="synth", at=a.now())
    yield a
    a.close()
