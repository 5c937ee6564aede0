"""`factory data import` and friends: files or generated frames -> validated -> stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from factory.data.errors import DataValidationError
from factory.data.loader import list_input_files, validate_frame
from factory.data.sample import Sample, load_sample
from factory.data.schema import Kind
from factory.data.stream import CHUNK_ROWS, iter_validated_chunks
from factory.storage.bars import FUTURE_TOLERANCE, Frame, ImportResult, store_frames
from factory.storage.database import Database


def import_path(
    db: Database,
    path: Path,
    *,
    kind: Kind = "bars",
    at: datetime,
    future_tolerance: timedelta = FUTURE_TOLERANCE,
    chunk_rows: int = CHUNK_ROWS,
    close_only: bool = False,
) -> ImportResult:
    """Import a file (long form) or a directory of per-asset files, streamed: each file is
    read, validated, checked against the stored bars and written ``chunk_rows`` rows at a
    time, all inside one transaction. An error anywhere (file, row, rule) rolls the whole
    import back, so the database is unchanged. ``close_only``: bars files of ``timestamp,
    asset, close`` (open/high/low/volume stay NULL, never invented)."""
    files = list_input_files(path)
    per_asset = path.is_dir()
    if per_asset:
        seen: dict[str, Path] = {}
        for f in files:
            if f.stem in seen:
                raise DataValidationError(
                    str(f),
                    "duplicate asset",
                    f"{seen[f.stem].name} and {f.name} both hold asset {f.stem}: keep one file "
                    "per asset in the directory",
                )
            seen[f.stem] = f
    frames = (
        Frame(str(f), kind, chunk)
        for f in files
        for chunk in iter_validated_chunks(
            f, kind, asset_from_name=per_asset, chunk_rows=chunk_rows, close_only=close_only
        )
    )
    return store_frames(
        db, frames, kind=kind, source=str(path), at=at, future_tolerance=future_tolerance
    )


def import_frame(
    db: Database,
    frame: pd.DataFrame,
    *,
    kind: Kind,
    source: str,
    at: datetime,
    close_only: bool = False,
) -> ImportResult:
    """Import an in-memory long frame (sample data, synthetic data) through the same
    validation as files."""
    canonical = validate_frame(source, frame, kind, close_only=close_only)
    return store_frames(db, [Frame(source, kind, canonical)], kind=kind, source=source, at=at)


def import_sample(db: Database, sample: Sample, *, at: datetime) -> ImportResult:
    """Import an embedded sample (`factory.data.sample`) through the same validation as
    files; close-only samples store no open/high/low/volume."""
    return import_frame(
        db,
        load_sample(sample.name),
        kind="bars",
        source=sample.source,
        at=at,
        close_only=sample.close_only,
    )
