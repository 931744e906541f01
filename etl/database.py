"""Connections to the source and target databases, and the little that differs between dialects.

Each engine is made for its role: the source is read in autocommit (no long snapshot
on the production RDS, and each keyset query sees what committed since the last one);
the target writes in READ COMMITTED with strict SQL mode, so a value the column cannot
hold is an error instead of a silent truncation. Every message names the database by
its URL with the password masked.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, NoSuchTableError, OperationalError

from etl.errors import DatabaseUnavailable, EtlError, NotInitialized

# Pushes have one-second precision; store SQLite datetimes the way people write them,
# so text comparisons in SQL and by hand agree with what the job binds.
_SQLITE_DATETIME = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?",
)
# Strict: a value the column cannot hold is an error, never a silent truncation. Index dives for
# every IN list, never index statistics: right after a bulk write the statistics lag (InnoDB
# recalculates them in the background), and with them MariaDB read oms_order's whole tid index
# for each batch's lines (a retranslate of 100,000 trades right after writing them: 28 million
# index rows read, not 0.4 million; server CPU 19 s, not 12). Above 200 values (the default
# limit) the optimizer would estimate from the statistics.
_SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
            "eq_range_index_dive_limit = 0")
# MySQL client error codes that mean "the server is not there for us".
_UNREACHABLE = {1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013, 2055}
# Worth a retry: the server went away or restarted (failover), this connection was
# killed, or a lock wait timed out or deadlocked under concurrent OMS writes.
_TRANSIENT = {1040, 1053, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055}
# IN lists are chunked, below 1,000: MariaDB turns an IN list of 1,000 values or more
# (in_predicate_conversion_threshold) into a join with a temporary table, materialized for each
# statement and planned from the statistics; and SQLite before 3.32 allowed 999 variables.
IN_CHUNK = 999


class _Ids(sa.sql.expression.ColumnElement):
    """A parenthesized list of integer ids, written into the SQL text as digits."""

    # Its SQL differs with every batch: caching the statement would fill the compiled cache
    # with one-off entries (each holding the ids), so it is compiled each time: 0.5 ms for a
    # SELECT with 999 ids, where rendering them as bound parameters took 1.7 ms before PyMySQL
    # escaped each (measured).
    inherit_cache = False

    def __init__(self, ids: str) -> None:
        self.ids = ids


@compiles(_Ids)
def _compile_ids(element: _Ids, compiler: Any, **kw: Any) -> str:
    return f"({element.ids})"


def ids_in(column: sa.ColumnElement, ids: Sequence[int]) -> sa.ColumnElement:
    """`column IN ids` for a batch of integer ids, each id written into the SQL as digits.

    A bound IN list of 1,000 ids cost the job ~2 us an id (SQLAlchemy renders a placeholder
    for each, PyMySQL escapes each), and a batch has several such lists; joined digits cost
    nothing. Only ints are written so (int.__repr__ refuses anything else: no text reaches
    the SQL unquoted). A comparison operator, so that MySQL gets `tid IN (...)` and not
    `(tid IN (...)) = 1`, which no index serves.
    """
    if not ids:
        return sa.false()
    return column.op("IN", is_comparison=True)(_Ids(",".join(map(int.__repr__, ids))))


def masked(url: URL | str) -> str:
    """The URL as a user may see it: password replaced by ***."""
    return sa.make_url(url).render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


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
        url, hide_parameters=True, isolation_level="AUTOCOMMIT", pool_pre_ping=True, pool_recycle=3600
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
    return sa.create_engine(
        url,
        hide_parameters=True,
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"init_command": _SESSION, **({"local_infile": True} if load_data else {})},
    )


def error_code(error: DBAPIError) -> Any:
    """The driver's error number (MySQL), or None."""
    original = error.orig
    return original.args[0] if original is not None and original.args else None


def describe_failure(error: DBAPIError, role: str, url: URL) -> EtlError:
    """Turn a driver error into the one line a user reads (never the SQL or its parameters)."""
    original = error.orig
    code = error_code(error)
    detail = str(original) if original is not None else str(error)
    if isinstance(error, OperationalError) and (
        code in _UNREACHABLE or is_sqlite(url) and "unable to open" in detail
    ):
        return DatabaseUnavailable(f"{role} database {masked(url)} is unavailable: {detail}")
    return EtlError(f"{role} database {masked(url)} failed: {detail}")


@contextmanager
def database_errors(role: str, url: URL) -> Iterator[None]:
    """A driver error becomes one line naming the database; the SQL and its values stay out."""
    try:
        yield
    except DBAPIError as error:
        raise describe_failure(error, role, url) from None


# What drivers report as OperationalError although the target refused a row's value, not the
# connection: a CHECK constraint (MySQL 3819; MariaDB 4025, also MariaDB's JSON_VALID check of a JSON
# column) and text that is not JSON for a MySQL JSON column (3140).
_REFUSED_VALUE = {3140, 3819, 4025}


def refuses_value(error: DBAPIError) -> bool:
    """Did the target refuse a value of the rows (too long, out of range, a duplicate, a CHECK)? Then the
    push holding it is rejected, rather than the run failing on it forever."""
    return isinstance(error, (DataError, IntegrityError)) or error_code(error) in _REFUSED_VALUE


def is_transient(error: DBAPIError) -> bool:
    """Would the same statement likely succeed on a fresh connection a moment later?"""
    if error.connection_invalidated or isinstance(error, sa.exc.InterfaceError):
        return True
    if error_code(error) in _TRANSIENT:
        return True
    # SQLite: another process holds the write lock longer than busy_timeout.
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def reflect(engine: Engine, names: Iterable[str], *, role: str = "target") -> dict[str, sa.Table]:
    """The named tables as the DDL made them; a missing one means the target needs `etl init`."""
    metadata = sa.MetaData()
    sqlite_target = engine.dialect.name == "sqlite"

    @event.listens_for(metadata, "column_reflect")
    def _types(_inspector: Any, _table: sa.Table, column: dict[str, Any]) -> None:
        if sqlite_target and isinstance(column["type"], sa.DateTime):
            column["type"] = _SQLITE_DATETIME
        elif isinstance(column["type"], sa.JSON):
            # MySQL's JSON (oms_trade.ext) is read and written as the text the push had: the type
            # would parse it into Python objects, and an export would print their repr.
            column["type"] = sa.Text()

    tables = {}
    for name in names:
        try:
            tables[name] = sa.Table(name, metadata, autoload_with=engine)
        except NoSuchTableError:
            if role == "target":
                raise NotInitialized(
                    f"target database {masked(engine.url)} has no table {name}: run `etl init` to create the tables"
                ) from None
            raise
    return tables


def _mysql_upsert(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str],
    where: Any, keep: Sequence[str],
) -> None:
    # The statement's VALUES are written here, not by PyMySQL's executemany: its per-value escaping
    # (str.translate with a mapping) was a third of a retranslate's client time, ~100 us for one 2 KB
    # oms_trade.ext alone; `_sql_tuples` is C-level str methods (measured: see the README's Speed).
    # ON DUPLICATE KEY fires on any unique key, so `key` and `where` are implied by the DDL.
    quote = connection.dialect.identifier_preparer.quote
    columns = list(rows[0])
    updates = [f"{quote(name)} = VALUES({quote(name)})" for name in columns if name not in key and name not in keep]
    head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
    tail = f" ON DUPLICATE KEY UPDATE {', '.join(updates) or f'{quote(key[0])} = {quote(key[0])}'}"
    statement: list[str] = []
    size = 0
    for values in _sql_tuples(rows, columns):
        statement.append(values)
        size += len(values)
        if size >= _STATEMENT_CHARS:
            connection.exec_driver_sql(head + ",".join(statement) + tail, execution_options=AS_IS)
            statement, size = [], 0
    if statement:
        connection.exec_driver_sql(head + ",".join(statement) + tail, execution_options=AS_IS)


def _sqlite_upsert(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str],
    where: Any, keep: Sequence[str],
) -> None:
    # SQLite needs SQLAlchemy's types to bind Decimal and datetime, so rows go through the Core construct.
    statement = sqlite.insert(table)
    updates = {name: statement.excluded[name] for name in rows[0] if name not in key and name not in keep}
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(key), index_where=where, set_=updates), list(rows)
    )


_UPSERTS = {"mysql": _mysql_upsert, "mariadb": _mysql_upsert, "sqlite": _sqlite_upsert}


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    where: Any = None,
    keep: Sequence[str] = (),
) -> None:
    """Insert `rows`, updating those whose key exists; multi-row statements, never row by row.

    `key` defaults to the primary key; `where` selects a partial unique index (SQLite);
    columns in `keep` are written on insert but left alone on update.
    """
    if rows:
        _UPSERTS[connection.dialect.name](connection, table, rows, list(key or table.primary_key.columns.keys()),
                                          where, keep)


class LoadRefused(Exception):
    """LOAD DATA reported warnings: a value it would have truncated, a duplicate it skipped.

    With LOCAL the server cannot stop the client mid-file, so it turns what strict mode
    would refuse into warnings and goes on; the caller rolls the batch back and writes it
    with plain statements, which refuse the value properly.
    """


def _escaped(value: str, escapes: tuple[tuple[str, str], ...]) -> str:
    # C-level passes, each behind a search: str.replace counts its matches before it copies, and
    # counting is a slower scan than `in` (oms_trade.ext, a 2.4 KB JSON text with Chinese, which
    # has backslashes and never a raw control character: 11.2 us with five plain replaces, ~5
    # with the searches; str.translate with a mapping takes ~100).
    for char, escape in escapes:
        if char in value:
            value = value.replace(char, escape)
    return value


# LOAD DATA's default format (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'):
# a backslash (first: the others add backslashes), tab, newline, carriage return or NUL in a
# value is escaped, NULL is \N.
_load_escape = partial(_escaped, escapes=(("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"),
                                          ("\0", "\\0")))
_LOAD_SPECIAL = re.compile(r"[\\\t\n\r\0]")
# A short text is searched for what needs escaping and kept as it is when nothing does (most
# values); a long one goes to the escape directly, whose searches for one character at a time cost
# less than the regex on non-ASCII text (oms_trade.ext, 2.4 KB with Chinese: the regex search alone
# took 46k instructions, callgrind).
_SEARCH_LIMIT = 256
_LOAD_NULL = "\\N"
# The server does not allow LOAD DATA LOCAL (local_infile is off on it, or on the client).
LOAD_DISABLED = {1148, 3948}


def load_data_allowed(connection: sa.Connection) -> bool:
    """Does this MySQL/MariaDB server accept LOAD DATA LOCAL INFILE? (Never assumed: MySQL 8 says no by default.)"""
    if connection.dialect.name not in ("mysql", "mariadb"):
        return False
    return bool(connection.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar())


class _DatetimeText(dict):
    """str() of a datetime costs ~0.6 us; the pushes of a batch share most of their seconds."""

    def __missing__(self, value: datetime) -> str:
        text = self[value] = str(value)
        return text


def _values_of(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """A row's values of `columns`, always as a tuple (itemgetter of one name gives the bare value)."""
    return itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))


def _text_of(value: Any) -> str:
    """The rare values (bool, float, date) as LOAD DATA and SQL read them: a bool as 1/0, not True."""
    if type(value) is bool:
        return "1" if value else "0"
    return repr(value) if type(value) is float else str(value)


def _load_lines(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows in LOAD DATA's format. Hot: one pass per value, C-level wherever it can be."""
    values_of = _values_of(columns)
    needs_escape = _LOAD_SPECIAL.search
    datetimes = _DatetimeText()
    # str() writes int and Decimal the way MySQL reads them; a datetime as "2026-11-11 00:00:00".
    return "".join([
        "\t".join([
            _LOAD_NULL if value is None
            else (_load_escape(value) if len(value) > _SEARCH_LIMIT or needs_escape(value) else value)
            if type(value) is str
            else str(value) if type(value) is int or type(value) is Decimal
            else datetimes[value] if type(value) is datetime
            else _text_of(value)
            for value in values_of(row)
        ]) + "\n"
        for row in rows
    ])


# In a quoted SQL string only the quote, the backslash (the target's sql_mode has no
# NO_BACKSLASH_ESCAPES: see _SESSION) and NUL need escaping.
_SQL_SPECIAL = re.compile(r"[\\'\0]")
# Characters per INSERT statement: at most 4 MB of utf8mb4, under any server's max_allowed_packet
# (16 MB by default in MariaDB, 64 MB in MySQL 8), and PyMySQL's own executemany size (1 MB).
_STATEMENT_CHARS = 1_000_000
# A statement without parameters goes to cursor.execute(text) alone, so that PyMySQL does not
# %-format it: a value (or a user's DDL: LIKE 'shop-%') may hold a % (SQLAlchemy's documented option).
AS_IS = {"no_parameters": True}
_sql_escape = partial(_escaped, escapes=(("\\", "\\\\"), ("'", "\\'"), ("\0", "\\0")))


def _sql_tuples(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """Each row as the SQL text of a VALUES tuple: "(1,'a',NULL)". Hot, as `_load_lines` is."""
    values_of = _values_of(columns)
    needs_escape = _SQL_SPECIAL.search
    datetimes = _DatetimeText()
    return [
        "(" + ",".join([
            "NULL" if value is None
            else "'" + (_sql_escape(value) if len(value) > _SEARCH_LIMIT or needs_escape(value) else value) + "'"
            if type(value) is str
            else str(value) if type(value) is int or type(value) is Decimal
            else "'" + datetimes[value] + "'" if type(value) is datetime
            else _text_of(value) if type(value) is bool or type(value) is float
            else "'" + _sql_escape(str(value)) + "'"
            for value in values_of(row)
        ]) + ")"
        for row in rows
    ]


def load_rows(connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *,
              replace: bool) -> None:
    """Write `rows` with LOAD DATA LOCAL INFILE: about twice the rows per second of multi-row
    INSERT on the server, and a tenth of the client's time (no per-value escaping in Python).

    `replace` replaces rows whose key exists (REPLACE: delete and insert, fine for child rows
    the job owns whole); without it a duplicate is a warning, so `LoadRefused`. The file is
    private to this process (0600) and gone when the statement returns.
    """
    if not rows:
        return
    columns = list(rows[0])
    quote = connection.dialect.identifier_preparer.quote
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", prefix="etl-", suffix=".tsv") as file:
        file.write(_load_lines(rows, columns))
        file.flush()
        connection.exec_driver_sql(
            f"LOAD DATA LOCAL INFILE %s {'REPLACE ' if replace else ''}INTO TABLE {quote(table.name)} "
            f"CHARACTER SET utf8mb4 ({', '.join(map(quote, columns))})",
            (file.name,),
        )
    warnings = connection.exec_driver_sql("SELECT @@warning_count").scalar()
    if warnings:
        raise LoadRefused(f"LOAD DATA into {table.name} gave {warnings} warning(s)")


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
