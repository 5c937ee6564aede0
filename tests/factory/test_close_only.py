"""Close-only universes (adjusted closes, no open/high/low/volume): import without
inventing anything, storage on SQLite and PostgreSQL, the plan's exclusions, the
``next_open`` refusal and a small evaluation on closes alone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from factory import catalog
from factory.cli import app as cli
from factory.data.errors import DataValidationError
from factory.data.importer import import_frame, import_path
from factory.data.loader import validate_frame
from factory.data.synth import synth_universe
from factory.evaluation.inputs import check_execution
from factory.settings import SettingsError
from factory.storage.bars import data_summary, load_market_data
from factory.storage.database import Database, table
from scheduler.backends import SerialBackend
from scheduler.sweep import run_sweep
from tests.factory.helpers import make_test_app

AT = datetime(2026, 3, 2, 21, 0)
OHLV = ("open", "high", "low", "volume")


def closes(
    n_assets: int = 3, n_bars: int = 300, *, seed: int = 0, prefix: str = "C"
) -> pd.DataFrame:
    """A long frame of timestamp, asset, close (taken from a synthetic universe's closes)."""
    bars = synth_universe(n_assets, n_bars, seed=seed).bars
    out = bars[["timestamp", "asset", "close"]].copy()
    out["asset"] = out["asset"].str.replace("SYN", prefix, regex=False)
    return out


def ohlcv(n_assets: int = 2, n_bars: int = 300, *, seed: int = 1) -> pd.DataFrame:
    return synth_universe(n_assets, n_bars, seed=seed).bars


def stored_nulls(db: Database) -> dict[str, int]:
    """Count of NULLs per OHLV column, and the rows stored."""
    t = table("bars")
    with db.begin() as conn:
        total = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        out = {"rows": total}
        for c in OHLV:
            out[c] = total - int(conn.execute(select(func.count(t.c[c]))).scalar_one())
    return out


def test_close_only_round_trip_invents_nothing(db: Database) -> None:
    frame = closes()
    first = import_frame(db, frame, kind="bars", source="closes", at=AT, close_only=True)
    assert (first.rows_in, first.rows_added) == (900, 900)
    # Stored: the closes, and NULL (not a copy of the close, not zero) everywhere else.
    assert stored_nulls(db) == {"rows": 900, "open": 900, "high": 900, "low": 900, "volume": 900}
    again = import_frame(db, frame, kind="bars", source="closes", at=AT, close_only=True)
    assert again.rows_added == 0

    data = load_market_data(db)
    assert data.columns == ("close",) and data.close_only
    back = data.bars["close"].reset_index()
    expected = frame.sort_values(["timestamp", "asset"], ignore_index=True)
    np.testing.assert_allclose(back["close"].to_numpy(), expected["close"].to_numpy())
    assert "open" not in data.panel() and "volume" not in data.panel()
    profile = catalog.profile(data)
    assert profile.columns == frozenset({"close"}) and profile.n_assets == 3


def test_close_only_and_ohlcv_bars_of_one_asset_do_not_mix(db: Database) -> None:
    full = ohlcv(1, 50)  # asset SYN000
    import_frame(db, full, kind="bars", source="full", at=AT)
    later = full[["timestamp", "asset", "close"]].assign(
        timestamp=full["timestamp"] + pd.Timedelta(days=400)
    )
    with pytest.raises(DataValidationError, match="close-only and OHLCV bars mixed") as err:
        import_frame(db, later, kind="bars", source="later", at=AT, close_only=True)
    assert "SYN000 has OHLCV bars stored" in str(err.value)
    # and the other way round, for an asset stored close-only
    import_frame(db, closes(1, 50), kind="bars", source="closes", at=AT, close_only=True)
    more = ohlcv(1, 50).assign(
        asset="C000", timestamp=lambda f: f["timestamp"] + pd.Timedelta(days=400)
    )
    with pytest.raises(DataValidationError, match="C000 has close-only bars stored"):
        import_frame(db, more, kind="bars", source="more", at=AT)
    assert stored_nulls(db)["rows"] == 100  # nothing of the refused imports was written
    summary = data_summary(db)[0].set_index("asset")["columns"].to_dict()
    assert summary == {"C000": "close", "SYN000": "ohlcv"}


def test_a_mixed_universe_keeps_only_the_columns_every_asset_has(db: Database) -> None:
    import_frame(db, ohlcv(2, 60), kind="bars", source="full", at=AT)
    import_frame(db, closes(2, 60), kind="bars", source="closes", at=AT, close_only=True)
    both = load_market_data(db)
    assert both.columns == ("close",)  # no NaN opens for the close-only assets
    full_only = load_market_data(db, assets=["SYN000", "SYN001"])
    assert full_only.columns == ("open", "high", "low", "close", "volume")
    assert load_market_data(db, assets=["C000"]).columns == ("close",)


def test_close_only_validation(tmp_path: Path) -> None:
    frame = closes(2, 10)
    with pytest.raises(DataValidationError, match="--close-only"):
        validate_frame("f.csv", frame, "bars")  # without the flag: says how to import it
    with pytest.raises(DataValidationError, match=r"not a close-only file.*'open'"):
        validate_frame("f.csv", ohlcv(1, 10), "bars", close_only=True)
    bad = frame.copy()
    bad.loc[3, "close"] = -1.0
    with pytest.raises(DataValidationError, match="non-positive price") as err:
        validate_frame("f.csv", bad, "bars", close_only=True)
    assert err.value.row == 4
    bad.loc[3, "close"] = np.nan
    with pytest.raises(DataValidationError, match="NaN or inf price"):
        validate_frame("f.csv", bad, "bars", close_only=True)
    with pytest.raises(ValueError, match="bars"):
        validate_frame("f.csv", frame, "sentiment", close_only=True)
    # adj_close is accepted (and ignored) as in OHLCV files
    ok = validate_frame("f.csv", frame.assign(adj_close=1.0), "bars", close_only=True)
    assert list(ok.columns) == ["timestamp", "asset", "close"]


def test_close_only_csv_import(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "closes.csv"
    closes(2, 20).to_csv(path, index=False)
    with pytest.raises(
        DataValidationError, match="a file of closes only imports with --close-only"
    ):
        import_path(db, path, at=AT)
    result = import_path(db, path, at=AT, close_only=True)
    assert result.rows_added == 40 and stored_nulls(db)["open"] == 40


def test_the_plan_excludes_what_needs_ohlv_and_keeps_close_only_pipelines(tmp_path: Path) -> None:
    a = make_test_app(
        tmp_path,
        **{
            "plan.architectures": ["ridge"],
            "plan.feature_sets": ["momentum", "cross_asset", "ohlcv", "volatility", "technical"],
        },
    )
    import_frame(a.db, closes(3, 400), kind="bars", source="c", at=AT, close_only=True)
    exp = catalog.plan(a.settings, catalog.profile(load_market_data(a.db)))
    # volatility runs on its close-to-close part (features/pipelines/volatility.py)
    assert {c.feature_set for c in exp.configs} == {"momentum", "cross_asset", "volatility"}
    reasons = {e.reason for e in exp.exclusions if e.rule == "infeasible data"}
    assert reasons == {
        "ohlcv needs high, low, open, volume, which the data lacks",
        "technical needs high, low, volume, which the data lacks",
    }
    a.close()


def test_next_open_execution_is_refused_on_close_only_data(db: Database) -> None:
    import_frame(db, closes(2, 30), kind="bars", source="c", at=AT, close_only=True)
    data = load_market_data(db)
    with pytest.raises(SettingsError, match=r"next_open.*close-only"):
        check_execution("next_open", data)
    check_execution("next_close", data)
    check_execution("close", data)
    import_frame(db, ohlcv(1, 30), kind="bars", source="o", at=AT)
    check_execution("next_open", load_market_data(db, assets=["SYN000"]))


def test_a_small_evaluation_on_closes_alone(tmp_path: Path) -> None:
    a = make_test_app(
        tmp_path,
        **{
            "plan.architectures": ["ridge"],
            "plan.feature_sets": ["momentum", "cross_asset", "volatility", "ohlcv"],
        },
    )
    import_frame(a.db, closes(4, 500, seed=5), kind="bars", source="c", at=AT, close_only=True)
    data = load_market_data(a.db)
    configs = catalog.plan(a.settings, catalog.profile(data)).configs
    assert {c.feature_set for c in configs} == {"momentum", "cross_asset", "volatility"}
    report = run_sweep(a.db, a.settings, data, configs, SerialBackend(), a.clock, progress=False)
    assert (report.evaluated, report.failed) == (len(configs), 0)
    t = table("config_returns")
    with a.db.begin() as conn:
        rows = conn.execute(select(t.c.config_id, func.count()).group_by(t.c.config_id)).all()
    assert len(rows) == len(configs) and all(n > 100 for _, n in rows)

    nxt = make_test_app(tmp_path, **{"evaluation.execution": "next_open"})
    with pytest.raises(SettingsError, match="next_open"):
        run_sweep(nxt.db, nxt.settings, data, configs, SerialBackend(), nxt.clock, progress=False)
    a.close()
    nxt.close()


def test_the_sp500_20_sample_imports_close_only_from_the_command_line(
    tmp_path: Path, workdir: Path
) -> None:
    """skfolio's 20 large caps, offline: 20 assets x 8313 days, closes only (one import
    of 166,260 bars; SQLite only, the storage rules are tested on both databases above)."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    runner = CliRunner()
    helptext = runner.invoke(cli, ["data", "import", "--help"], terminal_width=200).output
    assert "sp500-20" in helptext and "arch" in helptext and "--close-only" in helptext
    bad = runner.invoke(
        cli, ["--db", url, "data", "import", "--sample", "sp500-21"], env={"COLUMNS": "200"}
    )
    assert bad.exit_code == 2 and "arch, sp500-20" in bad.output

    out = runner.invoke(
        cli, ["--db", url, "data", "import", "--sample", "sp500-20", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert payload["close_only"] is True and payload["sample"] == "sp500-20"
    assert len(payload["assets"]) == 20 and {"AAPL", "XOM"} <= set(payload["assets"])
    assert payload["rows_added"] == 20 * 8313
    db = Database(url)
    assert stored_nulls(db) == dict.fromkeys(("rows", *OHLV), 20 * 8313)
    data = load_market_data(db)
    assert data.columns == ("close",) and data.timestamps[0] == pd.Timestamp("1990-01-02")
    db.dispose()


def test_migration_0014_keeps_stored_bars_and_lets_ohlv_be_null(db_url: str) -> None:
    """A database at 0010 (OHLCV NOT NULL) with a bar stored upgrades to the head: the bar
    is intact and close-only bars can be stored."""
    from alembic import command
    from sqlalchemy import inspect, text

    from factory.storage.database import alembic_config, create_db_engine, normalise_url

    engine = create_db_engine(normalise_url(db_url))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0010")
        nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("bars")}
        assert not any(nullable[c] for c in OHLV)
        conn.execute(
            text(
                "INSERT INTO bars (asset, ts, open, high, low, close, volume) "
                "VALUES ('OLD', '2020-01-02 00:00:00', 1, 2, 0.5, 1.5, 10)"
            )
        )
    engine.dispose()
    db = Database(db_url)  # migrates to the head
    with db.begin() as conn:
        nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("bars")}
        assert all(nullable[c] for c in OHLV) and not nullable["close"]
        old = conn.execute(text("SELECT open, high, low, close, volume FROM bars")).one()
    assert tuple(old) == (1.0, 2.0, 0.5, 1.5, 10.0)
    import_frame(db, closes(1, 5), kind="bars", source="c", at=AT, close_only=True)
    assert stored_nulls(db)["open"] == 5
    db.dispose()
