"""A dump of every stored row, to assert that a refused import left the database unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from factory.storage.database import Database
from factory.storage.schema import Base


def dump_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows as tuples of their repr, in primary-key order (plus, on SQLite,
    the AUTOINCREMENT counters, so that a rolled-back insert that left its id behind
    would show)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.begin() as conn:
        for name, tbl in sorted(Base.metadata.tables.items()):
            order = list(tbl.primary_key.columns) or list(tbl.columns)
            rows = conn.execute(select(tbl).order_by(*order)).all()
            out[name] = [tuple(repr(v) for v in row) for row in rows]
        if conn.dialect.name == "sqlite":
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).first()
            if exists:
                out["sqlite_sequence"] = [
                    tuple(map(repr, r))
                    for r in conn.exec_driver_sql("SELECT * FROM sqlite_sequence ORDER BY name")
                ]
    return out
