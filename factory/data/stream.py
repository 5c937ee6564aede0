"""Read and validate one input file in chunks, with bounded memory.

`iter_validated_chunks` yields canonical frames of at most ``chunk_rows`` rows, each
validated by the same rules as a whole file (`factory.data.loader.validate_frame`). Rules
that span chunks are kept by a small per-file state:

- no (timestamp, asset) twice in the file: per asset, the timestamps seen so far (int64)
  and their rows; a chunk whose timestamps for an asset all lie after the last one seen
  (a file sorted by time, or by asset then time) is checked without a search;
- one timestamp convention per file (all with a UTC offset, or none);
- a file with no data row is an empty file.

The frames' index holds each row's 0-based position in the file; every error names the
file, the 1-based row of the file and the rule. Nothing here writes: the caller stores the
chunks inside one transaction, so an error in the last chunk leaves the database unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from factory.data.errors import DataValidationError
from factory.data.loader import (
    _check_trailing_commas,
    _has_meaningful_index,
    describe_row,
    has_offset,
    prepare_columns,
    validate_frame,
)
from factory.data.schema import Kind

CHUNK_ROWS = 100_000


def iter_validated_chunks(
    path: Path,
    kind: Kind,
    *,
    asset_from_name: bool,
    chunk_rows: int = CHUNK_ROWS,
    close_only: bool = False,
) -> Iterator[pd.DataFrame]:
    """Validated canonical chunks of ``path`` (see the module docstring)."""
    name = str(path)
    seen = SeenKeys()
    offset_style: _Style | None = None
    offset = 0
    for raw in _iter_raw(path, chunk_rows):
        if raw.empty:
            continue
        raw = prepare_columns(path, raw.reset_index(drop=True), asset_from_name=asset_from_name)
        frame = validate_frame(name, raw, kind, first_row=offset, close_only=close_only)
        offset_style = _check_same_style(name, raw, offset, offset_style)
        seen.check_and_add(name, frame)
        offset += len(raw)
        yield frame
    if offset == 0:
        raise DataValidationError(name, "empty file", "no data rows")


@dataclass(frozen=True)
class _Style:
    """The first row's timestamp convention: with a UTC offset or without."""

    aware: bool
    row: int  # 0-based row of the file
    text: str


def _check_same_style(
    name: str, raw: pd.DataFrame, offset: int, style: _Style | None
) -> _Style | None:
    """Within a chunk `validate_frame` refuses a mix; across chunks compare each chunk's
    first row with the file's first row."""
    col = raw["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return style  # typed (Parquet): one dtype, one convention
    first = str(col.iloc[0]).strip()
    aware = bool(has_offset(col.iloc[:1])[0])
    if style is None:
        return _Style(aware, offset, first)
    if aware != style.aware:
        raise DataValidationError(
            name,
            "mixed-timezone timestamps",
            f"{first!r} {'has' if aware else 'lacks'} a UTC offset but row {style.row + 1} "
            f"({style.text!r}) {'lacks' if aware else 'has'} one "
            "(use naive UTC everywhere or an offset everywhere)",
            offset + 1,
        )
    return style


@dataclass
class SeenKeys:
    """Per asset, the timestamps (int64 ns) of the rows seen so far and their file rows."""

    _ts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _last: dict[str, int] = field(default_factory=dict)

    def check_and_add(self, name: str, frame: pd.DataFrame) -> None:
        """Raise on the first row of ``frame`` whose key was seen in an earlier chunk;
        then remember the chunk's keys. ``frame`` is canonical (index = file row)."""
        ts = frame["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
        rows = frame.index.to_numpy(dtype="int64")
        codes, assets = pd.factorize(frame["asset"], sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(assets) + 1))
        hits: list[tuple[int, int]] = []  # (this row, earlier row)
        groups = []
        for k, asset in enumerate(assets):
            pos = order[bounds[k] : bounds[k + 1]]
            a_ts, a_rows = ts[pos], rows[pos]
            last = self._last.get(asset)
            if last is not None and a_ts.min() <= last:
                known_ts, known_rows = self._consolidate(asset)
                at = np.searchsorted(known_ts, a_ts)
                found = (at < known_ts.size) & (known_ts[np.minimum(at, known_ts.size - 1)] == a_ts)
                if found.any():
                    i = int(np.flatnonzero(found)[np.argmin(a_rows[found])])
                    hits.append((int(a_rows[i]), int(known_rows[at[i]])))
            groups.append((asset, a_ts, a_rows))
        if hits:
            row, earlier = min(hits)
            position = int(np.flatnonzero(rows == row)[0])
            raise DataValidationError(
                name,
                "duplicate (timestamp, asset)",
                f"{describe_row(frame, position)} also appears in row {earlier + 1}",
                row + 1,
            )
        for asset, a_ts, a_rows in groups:
            self._ts.setdefault(asset, []).append(a_ts)
            self._rows.setdefault(asset, []).append(a_rows)
            self._last[asset] = max(self._last.get(asset, a_ts.max()), int(a_ts.max()))

    def _consolidate(self, asset: str) -> tuple[np.ndarray, np.ndarray]:
        """One sorted array per asset (merged lazily, only when a search is needed)."""
        ts = np.concatenate(self._ts[asset])
        rows = np.concatenate(self._rows[asset])
        order = np.argsort(ts, kind="stable")
        self._ts[asset], self._rows[asset] = [ts[order]], [rows[order]]
        return ts[order], rows[order]


def _iter_raw(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Raw chunks (CSV: all strings; Parquet: typed record batches). Reader errors become
    "unreadable file" / "empty file" errors, wherever in the file they happen."""
    name = str(path)
    try:
        if path.suffix.lower() == ".csv":
            if path.stat().st_size == 0:
                raise DataValidationError(name, "empty file", "the file is empty")
            _check_trailing_commas(path)
            with pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                chunksize=chunk_rows,
            ) as reader:
                yield from reader
            return
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=chunk_rows):
                table = batch.to_pandas()
                yield table.reset_index() if _has_meaningful_index(table) else table
    except DataValidationError:
        raise
    except pd.errors.EmptyDataError:
        raise DataValidationError(name, "empty file", "the file is empty") from None
    except Exception as exc:  # parser errors of every kind
        detail = " ".join(str(exc).split())
        raise DataValidationError(
            name, "unreadable file", f"{type(exc).__name__}: {detail}"
        ) from None
