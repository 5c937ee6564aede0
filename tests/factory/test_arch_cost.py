"""`factory arch show` reports what an architecture has cost in this database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from factory.cli import app as cli
from factory.plan import ModelConfig
from factory.storage.database import Database
from factory.storage.results import architecture_cost, store_result, upsert_configs
from tests.factory.test_return_cache import _result

AT = datetime(2024, 1, 1)


def test_measured_cost_per_architecture(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    assert architecture_cost(db, "ridge") is None
    configs = [ModelConfig("ridge", 1, "classical", lb, "ohlcv", 1, ()) for lb in (5, 10)]
    upsert_configs(db, configs, at=AT)
    for i, c in enumerate(configs):
        r = _result(c.config_id, 0, 10, 1.0)
        state = replace(r.state, n_retrains=2 + i, fit_seconds=3.0 + i, predict_seconds=0.5)
        store_result(db, replace(r, state=state), eval_key="k", at=AT)
    cost = architecture_cost(db, "ridge")
    assert cost is not None and cost.configs == 2
    assert (cost.fit_seconds, cost.predict_seconds, cost.retrains) == (3.5, 0.5, 2.5)
    db.dispose()
    out = CliRunner().invoke(cli, ["--db", db_url, "arch", "show", "ridge", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["measured_cost"]["configs"] == 2
    missing = tmp_path / "none.db"
    out = CliRunner().invoke(cli, ["--db", f"sqlite:///{missing}", "arch", "show", "ridge"])
    assert "no evaluation of it" in out.output and not missing.exists()
