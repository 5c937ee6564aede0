"""``factory artifacts verify``: every stored artifact checked against its row — the file
exists, lies inside the artifact root (symlinks resolved) and has the recorded size and
sha256. Loading a model checks its own artifact; this checks all of them, so a tampered,
truncated or missing file is found before a retrain or a rebalance needs it. The daemon's
prune job runs it and records each problem as an event (kind ``artifact_problem``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from factory.artifacts import ArtifactPathError, ArtifactStore, sha256_file
from factory.storage.database import Database
from factory.storage.events import EventRecord, record_events
from factory.storage.schema import Artifact

EVENT_KIND = "artifact_problem"


@dataclass(frozen=True)
class ArtifactProblem:
    artifact_id: int
    config_id: str
    uri: str
    problem: str  # outside_root | missing | not_a_file | size | checksum
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    root: str
    checked: int
    problems: tuple[ArtifactProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class StoredArtifact:
    id: int
    config_id: str
    uri: str
    sha256: str
    size_bytes: int


def stored_artifacts(db: Database, *, include_pruned: bool = False) -> list[StoredArtifact]:
    """The artifact rows to verify (pruned ones have no file by design)."""
    stmt = select(
        Artifact.id, Artifact.config_id, Artifact.uri, Artifact.sha256, Artifact.size_bytes
    )
    if not include_pruned:
        stmt = stmt.where(Artifact.pruned.is_(False))
    with db.begin() as conn:
        return [StoredArtifact(*row) for row in conn.execute(stmt.order_by(Artifact.id))]


def check_artifact(store: ArtifactStore, art: StoredArtifact) -> ArtifactProblem | None:
    """The first problem of one artifact, or None when it is intact."""

    def problem(kind: str, detail: str) -> ArtifactProblem:
        return ArtifactProblem(art.id, art.config_id, art.uri, kind, detail)

    try:
        path = store.resolve(art.uri)
    except ArtifactPathError as exc:
        return problem("outside_root", str(exc))
    if not path.exists():
        return problem("missing", f"{path} does not exist")
    if not path.is_file():
        return problem("not_a_file", f"{path} is not a regular file")
    size = path.stat().st_size
    if size != art.size_bytes:
        return problem("size", f"{path} has {size} bytes, the database recorded {art.size_bytes}")
    actual = sha256_file(path)
    if actual != art.sha256:
        return problem(
            "checksum", f"{path} has sha256 {actual}, the database recorded {art.sha256}"
        )
    return None


def verify_artifacts(db: Database, store: ArtifactStore) -> VerifyReport:
    arts = stored_artifacts(db)
    found = [p for a in arts if (p := check_artifact(store, a)) is not None]
    return VerifyReport(str(store.root), len(arts), tuple(found))


def problem_events(problems: Sequence[ArtifactProblem]) -> list[EventRecord]:
    return [
        EventRecord(
            kind=EVENT_KIND,
            subject=p.config_id,
            severity="error",
            message=f"artifact {p.artifact_id} ({p.uri}): {p.problem}: {p.detail}",
            detail=as_dict(p),
        )
        for p in problems
    ]


def record_problems(db: Database, report: VerifyReport, *, at: datetime) -> int:
    """One ``artifact_problem`` event per problem; returns how many."""
    return record_events(db, problem_events(report.problems), at=at)


def as_dict(p: ArtifactProblem) -> dict[str, Any]:
    return {
        "artifact_id": p.artifact_id,
        "config_id": p.config_id,
        "uri": p.uri,
        "problem": p.problem,
        "detail": p.detail,
    }
