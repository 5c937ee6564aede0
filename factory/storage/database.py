"""Engine creation, migrations on start, transactions and idempotent upserts.

SQLite (the embedded default) runs in WAL mode with foreign keys on; PostgreSQL is used
through psycopg 3 (``postgresql://`` URLs are mapped to ``postgresql+psycopg://``).

Inspection commands open the database *read-only* (``Database(url, read_only=True)``):
SQLite through a ``mode=ro`` URI (no pragma that writes, no directory or file created),
PostgreSQL with every transaction read-only. A read-only open never migrates; it checks
that the database is a Model Factory database at this version's schema and refuses
anything else with a message that says why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
    type_coerce,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from factory.storage.schema import Base

MIGRATIONS = Path(__file__).parent / "migrations"
# Rows per executemany batch; keeps SQLite under its bound-variable limit.
BATCH = 5_000


class DatabaseError(RuntimeError):
    """The database cannot be opened or its schema is not one this version knows."""


class DatabaseMissing(DatabaseError):
    """A read-only open of an SQLite file that does not exist."""


def normalise_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``. ``read_only`` opens SQLite with ``mode=ro`` (the file must
    exist; nothing is created) and makes every PostgreSQL transaction read-only."""
    try:
        url = normalise_url(url)
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except Exception as exc:
        raise DatabaseError(f"invalid database URL {url!r}: {exc}") from None
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    if parsed.get_backend_name() == "sqlite":
        if read_only:
            return _sqlite_read_only_engine(url, parsed.database, **kwargs)
        if parsed.database and parsed.database != ":memory:":
            _refuse_foreign_sqlite(url, Path(parsed.database))
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if read_only:

        @event.listens_for(engine, "connect")
        def _pg_read_only(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cur.close()
            dbapi_conn.commit()

    return engine


def _refuse_foreign_sqlite(url: str, path: Path) -> None:
    """Before the first read-write connection (whose WAL pragma already writes): refuse an
    existing file that is not an SQLite database or holds someone else's tables."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        probe = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=60)
        try:
            names = [
                r[0] for r in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise DatabaseError(f"{path} is not an SQLite database ({exc})") from None
        return  # unreadable read-only: the read-write open reports the real problem
    foreign = sorted(n for n in names if n != "alembic_version" and not n.startswith("sqlite_"))
    if foreign and "alembic_version" not in names:
        raise DatabaseError(_not_ours(make_url(url).render_as_string(hide_password=True), foreign))


def _sqlite_read_only_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    """SQLite opened with ``mode=ro``: a missing file is an error naming the path (no
    directory or file is created), and no pragma that writes runs (WAL mode is the
    writer's business). A WAL database whose ``-shm`` file cannot be created (a read-only
    directory) is opened ``immutable`` instead: nobody can be writing it then."""
    if not database or database == ":memory:":
        raise DatabaseError(f"{url}: an in-memory database has nothing to inspect")
    path = Path(database).expanduser().absolute()
    if not path.exists():
        raise DatabaseMissing(
            f"database file {path} does not exist (read-only commands never create one; "
            "check the path, or run `factory init` to create a database)"
        )
    if not path.is_file():
        raise DatabaseError(f"database path {path} is not a file")
    uri = f"{path.as_uri()}?mode=ro"
    try:
        probe = sqlite3.connect(uri, uri=True, timeout=60)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise DatabaseError(f"{path} is not an SQLite database ({exc})") from None
        immutable = f"{uri}&immutable=1"
        try:
            probe = sqlite3.connect(immutable, uri=True)
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            probe.close()
        except sqlite3.Error:
            raise DatabaseError(f"cannot open database file {path} read-only: {exc}") from None
        uri = immutable

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        return conn

    return create_engine(url, creator=connect, **kwargs)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (no-op when it is already there). A
    database that holds other tables but no Model Factory schema is refused, never
    extended."""
    url = engine.url.render_as_string(hide_password=True)
    current: str | None = None
    try:
        with engine.begin() as conn:
            current = current_revision(conn)
            if current == head_revision():
                return
            if current is None:
                foreign = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
                if foreign:
                    raise DatabaseError(_not_ours(url, foreign))
            command.upgrade(alembic_config(conn), "head")
    except CommandError as exc:
        raise DatabaseError(
            f"database {url} is at schema revision {current!r}, which this version of "
            f"Model Factory does not know (newest known: {head_revision()!r}); it was "
            f"probably written by a newer version: upgrade the package ({exc})"
        ) from None
    except DBAPIError as exc:  # unreachable server, missing schema, no permission, ...
        raise DatabaseError(f"cannot open database {url}: {str(exc.orig).strip()}") from None


def _not_ours(url: str, tables: Sequence[str]) -> str:
    shown = ", ".join(tables[:8]) + (f" and {len(tables) - 8} more" if len(tables) > 8 else "")
    return (
        f"database {url} is not a Model Factory database: it has tables ({shown}) but no "
        "alembic_version table; refusing to touch it. Point --db / db_url at a Model "
        "Factory database, or at a new file / an empty PostgreSQL database or schema"
    )


def check_schema(engine: Engine) -> None:
    """For read-only use: refuse, without writing anything, a database that is not a
    Model Factory database at this version's schema."""
    url = engine.url.render_as_string(hide_password=True)
    head = head_revision()
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            current = current_revision(conn) if "alembic_version" in tables else None
            conn.rollback()
    except DBAPIError as exc:
        raise DatabaseError(f"cannot open database {url}: {str(exc.orig).strip()}") from None
    if current is None:
        if not tables - {"alembic_version"}:
            raise DatabaseError(
                f"database {url} is empty: it is not a Model Factory database yet "
                "(run `factory init` or `factory data import` to create the schema)"
            )
        raise DatabaseError(_not_ours(url, sorted(tables - {"alembic_version"})))
    if current != head:
        script = ScriptDirectory.from_config(alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise DatabaseError(
                f"database {url} is at schema revision {current!r}, which this version of "
                f"Model Factory does not know (newest known: {head!r}); it was probably "
                "written by a newer version: upgrade the package"
            )
        raise DatabaseError(
            f"database {url} is at schema revision {current!r}, older than this version's "
            f"{head!r}; read-only commands never migrate: run a command that writes "
            "(e.g. `factory init`, which keeps an existing settings file) to upgrade it"
        )
    missing = sorted(set(Base.metadata.tables) - tables)
    if missing:
        raise DatabaseError(
            f"database {url} records schema revision {current!r} but lacks the tables "
            f"{', '.join(missing)}: it is not (or no longer) a complete Model Factory database"
        )


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Database:
    """A migrated database. ``begin()`` gives a transaction; ``session()`` an ORM session.

    ``read_only=True`` (inspection commands): opened read-only, never migrated, and
    refused unless it is a Model Factory database at this version's schema."""

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = True,
        read_only: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        self.url = normalise_url(url)
        self.read_only = read_only
        self.engine = create_db_engine(self.url, read_only=read_only, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            if read_only:
                check_schema(self.engine)
            elif auto_migrate:
                migrate(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without password, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def upsert(
    conn: Connection,
    tbl: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``; on a key conflict update ``update`` columns, or skip if None."""
    if not rows:
        return
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(tbl)
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(tbl)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    for start in range(0, len(rows), BATCH):
        conn.execute(stmt, list(rows[start : start + BATCH]))


# -- bulk paths for large frames (bars, signals, returns) ------------------------------
_SQLITE_DT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DateTime storage format


def bulk_upsert(
    conn: Connection,
    tbl: Table,
    frame: pd.DataFrame,
    *,
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> int:
    """Insert a DataFrame whose columns are ``tbl`` columns, fast, with the same conflict
    semantics as `upsert` (skip, or update ``update`` columns). NaN and NaT become NULL.
    Returns the number of rows the database inserted or updated (skipped conflicts do not
    count).

    SQLite gets one ``executemany`` of tuples; PostgreSQL a ``COPY`` into a temporary table
    followed by one ``INSERT ... SELECT ... ON CONFLICT``. Both are 10-50x faster than
    row dictionaries through the ORM for the million-row tables.
    """
    if frame.empty:
        return 0
    cols = list(frame.columns)
    dialect = conn.dialect.name
    rows = _frame_rows(frame, sqlite=dialect == "sqlite")
    conflict = ", ".join(keys)
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
    else:
        action = "DO NOTHING"
    col_list = ", ".join(cols)
    if dialect == "sqlite":
        sql = (
            f"INSERT INTO {tbl.name} ({col_list}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({conflict}) {action}"
        )
        result = conn.exec_driver_sql(sql, rows)
        return int(result.rowcount)
    if dialect != "postgresql":  # pragma: no cover
        raise NotImplementedError(f"bulk_upsert is not implemented for {dialect}")
    raw = conn.connection.driver_connection
    tmp = f"_bulk_{tbl.name}"
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {tbl.name} INCLUDING DEFAULTS)")
        cur.execute(f"TRUNCATE {tmp}")
        with cur.copy(f"COPY {tmp} ({col_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO {tbl.name} ({col_list}) SELECT {col_list} FROM {tmp} "
            f"ON CONFLICT ({conflict}) {action}"
        )
        return int(cur.rowcount)


def _frame_rows(frame: pd.DataFrame, *, sqlite: bool) -> list[tuple[Any, ...]]:
    columns: list[list[Any]] = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            missing = col.isna().to_numpy()
            if sqlite:
                values = col.dt.strftime(_SQLITE_DT).to_numpy(dtype=object, copy=True)
            else:
                values = np.array(col.dt.to_pydatetime(), dtype=object)
            values[missing] = None  # NaT becomes NULL
            columns.append(list(values))
        elif pd.api.types.is_float_dtype(col.dtype):
            values = col.to_numpy(dtype=np.float64)
            if np.isnan(values).any():
                obj = values.astype(object)
                obj[np.isnan(values)] = None
                columns.append(list(obj))
            else:
                columns.append(values.tolist())
        elif pd.api.types.is_bool_dtype(col.dtype):
            columns.append([bool(v) for v in col])
        elif pd.api.types.is_integer_dtype(col.dtype):
            columns.append(col.to_numpy().tolist())
        else:
            columns.append([None if v is None else str(v) for v in col])
    return list(zip(*columns, strict=True))


def read_frame(conn: Connection, stmt: Any, *, datetimes: Sequence[str] = ()) -> pd.DataFrame:
    """Run a select and return a DataFrame, parsing ``datetimes`` columns fast."""
    if datetimes:
        # Skip SQLAlchemy's per-row string -> datetime conversion on SQLite; pandas parses
        # the whole column at once below.
        stmt = stmt.with_only_columns(
            *[
                type_coerce(c, String).label(c.name) if c.name in datetimes else c
                for c in stmt.selected_columns
            ]
        )
    result = conn.execute(stmt)
    names = list(result.keys())
    rows = result.fetchall()
    # Column-wise from plain tuples: DataFrame.from_records on Row objects is ~20x slower.
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    frame = pd.DataFrame(
        {n: pd.Series(c, dtype=_infer(c)) for n, c in zip(names, columns, strict=True)}
    )
    for name in datetimes:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype("datetime64[ns]")
    return frame


def _infer(values: tuple[Any, ...]) -> str | None:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "object"
        if isinstance(v, float | int):
            return "float64" if isinstance(v, float) else None
        return "object"
    return "object"


@contextmanager
def scratch_schema(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty PostgreSQL schema on ``server_url``, dropped with everything in it on
    exit; yields a URL whose connections use it (``search_path``). For tests, benchmarks
    and trying a version against a production server without touching its data."""
    import uuid

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in server_url else "?"
        try:
            yield f"{server_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
