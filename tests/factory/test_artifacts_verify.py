"""Artifacts outside the root, tampered or missing (issue 7, case 6): prune never deletes a
file outside the artifact root, `factory artifacts verify` finds every problem, and the
daemon's prune job records them as events — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from factory.app import App
from factory.artifacts import ArtifactPathError, ArtifactStore
from factory.artifacts_verify import verify_artifacts
from factory.jobs import prune_job
from factory.storage.database import table
from factory.storage.events import load_events
from factory.storage.results import artifacts_for
from scheduler.backends import SerialBackend
from scheduler.daemon import tick
from tests.factory.helpers import make_test_app

CONFIG = "c0ffee0000000001"
T0 = datetime(2026, 1, 5)


@pytest.fixture
def app(workdir: Path, db_url: str) -> Iterator[App]:
    """A database with one (not live) config and three artifacts, retention 1."""
    a = make_test_app(workdir, db_url, artifact_retention=1)
    with a.db.begin() as conn:
        conn.execute(
            insert(table("configs")).values(
                config_id=CONFIG,
                architecture="linear",
                arch_version=1,
                family="classical",
                lookback=8,
                feature_set="ohlcv",
                feature_selection="all",
                params="{}",
                created_at=T0,
            )
        )
    for day in range(3):
        trained = T0 + timedelta(days=day)
        text = f"model {day}"

        def fill(d: Path, text: str = text) -> None:
            (d / "model.txt").write_text(text)

        ref = a.store.write(CONFIG, trained, {"day": day}, fill)
        with a.db.begin() as conn:
            conn.execute(
                insert(table("artifacts")).values(
                    config_id=CONFIG,
                    trained_at=trained,
                    uri=ref.uri,
                    sha256=ref.sha256,
                    size_bytes=ref.size_bytes,
                    feature_schema="{}",
                    created_at=trained,
                    pruned=False,
                )
            )
    yield a
    a.close()


def _set_uri(a: App, artifact_id: int, uri: str) -> None:
    with a.db.begin() as conn:
        conn.execute(
            update(table("artifacts")).where(table("artifacts").c.id == artifact_id).values(uri=uri)
        )


def test_prune_never_deletes_outside_the_root(app: App, workdir: Path) -> None:
    victim = workdir / "precious.txt"
    victim.write_text("someone else's file")
    outside = workdir / "outside"
    outside.mkdir()
    (outside / "other.tar.gz").write_text("also not an artifact")
    (app.store.root / "link").symlink_to(outside, target_is_directory=True)
    oldest, second, _ = artifacts_for(app.db, CONFIG)
    _set_uri(app, oldest.id, f"../{victim.name}")  # a tampered row: path traversal
    _set_uri(app, second.id, "link/other.tar.gz")  # a symlink out of the root
    out = prune_job(app)
    assert victim.read_text() == "someone else's file"
    assert (outside / "other.tar.gz").exists()
    assert (out.refused, out.deleted) == (2, 0)
    refused = load_events(app.db, kind="artifact_delete_refused")
    assert len(refused) == 2 and set(refused["severity"]) == {"error"}
    assert all("outside the store root" in m for m in refused["message"])
    problems = load_events(app.db, kind="artifact_problem")
    assert sorted(json.loads(d)["problem"] for d in problems["detail"]) == ["outside_root"] * 2


def test_the_store_refuses_paths_outside_its_root(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    for uri in ("../x.tar.gz", "/etc/passwd", "a/../../x", "", "s3://b/k"):
        with pytest.raises(ArtifactPathError):
            store.delete(uri)
        with pytest.raises(ArtifactPathError):
            store.verify(uri, "0" * 64)


def test_verify_finds_every_problem_and_prune_records_them(app: App) -> None:
    a, b, c = artifacts_for(app.db, CONFIG)
    assert verify_artifacts(app.db, app.store).ok
    (app.store.root / a.uri).unlink()  # missing
    path = app.store.root / b.uri
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # tampered, same size
    path.write_bytes(bytes(data))
    with (app.store.root / c.uri).open("ab") as fh:  # truncated / appended
        fh.write(b"x")
    report = verify_artifacts(app.db, app.store)
    assert report.checked == 3
    assert {(p.artifact_id, p.problem) for p in report.problems} == {
        (a.id, "missing"),
        (b.id, "checksum"),
        (c.id, "size"),
    }
    out = prune_job(app)
    assert out.problems == 3
    events = load_events(app.db, kind="artifact_problem")
    assert sorted(json.loads(d)["artifact_id"] for d in events["detail"]) == [a.id, b.id, c.id]


def test_the_daemon_prune_job_records_problems(app: App) -> None:
    """`factory run`'s prune job (through `tick`) verifies before it prunes."""
    from factory.data.importer import import_frame
    from factory.data.synth import synth_universe

    newest = artifacts_for(app.db, CONFIG)[-1]
    (app.store.root / newest.uri).write_bytes(b"tampered")
    import_frame(app.db, synth_universe(2, 30, seed=1).bars, kind="bars", source="t", at=app.now())
    app.settings = app.settings.model_copy(
        update={"plan": app.settings.plan.model_copy(update={"architectures": []})}
    )
    results = {r.job: r for r in tick(app, SerialBackend())}
    assert results["prune"].status == "done", results
    assert "1 artifact(s) failed verification" in results["prune"].detail
    events = load_events(app.db, kind="artifact_problem")
    assert [json.loads(d)["artifact_id"] for d in events["detail"]] == [newest.id]


def test_artifacts_verify_command(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.cli import main

    toml = Path("factory.toml")
    toml.write_text(f'db_url = "{app.settings.db_url}"\nartifacts = "{app.settings.artifacts}"\n')

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["factory", "artifacts", "verify", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().out

    code, out = run()
    assert code == 0 and "3 artifacts verified" in out and "all intact" in out
    first = artifacts_for(app.db, CONFIG)[0]
    os.remove(app.store.root / first.uri)
    code, out = run("--format", "json")
    body = json.loads(out)
    assert code == 1 and body["checked"] == 3 and not body["ok"]
    assert [(p["artifact_id"], p["problem"]) for p in body["problems"]] == [(first.id, "missing")]
    code, out = run()
    assert code == 1 and "missing" in out
    assert load_events(app.db).empty  # the command itself writes nothing
