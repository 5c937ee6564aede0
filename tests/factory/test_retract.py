"""Issue 7, case 4: `factory data retract` — an audited way to take back a wrongly
imported range of bars (deleted, with an event, a new data version and stale evaluations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert, select

from factory.data.errors import DataValidationError
from factory.data.importer import import_frame
from factory.storage.bars import data_version, load_market_data
from factory.storage.database import Database, table
from factory.storage.events import load_events
from factory.storage.retract import RetractionRefused, RetractRange, retract_bars
from tests.factory.db_dump import dump_rows

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2024, 6, 1)
LATER = datetime(2024, 6, 2)


def _bars(assets: tuple[str, ...] = ("AAA", "BBB"), close: float = 10.0) -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=10, freq="D")
    return pd.DataFrame(
        [
            {"timestamp": t, "asset": a, "open": close, "high": close + 1, "low": close - 1}
            | {"close": close, "volume": 1.0}
            for t in stamps
            for a in assets
        ]
    )


def _evaluation(db: Database, cid: str, first: str, last: str) -> None:
    with db.begin() as conn:
        conn.execute(
            insert(table("configs")).values(
                config_id=cid,
                architecture="arima",
                arch_version=1,
                family="econometric",
                lookback=7,
                feature_set="ohlcv",
                feature_selection="all",
                params="{}",
                created_at=AT,
            )
        )
        conn.execute(
            insert(table("evaluations")).values(
                config_id=cid,
                eval_key="k1",
                status="done",
                first_ts=pd.Timestamp(first).to_pydatetime(),
                last_ts=pd.Timestamp(last).to_pydatetime(),
                updated_at=AT,
            )
        )


def _eval_keys(db: Database) -> dict[str, str]:
    ev = table("evaluations")
    with db.begin() as conn:
        return dict(conn.execute(select(ev.c.config_id, ev.c.eval_key)).all())  # type: ignore[arg-type]


def test_retract_removes_the_range_records_the_audit_and_marks_readers_stale(
    db: Database,
) -> None:
    import_frame(db, _bars(), kind="bars", source="wrong.csv", at=AT)
    _evaluation(db, "reads_it", "2024-01-02", "2024-01-08")
    _evaluation(db, "before_it", "2024-01-01", "2024-01-04")
    version = data_version(db)
    rng = RetractRange("AAA", datetime(2024, 1, 6), datetime(2024, 1, 8))
    out = retract_bars(db, rng, reason="vendor sent a bad split", who="alice", at=LATER)

    stored = load_market_data(db).bars
    aaa = stored.xs("AAA", level="asset").index
    assert list(aaa.strftime("%m-%d")) == [
        "01-01",
        "01-02",
        "01-03",
        "01-04",
        "01-05",
        "01-09",
        "01-10",
    ]
    assert len(stored.xs("BBB", level="asset")) == 10
    assert out.preview.bars == 3 and out.preview.stale_configs == ("reads_it",)
    assert _eval_keys(db) == {"reads_it": "stale", "before_it": "k1"}
    assert data_version(db) > version  # a running daemon reloads the market data
    events = load_events(db, kind="retract")
    assert len(events) == 1
    detail = json.loads(events["detail"].iloc[0])
    assert detail["who"] == "alice" and detail["reason"] == "vendor sent a bad split"
    assert detail["bars_removed"] == 3 and detail["asset"] == "AAA"
    assert detail["stale_configs"] == ["reads_it"]
    assert events["at"].iloc[0] == pd.Timestamp(LATER)


def test_after_a_retraction_the_corrected_bars_can_be_imported(db: Database) -> None:
    import_frame(db, _bars(("AAA",)), kind="bars", source="wrong", at=AT)
    fixed = _bars(("AAA",), close=20.0)
    with pytest.raises(DataValidationError, match="conflicts with stored bar"):
        import_frame(db, fixed, kind="bars", source="fixed", at=AT)
    retract_bars(db, RetractRange("AAA"), reason="wrong price scale", who="bob", at=LATER)
    res = import_frame(db, fixed, kind="bars", source="fixed", at=LATER)
    assert res.rows_added == 10
    assert (load_market_data(db).bars["close"] == 20.0).all()


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_retract_without_a_reason_is_refused_and_changes_nothing(
    db: Database, reason: str | None
) -> None:
    import_frame(db, _bars(), kind="bars", source="x", at=AT)
    before = dump_rows(db)
    with pytest.raises(RetractionRefused, match="reason"):
        retract_bars(db, RetractRange("AAA"), reason=reason, who="carol", at=LATER)  # type: ignore[arg-type]
    assert dump_rows(db) == before


def test_retract_of_an_empty_range_is_refused_and_changes_nothing(db: Database) -> None:
    import_frame(db, _bars(), kind="bars", source="x", at=AT)
    before = dump_rows(db)
    with pytest.raises(RetractionRefused, match="nothing to retract"):
        retract_bars(
            db, RetractRange("AAA", datetime(2030, 1, 1)), reason="typo", who="dan", at=LATER
        )
    with pytest.raises(RetractionRefused, match="after"):
        retract_bars(
            db,
            RetractRange("AAA", datetime(2024, 1, 5), datetime(2024, 1, 2)),
            reason="typo",
            who="dan",
            at=LATER,
        )
    assert dump_rows(db) == before


def _cli(cwd: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
    env["FACTORY_DB_URL"] = db_url
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", "from factory.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        input="",
    )


def test_cli_retract_refuses_without_reason_and_confirmation(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    import_frame(db, _bars(), kind="bars", source="x", at=AT)
    before = dump_rows(db)
    no_reason = _cli(tmp_path, db_url, "data", "retract", "--asset", "AAA", "--yes")
    assert no_reason.returncode != 0 and "reason" in no_reason.stderr + no_reason.stdout
    unconfirmed = _cli(tmp_path, db_url, "data", "retract", "--asset", "AAA", "--reason", "bad")
    assert unconfirmed.returncode != 0 and "would retract 10 bar(s)" in unconfirmed.stdout
    assert dump_rows(db) == before
    done = _cli(
        tmp_path, db_url, "data", "retract", "--asset", "AAA", "--start", "2024-01-09",
        "--reason", "bad tail", "--yes", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["bars_removed"] == 2 and payload["last_ts"].startswith("2024-01-10")
