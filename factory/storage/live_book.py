"""The live book's record: ``book_returns`` (one row per booked bar, final once written)
and ``book_state`` (the ledger state carried to the next rebalance)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, select

from factory.book.ledger import LedgerState
from factory.storage.database import Database, read_frame, table, upsert

_NAME = "live"


@dataclass(frozen=True)
class BookPosition:
    """Where the book stands: its state after ``last_bar`` and the state before it."""

    last_bar: datetime
    state: LedgerState
    before_bar: datetime | None
    before_state: LedgerState | None


def load_position(db: Database) -> BookPosition | None:
    t = table("book_state")
    with db.begin() as conn:
        row = conn.execute(select(t).where(t.c.name == _NAME)).mappings().first()
    if row is None:
        return None
    before = row["before_state"]
    return BookPosition(
        row["last_bar"],
        LedgerState.from_json(json.loads(row["state"])),
        row["before_bar"],
        None if before is None else LedgerState.from_json(json.loads(before)),
    )


def save_booking(
    db: Database,
    rows: Sequence[dict[str, Any]],
    *,
    last_bar: datetime,
    state: LedgerState,
    before_bar: datetime | None,
    before_state: LedgerState | None,
) -> None:
    """Write the booked bars and the new state in one transaction. A row for a bar that
    is already stored is replaced only when it is ``last_bar`` being re-booked (a forced
    re-run of the same rebalance); earlier bars are final."""
    r, s = table("book_returns"), table("book_state")
    with db.begin() as conn:
        conn.execute(delete(r).where(r.c.bar_ts == last_bar))
        upsert(conn, r, list(rows), keys=["bar_ts"])
        conn.execute(delete(s).where(s.c.name == _NAME))
        conn.execute(
            s.insert().values(
                name=_NAME,
                last_bar=last_bar,
                state=json.dumps(state.to_json()),
                before_bar=before_bar,
                before_state=None if before_state is None else json.dumps(before_state.to_json()),
            )
        )


def load_book_returns(db: Database) -> pd.DataFrame:
    """Rows ``bar_ts, rebalance_id, gross, turnover, cost, net, at`` in bar order."""
    t = table("book_returns")
    with db.begin() as conn:
        return read_frame(conn, select(t).order_by(t.c.bar_ts), datetimes=["bar_ts", "at"])


def prices_between(
    db: Database, assets: Sequence[str], after: datetime | None, end: datetime, margin: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Close and open prices (bars x assets) of ``assets`` for the bars in ``(after,
    end]`` plus the ``margin`` bars before them (for cost models that look back)."""
    b = table("bars")
    cut = after if after is not None else end
    with db.begin() as conn:
        earlier = (
            conn.execute(
                select(b.c.ts)
                .where(b.c.ts <= cut)
                .distinct()
                .order_by(b.c.ts.desc())
                .limit(margin + 1)
            )
            .scalars()
            .all()
        )
        start = min(earlier) if earlier else cut
        stmt = select(b.c.ts, b.c.asset, b.c.open, b.c.close).where(
            b.c.ts >= start, b.c.ts <= end, b.c.asset.in_(list(assets))
        )
        frame = read_frame(conn, stmt, datetimes=["ts"])
        # Every bar of the universe is a bar of the book, even one where it holds nothing
        # (cash) or none of its assets trades: the record counts time, not only trades.
        grid = read_frame(
            conn, select(b.c.ts).where(b.c.ts >= start, b.c.ts <= end).distinct(), datetimes=["ts"]
        )
    index = pd.DatetimeIndex(sorted(grid["ts"]), name="ts")
    close = frame.pivot(index="ts", columns="asset", values="close")
    open_ = frame.pivot(index="ts", columns="asset", values="open")
    return (
        close.reindex(index=index, columns=list(assets)),
        open_.reindex(index=index, columns=list(assets)),
    )
