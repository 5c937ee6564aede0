"""Where Optuna studies live: in the factory's database.

* PostgreSQL: Optuna's RDB storage on the same database, in a schema of its own
  (``optuna``, or ``<schema>_optuna`` when the factory lives in schema ``<schema>``):
  Optuna's table names — ``studies``, ``trials`` — would collide with the factory's, and
  Alembic never sees that schema. Parallel workers share it through the server.
* SQLite: Optuna advises against SQLite for parallel workers, so studies go to a
  `JournalStorage` file next to the database (``factory.db`` ->
  ``factory.db.optuna-journal``), which any number of processes on the host append to
  under a file lock.

Both survive a kill: trials already told stay, and `factory.refine.study` fails the
trials a killed run left running before it continues.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from factory.storage.database import normalise_url

SCHEMA = "optuna"
JOURNAL_SUFFIX = ".optuna-journal"


def journal_path(db_url: str) -> Path:
    """The journal file of a SQLite database URL (next to the database file)."""
    url = make_url(db_url)
    if not url.database or url.database == ":memory:":
        raise ValueError(
            f"{db_url}: an in-memory SQLite database has no place for Optuna's journal; "
            "use a database file"
        )
    return Path(url.database).resolve().with_name(Path(url.database).name + JOURNAL_SUFFIX)


def optuna_schema(db_url: str) -> str:
    """The PostgreSQL schema of the studies: ``optuna``, or ``<schema>_optuna`` when the
    factory's URL puts it in a schema of its own (``options=-csearch_path=<schema>``)."""
    options = make_url(normalise_url(db_url)).query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    match = re.search(r"search_path\s*=\s*([A-Za-z0-9_]+)", options)
    return f"{match.group(1)}_{SCHEMA}" if match else SCHEMA


def absolute_url(db_url: str) -> str:
    """``db_url`` with a SQLite path made absolute (Ray workers run in other directories)."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return db_url
    return url.set(database=str(Path(url.database).resolve())).render_as_string(hide_password=False)


def optuna_storage(db_url: str) -> BaseStorage:
    """Optuna's storage for the factory database at ``db_url`` (see the module docstring)."""
    url = make_url(normalise_url(db_url))
    if url.get_backend_name() == "postgresql":
        schema = optuna_schema(db_url)
        full = url.difference_update_query(["options"]).render_as_string(hide_password=False)
        engine = create_engine(full)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        finally:
            engine.dispose()
        return RDBStorage(
            full,
            engine_kwargs={
                "pool_pre_ping": True,
                "connect_args": {"options": f"-csearch_path={schema}"},
            },
        )
    path = journal_path(db_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def quiet() -> None:
    """Optuna logs every trial at INFO; the CLI prints its own summary."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
