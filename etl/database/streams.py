"""Rows of a query streamed from the server, a batch's documents never all held at once.

SQLAlchemy's streamed result (a server-side cursor on MySQL) serves every dialect. Where the rows
need nothing of SQLAlchemy (ints, datetimes and bytes as PyMySQL makes them), they come from
PyMySQL's unbuffered cursor itself, without a Row object each (bench/RESULTS.md: a few
microseconds a push), its errors wrapped as SQLAlchemy's would be, so that the retry policy and
the one-line messages (etl.database.faults) see the same types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@contextmanager
def reading(engine: Engine, *, binary: bool) -> Iterator[sa.Connection]:
    """A connection to read documents on. `binary` (MySQL/MariaDB): its results are `binary`, the text
    as stored, for as long as it is lent; a connection that fails meanwhile is closed, never pooled
    like that."""
    with engine.connect() as connection:
        if not binary:
            yield connection
            return
        connection.exec_driver_sql("SET character_set_results = binary")
        try:
            yield connection
        except BaseException:
            connection.invalidate()
            raise
        # SET NAMES (PyMySQL's charset, on connecting) set the client's and the results' charset alike.
        connection.exec_driver_sql("SET character_set_results = @@character_set_client")


def stream(connection: sa.Connection, query: sa.Select, *, raw: bool = False) -> Iterator[tuple]:
    """The rows of `query`, streamed: closing the iterator early reads no further rows. `raw`: as the
    driver makes them (PyMySQL only; another driver gets SQLAlchemy's result)."""
    if not raw or connection.dialect.driver != "pymysql":
        result = connection.execution_options(stream_results=True).execute(query)
        try:
            yield from result
        finally:
            result.close()
        return
    import pymysql.cursors  # the driver of this connection, loaded already

    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        cursor = connection.connection.driver_connection.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(compiled.string, compiled.params)
            yield from cursor
        finally:
            # Closing reads the rest of the result: not on a connection PyMySQL closed under the read
            # (killed, lost), where it would raise AttributeError in place of the read's own error.
            if cursor.connection is not None and cursor.connection.open:
                cursor.close()
    except dbapi_error as error:
        raise sa.exc.DBAPIError.instance(compiled.string, compiled.params, error, dbapi_error,
                                         hide_parameters=True, dialect=connection.dialect) from error
