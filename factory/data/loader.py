"""Read and validate input files into canonical long frames.

Every problem raises `DataValidationError` naming the file, the first offending row and the
rule; callers write nothing unless every file of an import validated (see
`factory.data.importer`). The canonical frame has columns ``timestamp`` (naive UTC,
``datetime64[ns]``), ``asset`` (str) and float64 value columns, sorted by (timestamp, asset).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from factory.data.errors import DataValidationError
from factory.data.schema import (
    BAR_OPTIONAL,
    BAR_REQUIRED,
    IGNORED,
    KEY,
    NOT_IN_CLOSE_ONLY,
    PRICES,
    SENTIMENT_OPTIONAL,
    SENTIMENT_REQUIRED,
    Kind,
    canonical_columns,
)

SUFFIXES = (".csv", ".parquet", ".pq")
# A UTC offset at the end of a date-time: Z, +05:30, +0530 or +05 (converted to UTC).
_OFFSET = re.compile(
    r"T?\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE
)
# One rule on both databases: at most 64 characters (the column width; PostgreSQL would
# refuse a longer name where SQLite stores it), matched whole (no trailing newline).
MAX_NAME = 64
_ASSET = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._^=-]{{0,{MAX_NAME - 1}}}")


def list_input_files(path: Path) -> list[Path]:
    """``path`` itself, or the .csv/.parquet files of directory ``path`` (sorted)."""
    if not path.exists():
        if path.is_symlink():
            try:
                path.resolve(strict=True)
            except RuntimeError:
                raise DataValidationError(
                    str(path), "symlink loop", "the link points (eventually) back at itself"
                ) from None
            except OSError:
                pass
            raise DataValidationError(
                str(path),
                "broken symlink",
                f"it points at {os.readlink(path)!r}, which does not exist",
            )
        raise DataValidationError(str(path), "missing file", "no such file or directory")
    if not path.is_dir() and not path.is_file():
        raise DataValidationError(
            str(path),
            "not a regular file",
            "a FIFO, socket or device cannot be imported: give a .csv or .parquet file",
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
        if not files:
            raise DataValidationError(
                str(path), "empty directory", "no .csv or .parquet files in it"
            )
        return files
    if path.suffix.lower() not in SUFFIXES:
        raise DataValidationError(
            str(path),
            "unsupported format",
            f"expected .csv or .parquet, got {path.suffix or 'no suffix'!r}",
        )
    return [path]


def prepare_columns(path: Path, raw: pd.DataFrame, *, asset_from_name: bool) -> pd.DataFrame:
    """Canonical column names, duplicate-column check and, for a per-asset file, the
    ``asset`` column taken from the file name."""
    name = str(path)
    raw.columns = canonical_columns(list(raw.columns))
    dup_cols = raw.columns[raw.columns.duplicated()].tolist()
    if dup_cols:
        raise DataValidationError(name, "duplicate column", f"column {dup_cols[0]!r} appears twice")
    if asset_from_name:
        if "asset" in raw.columns:
            raise DataValidationError(
                name,
                "unknown column",
                "a per-asset file takes its asset from the file name; drop the 'asset' column",
            )
        if not _ASSET.fullmatch(path.stem):
            raise DataValidationError(
                name,
                "invalid asset name",
                f"file name {path.stem!r} is not a valid asset symbol (letters, digits and "
                f"._^=-, at most {MAX_NAME} characters)",
            )
        raw.insert(0, "asset", path.stem)
    return raw


def validate_frame(
    name: str, raw: pd.DataFrame, kind: Kind, *, first_row: int = 0, close_only: bool = False
) -> pd.DataFrame:
    """Apply every rule to a raw long frame (strings or numbers) and return the canonical
    frame. ``name`` is what errors call the source. ``first_row``: how many data rows of
    the file come before ``raw`` (a chunk of a streamed file), so that errors name the
    row of the file. ``close_only`` (bars only): the frame holds ``timestamp, asset,
    close``; the canonical frame has no open/high/low/volume."""
    if close_only and kind != "bars":
        raise ValueError("close_only applies to bars")
    if raw.empty:
        raise DataValidationError(name, "empty file", "no data rows")
    raw = raw.reset_index(drop=True)
    raw.columns = canonical_columns(list(raw.columns))
    try:
        _check_columns(name, raw, kind, close_only)
        frame = _convert(name, raw, kind, first_row, close_only)
        _check_duplicates(name, frame, first_row)
    except DataValidationError as exc:
        if first_row and exc.row is not None:
            raise DataValidationError(exc.file, exc.rule, exc.detail, exc.row + first_row) from None
        raise
    # The index keeps each row's position in the file, so later errors can name it.
    frame.index = frame.index + first_row
    return frame.sort_values(list(KEY), kind="stable")


def describe_row(frame: pd.DataFrame, row: int) -> str:
    """``asset X at <time>`` for the row at position ``row``."""
    return _describe_row(frame, row)


def _check_trailing_commas(path: Path) -> None:
    """pandas reads rows with one field more than the header as if the first column were
    an index, and every column shifts: say what is wrong instead."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        first = next(reader, None)
    if header is None or first is None:
        return
    if len(first) == len(header) + 1 and first[-1].strip() == "":
        raise DataValidationError(
            str(path),
            "trailing comma",
            f"row 1 has {len(first)} fields but the header has {len(header)}: the last one is "
            "empty (remove the comma at the end of each row)",
            1,
        )


def _has_meaningful_index(table: pd.DataFrame) -> bool:
    return not isinstance(table.index, pd.RangeIndex) or table.index.name is not None


def _expected_columns(kind: Kind, close_only: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if kind == "bars" and close_only:
        return (*KEY, "close"), IGNORED
    if kind == "bars":
        return (*KEY, *BAR_REQUIRED), (*BAR_OPTIONAL, *IGNORED)
    if kind == "sentiment":
        return (*KEY, *SENTIMENT_REQUIRED), SENTIMENT_OPTIONAL
    return KEY, ()


def _check_columns(name: str, raw: pd.DataFrame, kind: Kind, close_only: bool) -> None:
    required, optional = _expected_columns(kind, close_only)
    missing = [c for c in required if c not in raw.columns]
    if missing:
        hint = ""
        if kind == "bars" and "close" in raw.columns and set(missing) <= set(NOT_IN_CLOSE_ONLY):
            hint = "; a file of closes only imports with --close-only"
        raise DataValidationError(
            name,
            "missing column",
            f"{', '.join(repr(c) for c in missing)} required for {kind} "
            f"(columns present: {', '.join(map(str, raw.columns))}){hint}",
        )
    if close_only:
        extra = [c for c in raw.columns if c in (*NOT_IN_CLOSE_ONLY, *BAR_OPTIONAL)]
        if extra:
            raise DataValidationError(
                name,
                "not a close-only file",
                f"it has column {extra[0]!r}; a close-only import takes timestamp, asset and "
                "close (import the file without --close-only to keep its other columns)",
            )
    if kind == "onchain":
        if len(raw.columns) <= len(KEY):
            raise DataValidationError(
                name, "missing column", "on-chain data needs at least one metric column"
            )
        bad = [
            c for c in raw.columns if not re.fullmatch(rf"[a-z][a-z0-9_]{{0,{MAX_NAME - 1}}}", c)
        ]
        if bad:
            raise DataValidationError(
                name,
                "invalid column name",
                f"{bad[0]!r}: use lowercase letters, digits and _, at most {MAX_NAME} characters",
            )
        return
    unknown = [c for c in raw.columns if c not in required and c not in optional]
    if unknown:
        raise DataValidationError(
            name,
            "unknown column",
            f"{unknown[0]!r} is not a {kind} column (allowed: {', '.join((*required, *optional))})",
        )


def _convert(
    name: str, raw: pd.DataFrame, kind: Kind, first_row: int, close_only: bool
) -> pd.DataFrame:
    out = pd.DataFrame(index=raw.index)
    out["timestamp"] = _parse_timestamps(name, raw["timestamp"], first_row)
    asset = raw["asset"].astype(str).str.strip()
    bad = ~asset.str.fullmatch(_ASSET.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            name,
            "invalid asset",
            f"asset {raw['asset'].iloc[row]!r} is empty, longer than {MAX_NAME} characters "
            "or has characters other than letters, digits and ._^=-",
            row + 1,
        )
    out["asset"] = asset
    value_cols = [c for c in raw.columns if c not in (*KEY, *IGNORED)]
    for col in value_cols:
        out[col] = _parse_numbers(name, raw[col], col)
    if kind == "bars" and close_only:
        _check_closes(name, out)
    elif kind == "bars":
        _check_bars(name, out)
    elif kind == "sentiment":
        _check_finite(name, out, ["score"], "NaN or inf value")
    metrics = [c for c in out.columns if c not in (*KEY, "score") and kind != "bars"]
    for col in metrics:  # on-chain metrics, sentiment volume: missing is allowed, inf is not
        at = _first(np.isinf(out[col].to_numpy()))
        if at is not None:
            raise DataValidationError(
                name,
                "infinite value",
                f"column {col!r} is {out[col].iloc[at]} for {_describe_row(out, at)}",
                at + 1,
            )
    return out


def has_offset(values: pd.Series) -> np.ndarray:
    """Which timestamp strings carry a UTC offset."""
    return np.asarray(values.astype(str).str.strip().str.contains(_OFFSET, regex=True))


def _parse_timestamps(name: str, col: pd.Series, first_row: int = 0) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        ts = col
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        missing = ts.isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataValidationError(name, "unparseable timestamp", "missing timestamp", row + 1)
        return _whole_microseconds(name, ts.astype("datetime64[ns]"), ts.astype(str))
    text = col.astype(str).str.strip()
    aware = has_offset(text)
    if aware.any() and not aware.all():
        minority = aware if aware.sum() < (~aware).sum() else ~aware
        row = int(np.flatnonzero(minority)[0])
        other = int(np.flatnonzero(~minority)[0])
        raise DataValidationError(
            name,
            "mixed-timezone timestamps",
            f"{text.iloc[row]!r} {'has' if aware[row] else 'lacks'} a UTC offset but row "
            f"{first_row + other + 1} ({text.iloc[other]!r}) {'lacks' if aware[row] else 'has'} one "
            "(use naive UTC everywhere or an offset everywhere)",
            row + 1,
        )
    years = pd.to_numeric(text.str.extract(r"^\s*(\d{4})", expand=False), errors="coerce")
    out_of_range = ((years < 1678) | (years > 2261)).to_numpy()
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range)[0])
        raise DataValidationError(
            name,
            "timestamp out of range",
            f"{text.iloc[row]!r} is outside the supported years 1678-2261",
            row + 1,
        )
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=bool(aware.all()))
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            name,
            "unparseable timestamp",
            f"{text.iloc[row]!r} is not an ISO 8601 date or date-time (e.g. 2020-01-31 or 2020-01-31T21:00:00Z)",
            row + 1,
        )
    if aware.all():
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return _whole_microseconds(name, parsed.astype("datetime64[ns]"), text)


def _whole_microseconds(name: str, ts: pd.Series, shown: pd.Series) -> pd.Series:
    """The database keeps microseconds: a finer timestamp would be truncated on write, so
    two rows 100 ns apart would become one and a revision would pass as new. Refuse it."""
    finer = ts.to_numpy(dtype="datetime64[ns]").astype("int64") % 1000 != 0
    if finer.any():
        row = int(np.flatnonzero(finer)[0])
        raise DataValidationError(
            name,
            "sub-microsecond timestamp",
            f"{shown.iloc[row]!r} has a fraction finer than a microsecond; timestamps are "
            "stored to the microsecond (round them before importing)",
            row + 1,
        )
    return ts


def _parse_numbers(name: str, col: pd.Series, label: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.astype("float64")
    text = col.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce")
    # A null (Parquet null, None) is a missing value, judged by the rules for missing values.
    blank = col.isna() | text.str.lower().isin(["", "nan", "na", "null", "none"])
    bad = (values.isna() & ~blank).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            name, "non-numeric value", f"column {label!r} holds {text.iloc[row]!r}", row + 1
        )
    return values.astype("float64")


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _describe_row(frame: pd.DataFrame, row: int) -> str:
    return f"asset {frame['asset'].iloc[row]} at {frame['timestamp'].iloc[row]:%Y-%m-%d %H:%M:%S}"


def _check_finite(name: str, frame: pd.DataFrame, cols: list[str], rule: str) -> None:
    for col in cols:
        row = _first(~np.isfinite(frame[col].to_numpy()))
        if row is not None:
            raise DataValidationError(
                name,
                rule,
                f"column {col!r} is {frame[col].iloc[row]} for {_describe_row(frame, row)}",
                row + 1,
            )


def _check_closes(name: str, f: pd.DataFrame) -> None:
    """The rules of a close-only file: every close present, finite and positive."""
    _check_finite(name, f, ["close"], "NaN or inf price")
    row = _first(f["close"].to_numpy() <= 0)
    if row is not None:
        raise DataValidationError(
            name,
            "non-positive price",
            f"close={f['close'].iloc[row]} for {_describe_row(f, row)}",
            row + 1,
        )


def _check_bars(name: str, f: pd.DataFrame) -> None:
    _check_finite(name, f, list(PRICES), "NaN or inf price")
    for col in PRICES:
        row = _first(f[col].to_numpy() <= 0)
        if row is not None:
            raise DataValidationError(
                name,
                "non-positive price",
                f"{col}={f[col].iloc[row]} for {_describe_row(f, row)}",
                row + 1,
            )
    o, h, lo, c = (f[k].to_numpy() for k in PRICES)
    row = _first(h < lo)
    if row is not None:
        raise DataValidationError(
            name,
            "high < low",
            f"high={h[row]} < low={lo[row]} for {_describe_row(f, row)}",
            row + 1,
        )
    for label, values in (("close", c), ("open", o)):
        row = _first((values < lo) | (values > h))
        if row is not None:
            raise DataValidationError(
                name,
                f"{label} outside [low, high]",
                f"{label}={values[row]} not in [{lo[row]}, {h[row]}] for {_describe_row(f, row)}",
                row + 1,
            )
    vol = f["volume"].to_numpy()
    row = _first(~np.isfinite(vol))
    if row is not None:
        raise DataValidationError(
            name, "missing volume", f"volume is {vol[row]} for {_describe_row(f, row)}", row + 1
        )
    row = _first(vol < 0)
    if row is not None:
        raise DataValidationError(
            name, "negative volume", f"volume={vol[row]} for {_describe_row(f, row)}", row + 1
        )
    _check_optional(name, f, lo, h)


def _check_optional(name: str, f: pd.DataFrame, lo: np.ndarray, h: np.ndarray) -> None:
    """Optional columns obey rules too (stored bars are never rewritten, so a bad value
    could never be corrected). A missing value (NaN) is allowed; an infinite one is not."""

    cols = {c: f[c].to_numpy(dtype=float) for c in BAR_OPTIONAL if c in f}
    for col, v in cols.items():
        for rule, mask in ((f"infinite {col}", np.isinf(v)), (f"negative {col}", v < 0)):
            row = _first(mask)
            if row is not None:
                raise DataValidationError(
                    name, rule, f"{col}={v[row]} for {_describe_row(f, row)}", row + 1
                )
    if "bid" in cols and "ask" in cols:
        bid, ask = cols["bid"], cols["ask"]
        row = _first(bid > ask)
        if row is not None:
            raise DataValidationError(
                name,
                "bid > ask",
                f"bid={bid[row]} > ask={ask[row]} for {_describe_row(f, row)}",
                row + 1,
            )
    if "vwap" in cols:
        vwap = cols["vwap"]
        row = _first((vwap < lo) | (vwap > h))
        if row is not None:
            raise DataValidationError(
                name,
                "vwap outside [low, high]",
                f"vwap={vwap[row]} not in [{lo[row]}, {h[row]}] for {_describe_row(f, row)}",
                row + 1,
            )
    if "trades" in cols:
        trades = cols["trades"]
        row = _first(np.isfinite(trades) & (trades != np.round(trades)))
        if row is not None:
            raise DataValidationError(
                name,
                "fractional trades",
                f"trades={trades[row]} is not a whole number for {_describe_row(f, row)}",
                row + 1,
            )


def _check_duplicates(name: str, frame: pd.DataFrame, first_row: int = 0) -> None:
    dup = frame.duplicated(subset=list(KEY), keep="first").to_numpy()
    row = _first(dup)
    if row is not None:
        first = frame.index[
            (frame["timestamp"] == frame["timestamp"].iloc[row])
            & (frame["asset"] == frame["asset"].iloc[row])
        ][0]
        raise DataValidationError(
            name,
            "duplicate (timestamp, asset)",
            f"{_describe_row(frame, row)} also appears in row {first_row + int(first) + 1}",
            row + 1,
        )
