"""The daemon's ingest job: a watched drop directory feeds `factory run` day by day; a bad
file is quarantined with its reason and never stops the loop or half-imports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from factory.app import App
from factory.clock import FakeClock
from factory.data.importer import import_frame
from factory.data.synth import synth_universe
from factory.ingest import DropDirectory, ingest
from factory.storage import decisions
from factory.storage.database import table
from factory.storage.events import load_events
from factory.storage.results import evaluation_states
from scheduler.backends import SerialBackend
from scheduler.daemon import tick
from tests.factory.helpers import make_test_app


def _bars(n_days: int = 6, assets: tuple[str, ...] = ("AAA", "BBB")) -> pd.DataFrame:
    ts = pd.bdate_range("2024-01-01", periods=n_days)
    return pd.concat(
        pd.DataFrame(
            {"timestamp": ts, "asset": a, "open": 10.0, "high": 11.0, "low": 9.0}
            | {"close": 10.0 + i, "volume": 100.0}
        )
        for i, a in enumerate(assets)
    )


def _count(app: App, name: str) -> int:
    with app.db.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


@pytest.fixture
def drop_app(workdir: Path, db_url: str) -> Iterator[App]:
    a = make_test_app(
        workdir, db_url, **{"ingest.drop_dir": str(workdir / "drop"), "ingest.settle_seconds": 0}
    )
    yield a
    a.close()


def test_good_files_are_imported_and_a_bad_one_is_quarantined_with_its_reason(
    drop_app: App, workdir: Path
) -> None:
    drop = workdir / "drop"
    (drop / "sentiment").mkdir(parents=True)
    _bars().to_csv(drop / "day1.csv", index=False)
    bad = _bars(assets=("CCC",))
    bad.loc[bad.index[3], "high"] = 8.0  # below the low: row 4 of the file
    bad.to_csv(drop / "bad.csv", index=False)
    pd.DataFrame(
        {"timestamp": pd.bdate_range("2024-01-01", periods=3), "asset": "AAA", "score": 0.2}
    ).to_csv(drop / "sentiment" / "news.csv", index=False)
    feed = DropDirectory(drop, settle_seconds=0)

    out = ingest(drop_app, feed)

    assert sorted(n for n, _ in out.imported) == ["day1.csv", "sentiment/news.csv"]
    assert [n for n, _ in out.quarantined] == ["bad.csv"]
    assert _count(drop_app, "bars") == 12 and _count(drop_app, "aux_values") == 3
    (reason,) = (drop / "quarantine").glob("*.reason")
    text = reason.read_text()
    assert "bad.csv" in text and "row 4" in text and "high" in text, text
    assert len(list((drop / "quarantine").glob("*bad.csv"))) == 1
    assert len(list((drop / "imported").glob("*.csv"))) == 2
    assert not list(drop.glob("*.csv"))  # nothing left waiting
    events = load_events(drop_app.db, kind="quarantine")
    assert events[["subject", "severity"]].values.tolist() == [["bad.csv", "warning"]]
    assert ingest(drop_app, feed).imported == []  # nothing waits any more


def test_a_file_still_being_written_waits(workdir: Path) -> None:
    drop = workdir / "drop"
    drop.mkdir()
    _bars().to_csv(drop / "fresh.csv", index=False)
    (drop / ".partial.csv").write_text("timestamp,asset\n")
    assert DropDirectory(drop, settle_seconds=3600).poll() == []
    assert [d.name for d in DropDirectory(drop, settle_seconds=0).poll()] == ["fresh.csv"]


def test_the_daemon_runs_day_by_day_from_the_drop_directory(workdir: Path, db_url: str) -> None:
    """Done-when of the operation issue: fed new bars day by day through the watched
    directory, `factory run` ingests, evaluates incrementally, rates, promotes and
    rebalances with no intervention; a bad file on the way is quarantined."""
    drop = workdir / "drop"
    a = make_test_app(
        workdir,
        db_url,
        **{
            "plan.architectures": ["lightgbm", "arima"],
            "ingest.drop_dir": str(drop),
            "ingest.settle_seconds": 0,
        },
    )
    clock = a.clock
    assert isinstance(clock, FakeClock)
    days = 4
    bars = synth_universe(4, 500 + days, seed=6, signal="planted").bars
    stamps = sorted(bars["timestamp"].unique())
    import_frame(a.db, bars[bars["timestamp"] < stamps[500]], kind="bars", source="s", at=a.now())
    be = SerialBackend()
    first = {r.job: r.status for r in tick(a, be)}
    assert first["evaluate"] == "done" and "ingest" not in first  # nothing dropped yet
    drop.mkdir()
    for k in range(days):
        clock.advance(timedelta(days=1))
        day = bars[bars["timestamp"] == stamps[500 + k]]
        day.to_csv(drop / f"bars-{k}.csv", index=False)
        if k == 1:
            broken = day.assign(close=-1.0)
            broken.to_csv(drop / "broken.csv", index=False)
        results = {r.job: (r.status, r.detail) for r in tick(a, be)}
        assert results["ingest"][0] == "done", results
        for job in ("evaluate", "rate", "promote", "rebalance"):
            assert results[job][0] == "done", (k, job, results[job])
        # Incremental: the new bar is predicted by the stored pipelines, nothing is
        # evaluated from scratch again.
        assert "(new 0," in results["evaluate"][1], results["evaluate"]
        last = pd.Timestamp(stamps[500 + k]).to_pydatetime()
        states = evaluation_states(a.db)
        assert states and all(s.last_ts == last for s in states.values())
        reb = decisions.latest_rebalance(a.db)
        assert reb is not None and reb.bar_ts == last
        if k == 1:
            assert "quarantined 1" in results["ingest"][1]
    assert len(list((drop / "imported").glob("*.csv"))) == days
    assert len(list((drop / "quarantine").glob("*.reason"))) == 1
    assert _count(a, "bars") == 4 * (500 + days)
    a.close()
