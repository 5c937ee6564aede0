"""The ingest job: import what a feed delivered, quarantine what breaks a rule."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from factory.app import App
from factory.data.errors import DataValidationError
from factory.ingest.feeds import Delivery, DropDirectory, Feed
from factory.storage.bars import store_frames
from factory.storage.events import record_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOutcome:
    imported: list[tuple[str, int]] = field(default_factory=list)  # (delivery, rows added)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (delivery, reason)

    def summary(self) -> str:
        rows = sum(n for _, n in self.imported)
        text = f"imported {len(self.imported)} file(s), {rows} new rows"
        if self.quarantined:
            text += f"; quarantined {len(self.quarantined)}: " + "; ".join(
                name for name, _ in self.quarantined
            )
        return text


def feed_for(app: App) -> Feed | None:
    """The feed the settings configure (``[ingest] drop_dir``), or None."""
    s = app.settings.ingest
    if not s.drop_dir:
        return None
    return DropDirectory(Path(s.drop_dir), settle_seconds=s.settle_seconds)


def ingest_key(deliveries: Sequence[Delivery]) -> str | None:
    """The ingest job's time key: what is waiting (None when nothing is)."""
    if not deliveries:
        return None
    digest = hashlib.sha256("|".join(d.fingerprint for d in deliveries).encode()).hexdigest()
    return f"{len(deliveries)}/{digest[:16]}"


def ingest(app: App, feed: Feed, deliveries: Sequence[Delivery] | None = None) -> IngestOutcome:
    """Import each delivery in its own transaction, oldest first. A rule broken → the
    delivery is rejected with the error (file, row, rule) and an event is recorded; any
    other error (database, disk) propagates and the job is retried."""
    outcome = IngestOutcome()
    for d in feed.poll() if deliveries is None else deliveries:
        try:
            frames = d.read()
            result = store_frames(
                app.db,
                frames,
                kind=d.kind,
                source=f"{feed.name}:{d.name}",
                at=app.now(),
                future_tolerance=timedelta(hours=app.settings.data.future_tolerance_hours),
            )
        except DataValidationError as exc:
            reason = str(exc).strip()
            feed.rejected(d, reason=reason, at=app.now())
            record_event(
                app.db,
                "quarantine",
                reason,
                at=app.now(),
                subject=d.name,
                severity="warning",
                detail={"feed": feed.name, "kind": d.kind},
            )
            log.warning("quarantined %s: %s", d.name, reason)
            outcome.quarantined.append((d.name, reason))
            continue
        feed.accepted(d, import_id=result.import_id, at=app.now())
        outcome.imported.append((d.name, result.rows_added))
    return outcome
