"""Feeds: where new bars come from. See the package docstring for the contract."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from factory.data.loader import SUFFIXES
from factory.data.schema import KINDS, Kind
from factory.data.stream import iter_validated_chunks
from factory.storage.bars import Frame


@dataclass(frozen=True)
class Delivery:
    """One unit of new data: imported in one transaction, or rejected as a whole.

    ``fingerprint`` identifies the delivery's content (the ingest job's time key);
    ``read`` returns validated frames — lazily, a file's chunks as they are read, so a
    ``DataValidationError`` may surface while they are consumed (inside the import's
    transaction, which it rolls back).
    """

    name: str
    kind: Kind
    fingerprint: str
    read: Callable[[], Iterable[Frame]]


class Feed(Protocol):
    name: str

    def poll(self) -> Sequence[Delivery]:
        """Deliveries ready now, oldest first (must be cheap: called every tick)."""
        ...

    def accepted(self, delivery: Delivery, *, import_id: int, at: datetime) -> None: ...

    def rejected(self, delivery: Delivery, *, reason: str, at: datetime) -> None: ...


class DropDirectory:
    """Files dropped into ``root``: bars at the top level or in ``bars/``, sentiment in
    ``sentiment/``, on-chain series in ``onchain/``; each file is in long form (a
    ``timestamp`` and an ``asset`` column), as `factory data import FILE` reads it.

    A file is picked up once it has not changed for ``settle_seconds`` (or write it under
    a name starting with ``.`` and rename it when complete). Imported files move to
    ``imported/``, rejected ones to ``quarantine/`` next to a ``<name>.reason`` file.
    """

    name = "drop-directory"

    def __init__(self, root: Path, *, settle_seconds: float = 2.0) -> None:
        self.root = root
        self.settle_seconds = settle_seconds
        self.imported = root / "imported"
        self.quarantine = root / "quarantine"

    def poll(self) -> list[Delivery]:
        if not self.root.is_dir():
            return []
        found: list[tuple[float, str, Path, Kind]] = []
        now = time.time()
        places: list[tuple[Path, Kind]] = [(self.root, "bars")]
        places += [(self.root / k, k) for k in KINDS]
        for folder, kind in places:
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:  # moved away meanwhile
                    continue
                if not path.is_file() or now - st.st_mtime < self.settle_seconds:
                    continue
                found.append((st.st_mtime, path.name, path, kind))
        found.sort()
        return [self._delivery(path, kind) for _, _, path, kind in found]

    def _delivery(self, path: Path, kind: Kind) -> Delivery:
        st = path.stat()
        key = f"{path.relative_to(self.root)}|{st.st_size}|{st.st_mtime_ns}"

        def read() -> Iterator[Frame]:
            for chunk in iter_validated_chunks(path, kind, asset_from_name=False):
                yield Frame(str(path), kind, chunk)

        return Delivery(
            name=str(path.relative_to(self.root)),
            kind=kind,
            fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16],
            read=read,
        )

    def accepted(self, delivery: Delivery, *, import_id: int, at: datetime) -> None:
        self._move(delivery, self.imported, f"{at:%Y%m%dT%H%M%S}-{import_id}-")

    def rejected(self, delivery: Delivery, *, reason: str, at: datetime) -> None:
        target = self._move(delivery, self.quarantine, f"{at:%Y%m%dT%H%M%S}-")
        target.with_name(target.name + ".reason").write_text(reason.rstrip() + "\n")

    def _move(self, delivery: Delivery, folder: Path, prefix: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        source = self.root / delivery.name
        target = folder / (prefix + source.name)
        shutil.move(str(source), target)
        return target
