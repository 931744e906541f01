"""The engines of the two databases, each made for its role, and the one place they are disposed.

The source is read in autocommit (no long snapshot on the production RDS, and each keyset
query sees what committed since the last one); the target writes in READ COMMITTED with
strict SQL mode (PostgreSQL is strict as it is), so a value the column cannot hold is an
error instead of a silent truncation. Every message names the database by its URL with the
password masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from etl.database.staging import track_staging
from etl.errors import DatabaseUnavailable, NotInitialized

# Strict: a value the column cannot hold is an error, never a silent truncation. Index dives for
# every IN list, never index statistics: right after a bulk write the statistics lag (InnoDB
# recalculates them in the background), and with them MariaDB read oms_order's whole tid index
# for each batch's lines (a retranslate of 100,000 trades right after writing them: 28 million
# index rows read, not 0.4 million; server CPU 19 s, not 12). Above 200 values (the default
# limit) the optimizer would estimate from the statistics. On MariaDB (10.3.18+: its executable
# comment, which MySQL reads as a comment), an IN list of 1,000 values or more stays a list of
# ranges too, instead of a join with a temporary table of the values: a batch's keys are one list
# (etl.database.tables.IDS_CHUNK).
_SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
            "eq_range_index_dive_limit = 0 /*M!100318 , in_predicate_conversion_threshold = 0 */")


def _datetime(value: str | bytes) -> datetime | str:
    """A DATETIME as PyMySQL reads it, parsed in C: every push's jdp_modified and every version the
    target is asked about pass here (PyMySQL's own parser, a regular expression, costs several times
    as much); what the fast parser refuses (a zero date) goes to PyMySQL's, which keeps it as text."""
    text = value.decode("ascii") if isinstance(value, bytes | bytearray) else value
    if len(text) >= 19:  # a date and a time; PyMySQL reads a date alone as a date
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    from pymysql.converters import convert_datetime  # the driver of this engine, loaded already

    return convert_datetime(text)


def _mysql_connect_args(url: URL, **settings: Any) -> dict[str, Any]:
    """The driver's connect arguments: `settings`, and PyMySQL's conversions with the fast DATETIME parser."""
    if url.get_driver_name() != "pymysql":
        return settings
    from pymysql.constants import FIELD_TYPE
    from pymysql.converters import conversions

    return {"conv": {**conversions, FIELD_TYPE.DATETIME: _datetime, FIELD_TYPE.TIMESTAMP: _datetime}, **settings}


def masked(url: URL | str) -> str:
    """The URL as a user may see it: password replaced by ***."""
    return sa.make_url(url).render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_postgresql(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def sqlite_path(url: URL) -> Path | None:
    """The file of an SQLite URL; None for an in-memory database."""
    if not is_sqlite(url) or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _sqlite_begin_immediate(engine: Engine) -> None:
    # pysqlite opens transactions lazily and only before DML; take the write lock at
    # BEGIN so a batch's read of current versions and its writes are one transaction.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def source_engine(url: URL) -> Engine:
    """An engine that only reads pushes."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise DatabaseUnavailable(f"source database {masked(url)} does not exist")
    if is_sqlite(url):
        return sa.create_engine(url, hide_parameters=True, isolation_level="AUTOCOMMIT")
    return sa.create_engine(
        url, hide_parameters=True, isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_recycle=3600,
        connect_args=_mysql_connect_args(url),
    )


def target_engine(url: URL, *, create: bool = False, load_data: bool = False) -> Engine:
    """An engine that writes OMS tables; `create` allows a new SQLite file (for `etl init`).

    `load_data` lets the MySQL driver answer LOAD DATA LOCAL INFILE (see `load_rows`). A
    server may ask such a client for any file it can read, so only the target, the user's own
    OMS database, ever gets this, and only when the job's `load_data` is on.
    """
    path = sqlite_path(url)
    if is_sqlite(url):
        if path is not None and not path.exists():
            if not create:
                raise NotInitialized(f"target database {masked(url)} does not exist: run `etl init` first")
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, hide_parameters=True)
        _sqlite_begin_immediate(engine)
        return engine
    if is_postgresql(url):
        engine = sa.create_engine(url, hide_parameters=True, isolation_level="READ COMMITTED", pool_pre_ping=True,
                                  pool_recycle=3600, connect_args={"application_name": "jdp-etl"})
        track_staging(engine)
        return engine
    return sa.create_engine(
        url,
        hide_parameters=True,
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args=_mysql_connect_args(url, init_command=_SESSION, **({"local_infile": True} if load_data else {})),
    )


@contextmanager
def open_source(url: URL) -> Iterator[Engine]:
    """A source engine for the block; its connections are closed when the block ends."""
    with _disposed(source_engine(url)) as engine:
        yield engine


@contextmanager
def open_target(url: URL, *, create: bool = False, load_data: bool = False) -> Iterator[Engine]:
    """A target engine for the block (see `target_engine`); its connections are closed when the block ends."""
    with _disposed(target_engine(url, create=create, load_data=load_data)) as engine:
        yield engine


@contextmanager
def _disposed(engine: Engine) -> Iterator[Engine]:
    try:
        yield engine
    finally:
        engine.dispose()
