"""End to end through the installed ``factory`` command, as a new user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

FACTORY = shutil.which("factory", path=str(Path(sys.executable).parent)) or "factory"

SETTINGS = """
[plan]
architectures = ["lightgbm", "arima"]
feature_sets = ["ohlcv", "momentum"]
lookbacks = [8]
max_grid = 1
[evaluation]
min_train = 250
retrain_every = 200
execution = "close"  # the planted signal is one-bar mean reversion
[scheduler]
backend = "serial"
"""


def run(
    cwd: Path, *args: str, ok: bool = True, db_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    if db_url is not None:
        env["FACTORY_DB_URL"] = db_url
    proc = subprocess.run(
        [FACTORY, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if ok:
        assert proc.returncode == 0, (
            f"factory {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def run_json(cwd: Path, *args: str, db_url: str | None = None) -> dict:  # type: ignore[type-arg]
    return json.loads(run(cwd, *args, "--format", "json", db_url=db_url).stdout)


def test_the_whole_loop_from_the_command_line(tmp_path: Path, db_url: str) -> None:
    """import -> plan -> evaluate -> rate -> promote -> rebalance -> leaderboard -> API, on
    SQLite and on the PostgreSQL server (FACTORY_DB_URL, as a deployment sets it)."""
    run = partial(globals()["run"], db_url=db_url)
    run_json = partial(globals()["run_json"], db_url=db_url)
    run(tmp_path, "init")
    assert (tmp_path / "factory.toml").exists()
    assert (tmp_path / "factory.db").exists() == db_url.startswith("sqlite")
    (tmp_path / "factory.toml").write_text(SETTINGS)

    synth = run_json(
        tmp_path,
        "data",
        "synth",
        "--assets",
        "6",
        "--bars",
        "800",
        "--seed",
        "3",
        "--signal",
        "planted",
    )
    assert synth["imports"][0]["rows_added"] == 4800
    shown = run_json(tmp_path, "data", "show")
    assert [r["asset"] for r in shown["bars"]] == [f"SYN{i:03d}" for i in range(6)]
    assert {r["bars"] for r in shown["bars"]} == {800}

    plan = run_json(tmp_path, "configs")
    assert plan["total"] == 3 and plan["by_architecture"] == {"arima": 1, "lightgbm": 2}
    explain = run(tmp_path, "configs", "--explain").stdout
    assert "arima reads only ohlcv" in explain and "= 3 configs" in explain

    ev = run_json(tmp_path, "evaluate")
    assert (ev["evaluated"], ev["failed"], ev["skipped"]) == (3, 0, 0)
    assert run_json(tmp_path, "evaluate")["skipped"] == 3  # resumes: nothing to do

    snap = run_json(tmp_path, "rate")
    assert snap["snapshot"]["n_configs"] == 3
    promo = run_json(tmp_path, "promote")
    assert promo["cycle"]["active"] and {d["action"] for d in promo["decisions"]} <= {
        "promoted",
        "skipped",
    }
    reb = run_json(tmp_path, "rebalance")["rebalance"]
    assert Path(reb["export_path"]).exists() and reb["n_active"] == len(promo["cycle"]["active"])
    assert sum(abs(w) for w in reb["weights"].values()) <= 1.0 + 1e-9

    board = run_json(tmp_path, "leaderboard")
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3]
    assert {r["family"] for r in board["rows"]} == {"classical", "econometric"}
    assert all(isinstance(r["sharpe_all"], float) for r in board["rows"])
    csv = run(tmp_path, "leaderboard", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("rank,config_id,family") and len(csv) == 4
    table = run(tmp_path, "leaderboard").stdout
    assert "leaderboard" in table and "active" in table

    # The API serves the same database the daemon writes.
    from fastapi.testclient import TestClient

    from factory.api.app import create_app
    from factory.app import App
    from factory.settings import load_settings

    api = App(load_settings(tmp_path / "factory.toml", db_url=db_url))
    with TestClient(create_app(api)) as client:
        rows = client.get("/leaderboard").json()["rows"]
        assert sorted(r["config_id"] for r in rows) == sorted(r["config_id"] for r in board["rows"])
        latest = client.get("/rebalance/latest").json()
        assert latest["weights"] == pytest.approx(reb["weights"])
    api.db.dispose()


def test_bad_input_exits_2_with_file_row_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,asset,open,high,low,close,volume\n2020-01-02,AAA,10,9,11,10,5\n")
    proc = run(tmp_path, "data", "import", str(bad), ok=False)
    assert proc.returncode == 2
    assert f"{bad}: row 1 (line 2): high < low" in " ".join(proc.stderr.split())
    shown = run_json(tmp_path, "data", "show")
    assert shown["bars"] == []


def test_init_records_the_database_it_creates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    run(tmp_path, "--db", url, "init", "custom.toml")
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "factory.db").exists()
    assert url in (tmp_path / "custom.toml").read_text()
    shown = run_json(tmp_path, "--config", "custom.toml", "data", "show")
    assert shown["database"].endswith("elsewhere.db")


def test_error_text_keeps_square_brackets(tmp_path: Path) -> None:
    (tmp_path / "factory.toml").write_text("[evaluation]\ncost_bp = 5\n")
    proc = run(tmp_path, "configs", ok=False)
    assert "unknown key [evaluation] cost_bp" in proc.stderr


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    (tmp_path / "factory.toml").write_text("[evaluation]\nretrain = 5\n")
    proc = run(tmp_path, "configs", ok=False)
    assert proc.returncode == 2 and "did you mean 'retrain_every'" in proc.stderr


def test_arch_commands(tmp_path: Path) -> None:
    listed = run_json(tmp_path, "arch", "list")
    names = {a["name"]: a for a in listed["architectures"]}
    assert {"lightgbm", "lstm", "arima", "ppo"} <= set(names)
    assert {a["family"] for a in names.values()} >= {"classical", "deep", "econometric", "rl"}
    shown = run_json(tmp_path, "arch", "show", "arima")
    assert shown["tags"]["per_asset"] is True and shown["entry_point"].endswith(":ARIMA")
    proc = run(tmp_path, "arch", "show", "lgbm", ok=False)
    assert proc.returncode == 1 and "did you mean" in proc.stderr


@pytest.mark.slow
def test_arch_check(tmp_path: Path) -> None:
    out = run_json(tmp_path, "arch", "check", "lightgbm")
    assert out["passed"] and len(out["checks"]) >= 10


def test_health_exits_0_while_the_database_answers_and_1_when_it_does_not(
    tmp_path: Path,
) -> None:
    run(tmp_path, "init")
    assert run_json(tmp_path, "health")["status"] == "ok"
    assert "answers" in run(tmp_path, "health").stdout
    gone = run(
        tmp_path, "--db", "postgresql+psycopg://postgres@127.0.0.1:1/none", "health", ok=False
    )
    assert gone.returncode == 1 and "cannot open database" in gone.stderr
