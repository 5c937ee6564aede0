"""The artifact store: fitted models written atomically, checksummed, verified on load.

An artifact is one ``.tar.gz`` file holding the architecture's saved directory (per-asset
models in ``asset=<name>/`` sub-directories) and ``schema.json`` — the feature schema
(feature set and version, ordered feature names after selection, lookback, dtype, input
kind), the fitted preprocessor, the signal scale and the training range. Its sha256 is
recorded in the ``artifacts`` table; `ArtifactStore.open` refuses a file whose checksum
differs (tampered or truncated).

Paths are relative to the store root (``<config_id>/<trained_at>-<unique>.tar.gz``), so a root can
move; the root is a local directory today and the path scheme leaves room for fsspec URLs
(``s3://bucket/prefix``) later. A recorded path is resolved (``..`` and symlinks included)
before anything reads or deletes it: one that leads outside the root is refused
(`ArtifactPathError`), so a tampered ``uri`` can never make `prune` delete another file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA_FILE = "schema.json"


class ArtifactIntegrityError(RuntimeError):
    """The artifact on disk does not match the checksum recorded for it."""


class ArtifactPathError(ArtifactIntegrityError):
    """A recorded artifact path that leads outside the store root (``..``, an absolute
    path or a symlink)."""


@dataclass(frozen=True)
class ArtifactRef:
    """Where an artifact is and how to verify it (what the ``artifacts`` table stores)."""

    config_id: str
    trained_at: datetime
    uri: str  # relative to the store root
    sha256: str
    size_bytes: int
    schema: dict[str, Any]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """A directory of artifacts. Safe for concurrent writers of different keys; a rewrite
    of the same key replaces the file atomically."""

    def __init__(self, root: str | Path) -> None:
        root = str(root)
        if "://" in root and not root.startswith("file://"):
            raise NotImplementedError(
                f"artifact store {root!r}: only local directories are supported so far"
            )
        self.root = Path(root.removeprefix("file://")).resolve()

    def path_for(self, config_id: str, trained_at: datetime) -> str:
        """A new, unique path: a rewrite never overwrites a file the database records
        (the driver switches to the new file in its transaction; `prune` removes files
        no row points at)."""
        return f"{config_id}/{trained_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.tar.gz"

    def write(
        self,
        config_id: str,
        trained_at: datetime,
        schema: dict[str, Any],
        fill: Callable[[Path], None],
    ) -> ArtifactRef:
        """Create an artifact: ``fill(directory)`` writes the model files into a fresh
        directory; the store adds ``schema.json``, packs, checksums and moves it into place
        with one atomic rename."""
        rel = self.path_for(config_id, trained_at)
        final = self.root / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
            content = Path(tmp) / "content"
            content.mkdir()
            fill(content)
            (content / SCHEMA_FILE).write_text(
                json.dumps(schema, indent=2, sort_keys=True, default=str)
            )
            packed = Path(tmp) / "artifact.tar.gz"
            with tarfile.open(packed, "w:gz") as tar:
                for item in sorted(content.rglob("*")):
                    tar.add(item, arcname=str(item.relative_to(content)), recursive=False)
            digest = sha256_file(packed)
            size = packed.stat().st_size
            with packed.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(packed, final)
        return ArtifactRef(config_id, trained_at, rel, digest, size, schema)

    def resolve(self, uri: str) -> Path:
        """The file a recorded ``uri`` names, with ``..`` and symlinks resolved; refuses
        (`ArtifactPathError`) anything that is not strictly inside the root."""
        if not uri or Path(uri).is_absolute() or "://" in uri:
            raise ArtifactPathError(
                f"artifact path {uri!r} is not relative to the store root {self.root}; "
                "refusing to use it"
            )
        path = (self.root / uri).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise ArtifactPathError(
                f"artifact path {uri!r} resolves to {path}, outside the store root "
                f"{self.root}; refusing to use it"
            )
        return path

    def verify(self, uri: str, sha256: str) -> Path:
        path = self.resolve(uri)
        if not path.exists():
            raise FileNotFoundError(f"artifact {path} is missing (pruned or moved?)")
        actual = sha256_file(path)
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"artifact {path} has sha256 {actual[:12]}…, the database recorded "
                f"{sha256[:12]}…; refusing to load a modified file"
            )
        return path

    @contextmanager
    def open(self, uri: str, sha256: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Verify the checksum, unpack into a temporary directory and yield
        ``(directory, schema)``."""
        path = self.verify(uri, sha256)
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:  # changed between verify and read
            raise ArtifactIntegrityError(f"artifact {path} changed while being read")
        with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(tmp, filter="data")
            schema = json.loads((Path(tmp) / SCHEMA_FILE).read_text())
            yield Path(tmp), schema

    def delete(self, uri: str) -> None:
        """Remove an artifact file (and its directory once empty). Raises
        `ArtifactPathError`, deleting nothing, for a path outside the root."""
        path = self.resolve(uri)
        if path.is_dir():
            raise ArtifactPathError(f"artifact path {uri!r} is a directory; refusing to delete it")
        path.unlink(missing_ok=True)
        if path.parent != self.root:
            try:
                path.parent.rmdir()
            except OSError:
                pass
