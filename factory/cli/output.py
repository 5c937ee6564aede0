"""Printing results as a rich table, JSON or CSV (``--format``).

JSON output is one object per command with a documented shape (docs/user-guide.md);
numbers are plain JSON numbers, timestamps ISO 8601 strings, NaN becomes null.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TextIO

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output (CI logs, `| less`) gets a wide console instead of rich's 80 columns.
# Markup is off by default: messages carry user text ("close outside [low, high]") that
# rich would otherwise eat as tags. Styled lines pass markup=True and escape() their data.
# Piped messages are never hard-wrapped (soft_wrap), so logs stay greppable.
console = Console(
    width=None if sys.stdout.isatty() else 200,
    markup=False,
    highlight=False,
    soft_wrap=not sys.stdout.isatty(),
)
err_console = Console(
    stderr=True,
    width=None if sys.stderr.isatty() else 200,
    markup=False,
    highlight=False,
    soft_wrap=not sys.stderr.isatty(),
)


class Format(StrEnum):
    """Output of commands that print a table of rows."""

    table = "table"
    json = "json"
    csv = "csv"


class Output(StrEnum):
    """Output of commands that print a result, not rows (no CSV)."""

    table = "table"
    json = "json"


def plain(value: Any) -> Any:
    """JSON-safe Python value."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return value


def print_json(payload: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(plain(payload), indent=2) + "\n")


@contextmanager
def stdout_kept_for(document: bool) -> Iterator[TextIO]:
    """While a ``--format json`` command works, send everything else printed to stdout
    (Ray's raylet and worker messages, a library's prints) to stderr, so that stdout holds
    only the document; yields the real stdout for streamed documents (JSON Lines)."""
    real = sys.stdout
    if not document:
        yield real
        return
    with redirect_stdout(sys.stderr):
        yield real


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts; a named index becomes a field, a plain positional one is dropped."""
    keep_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    flat = frame.reset_index() if keep_index else frame
    return [plain(r) for r in flat.to_dict("records")]


def print_csv(frame: pd.DataFrame) -> None:
    frame.to_csv(sys.stdout, index=False, float_format="%.6g")


def fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "-"
        return format(value, spec)
    if isinstance(value, pd.Timestamp | datetime):
        return f"{value:%Y-%m-%d}" if value.hour == value.minute == 0 else f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def print_table(
    frame: pd.DataFrame,
    *,
    title: str | None = None,
    formats: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
) -> None:
    formats = formats or {}
    cols = list(columns or frame.columns)
    table = Table(
        title=escape(title) if title else None,
        caption=escape(caption) if caption else None,
        header_style="bold",
    )
    for c in cols:
        numeric = pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(
            frame[c].dtype
        )
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    for _, row in frame[cols].iterrows():
        table.add_row(*[escape(fmt(row[c], formats.get(c, ".3f"))) for c in cols])
    console.print(table)
