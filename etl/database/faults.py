"""What a driver error means, said by the type of the error it becomes: `ValueRefused` (the target
refused a value of the rows), `Transient` (worth a retry), `DatabaseUnavailable` or `EtlError`.

A user reads one line naming the database by its URL (password masked), never the SQL or
its parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from etl.database.engines import is_postgresql, is_sqlite, masked
from etl.errors import DatabaseUnavailable, EtlError, Transient, ValueRefused

# MySQL client error codes that mean "the server is not there for us".
_UNREACHABLE = {1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013, 2055}
# Worth a retry: the server went away or restarted (failover), this connection was
# killed, or a lock wait timed out or deadlocked under concurrent OMS writes.
_TRANSIENT = {1040, 1053, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055}
# What drivers report as OperationalError although the target refused a row's value, not the
# connection: a CHECK constraint (MySQL 3819; MariaDB 4025, also MariaDB's JSON_VALID check of a JSON
# column) and text that is not JSON for a MySQL JSON column (3140).
_REFUSED_VALUE = {3140, 3819, 4025}

# PostgreSQL's SQLSTATEs (psycopg puts them on its errors; a failure of the client's own has none).
# Not there for us: refused or lost connections (class 08), a server shutting down or not yet up
# (57P01-57P03: pg_terminate_backend's is 57P01), a bad password or role (28), no such database (3D000).
_PG_UNREACHABLE_CLASSES = ("08", "28")
_PG_UNREACHABLE = {"57P01", "57P02", "57P03", "3D000"}
# Worth a retry: the connection (class 08, 57P01-57P03), a serialization failure or deadlock (40001,
# 40P01: class 40), a lock or statement timeout (55P03, 57014), too many connections (53300).
_PG_TRANSIENT_CLASSES = ("08", "40")
_PG_TRANSIENT = {"57P01", "57P02", "57P03", "55P03", "57014", "53300"}
# A value of the rows, not the connection: data exceptions (class 22: too long, out of range, a NUL
# byte, not JSON), integrity (class 23: a CHECK, a duplicate), a key too large for its index (54000),
# and one key twice in one upsert (21000: two pushes of one id, "0042" and "42"), which bisection parts.
_PG_REFUSED_CLASSES = ("22", "23")
_PG_REFUSED = {"54000", "21000"}


def _from_psycopg(error: DBAPIError) -> bool:
    return type(error.orig).__module__.partition(".")[0] == "psycopg"


def sqlstate(error: DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE of the error, or None (another driver, or a failure of psycopg's own)."""
    return error.orig.sqlstate if _from_psycopg(error) else None


def error_code(error: DBAPIError) -> Any:
    """The driver's error number (MySQL), the SQLSTATE (PostgreSQL), or None."""
    if _from_psycopg(error):
        return error.orig.sqlstate
    original = error.orig
    return original.args[0] if original is not None and original.args else None


def _lost_by_psycopg(error: DBAPIError) -> bool:
    """psycopg's own OperationalError, without a SQLSTATE: the connection could not be made, or broke
    under a statement."""
    return isinstance(error, OperationalError) and _from_psycopg(error) and error.orig.sqlstate is None


def _postgresql_unreachable(error: DBAPIError) -> bool:
    state = sqlstate(error)
    if state is None:
        return _lost_by_psycopg(error)
    return state.startswith(_PG_UNREACHABLE_CLASSES) or state in _PG_UNREACHABLE


def describe_failure(error: DBAPIError, role: str, url: URL) -> EtlError:
    """Turn a driver error into the one line a user reads (never the SQL or its parameters)."""
    original = error.orig
    code = error_code(error)
    detail = str(original) if original is not None else str(error)
    if isinstance(error, OperationalError) and (
        code in _UNREACHABLE or is_sqlite(url) and "unable to open" in detail
    ) or is_postgresql(url) and _postgresql_unreachable(error):
        return DatabaseUnavailable(f"{role} database {masked(url)} is unavailable: {detail}")
    return EtlError(f"{role} database {masked(url)} failed: {detail}")


@contextmanager
def database_errors(role: str, url: URL) -> Iterator[None]:
    """A driver error becomes one line naming the database; the SQL and its values stay out."""
    try:
        yield
    except DBAPIError as error:
        raise describe_failure(error, role, url) from None


@contextmanager
def typed_faults(role: str, url: URL) -> Iterator[None]:
    """As `database_errors`, with a value the target refused raised as `ValueRefused` and a fault
    worth a retry as `Transient`, for the retry policy (etl/pipeline/retry.py) to tell apart."""
    try:
        yield
    except DBAPIError as error:
        failure = describe_failure(error, role, url)
        if refuses_value(error):
            raise ValueRefused(str(failure), str(error.orig)) from None
        if is_transient(error):
            raise Transient(failure, str(error.orig)) from None
        raise failure from None


def refuses_value(error: DBAPIError) -> bool:
    """Did the target refuse a value of the rows (too long, out of range, a duplicate, a CHECK)? Then the
    push holding it is rejected, rather than the run failing on it forever."""
    state = sqlstate(error)
    if state is not None:
        return state.startswith(_PG_REFUSED_CLASSES) or state in _PG_REFUSED
    return isinstance(error, (DataError, IntegrityError)) or error_code(error) in _REFUSED_VALUE


def is_transient(error: DBAPIError) -> bool:
    """Would the same statement likely succeed on a fresh connection a moment later?"""
    if error.connection_invalidated or isinstance(error, sa.exc.InterfaceError):
        return True
    if error_code(error) in _TRANSIENT:
        return True
    state = sqlstate(error)
    if state is not None:
        return state.startswith(_PG_TRANSIENT_CLASSES) or state in _PG_TRANSIENT
    if _lost_by_psycopg(error):
        return True
    # SQLite: another process holds the write lock longer than busy_timeout.
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
