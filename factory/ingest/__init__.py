"""New data for the daemon: feeds, and the ingest job that imports what they deliver.

A :class:`~factory.ingest.feeds.Feed` says what is ready (`poll`), and hears what
became of each delivery (`accepted` / `rejected`). The first implementation is
:class:`~factory.ingest.feeds.DropDirectory`: files dropped into a watched directory,
read exactly as `factory data import FILE --kind KIND` reads them. A live-feed adapter
(a broker's API, a vendor's websocket) implements the same three methods and hands over
validated frames; nothing else in the factory changes.

:func:`~factory.ingest.job.ingest` imports every delivery in order, each in its own
transaction: a delivery that breaks a validation rule is rejected (the drop directory
moves the file to ``quarantine/`` with a ``.reason`` file) and recorded as an event; it
never half-imports and never stops the others. Database or disk errors are not the
file's fault: they propagate, the job is recorded as failed and retried at the next tick.
"""

from factory.ingest.feeds import Delivery, DropDirectory, Feed
from factory.ingest.job import IngestOutcome, ingest

__all__ = ["Delivery", "DropDirectory", "Feed", "IngestOutcome", "ingest"]
