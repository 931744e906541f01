"""PostgreSQL's set-based writes: a statement's rows copied (COPY) into a temporary staging table of the
target table's shape, then one INSERT ... SELECT ... ON CONFLICT ... DO UPDATE from it.

COPY takes the rows as one stream of text, in the format LOAD DATA reads on MySQL
(etl.database.literals.load_file: tab-separated, backslash escapes, \\N for NULL): no statement
text to build and no value bound one by one. The staging table is the session's own (TEMP), made
once per connection with the target table's columns and defaults (LIKE), and emptied by every
commit (ON COMMIT DELETE ROWS) and rollback, and before a second COPY into it in one transaction (a
child's held lines, then its new ones): most batches write each table once and delete nothing. A
temporary table made in a transaction that rolls back is gone with it (see `track_staging`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from etl.database.literals import AS_IS, load_file

# The names of the staging tables this connection has made, in its pool entry's info (which goes
# with the DBAPI connection: a new connection starts without): those of committed transactions, and
# those of the transaction in hand, which a rollback takes with it.
_MADE = "etl_staging"
_PENDING = "etl_staging_pending"
# The staging tables that hold rows of the transaction in hand.
_FILLED = "etl_staging_filled"

# The staging table of each target table, described once: SQLAlchemy caches a compiled statement by
# the Table objects it names, and a description made anew for each batch would compile its statements
# again every time and fill that cache (bench/RESULTS.md, 2026-12-07, 22:00).
_SHAPES: WeakKeyDictionary[sa.Table, sa.Table] = WeakKeyDictionary()

Guard = Callable[[Any], sa.ColumnElement[bool]]


def track_staging(engine: Engine) -> None:
    """Keep count of the staging tables each connection of `engine` has: a commit keeps those its
    transaction made, a rollback takes them with it (they are made again, IF NOT EXISTS); either
    leaves every staging table empty."""

    @event.listens_for(engine, "commit")
    def _commit(connection: sa.Connection) -> None:
        info = connection.connection.info
        info.setdefault(_MADE, set()).update(info.pop(_PENDING, ()))
        info.pop(_FILLED, None)

    @event.listens_for(engine, "rollback")
    def _rollback(connection: sa.Connection) -> None:
        if not connection.invalidated:
            connection.connection.info.pop(_PENDING, None)
            connection.connection.info.pop(_FILLED, None)


def _staging_table(connection: sa.Connection, table: sa.Table) -> sa.Table:
    """The session's staging table for `table`, made once per connection."""
    name = f"etl_stage_{table.name}"
    info = connection.connection.info
    if name not in info.get(_MADE, ()) and name not in info.get(_PENDING, ()):
        quote = connection.dialect.identifier_preparer.quote
        connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ON COMMIT DELETE ROWS "
                                   f"AS SELECT * FROM {quote(table.name)} WITH NO DATA", execution_options=AS_IS)
        info.setdefault(_PENDING, set()).add(name)
    if (shape := _SHAPES.get(table)) is None:
        shape = _SHAPES[table] = sa.Table(name, sa.MetaData(), *(sa.Column(column.name, column.type)
                                                                  for column in table.columns))
    return shape


@contextmanager
def _driver_errors(connection: sa.Connection, statement: str) -> Iterator[None]:
    """psycopg's errors on its own cursor as SQLAlchemy's, as every other statement's (etl.database.faults)."""
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, dbapi_error, hide_parameters=True,
                                         dialect=connection.dialect) from error


def copy_rows(connection: sa.Connection, staging: sa.Table, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """COPY `rows` into `staging` in the connection's transaction; returns their columns in the order written."""
    columns, data = load_file(rows)
    quote = connection.dialect.identifier_preparer.quote
    statement = f"COPY {quote(staging.name)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with _driver_errors(connection, statement):
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(data)
    return columns


def staged_upsert(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str],
    where: Any, keep: Sequence[str], guard: Guard | None = None,
) -> None:
    """Insert `rows` into `table`, updating those whose `key` exists (the unique index `where` selects, if
    partial); columns in `keep` are left alone on update, and a row whose `guard(excluded)` is false too."""
    staging = _staging_table(connection, table)
    filled = connection.connection.info.setdefault(_FILLED, set())
    if staging.name in filled:
        connection.execute(sa.delete(staging))
    columns = copy_rows(connection, staging, rows)
    filled.add(staging.name)
    statement = postgresql.insert(table).from_select(columns, sa.select(*(staging.c[name] for name in columns)))
    updates = {name: statement.excluded[name] for name in columns if name not in key and name not in keep}
    if updates:
        statement = statement.on_conflict_do_update(index_elements=list(key), index_where=where, set_=updates,
                                                    where=None if guard is None else guard(statement.excluded))
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key), index_where=where)
    connection.execute(statement)
