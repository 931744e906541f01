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

from etl.database.engines import is_sqlite, masked
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
    return isinstance(error, (DataError, IntegrityError)) or error_code(error) in _REFUSED_VALUE


def is_transient(error: DBAPIError) -> bool:
    """Would the same statement likely succeed on a fresh connection a moment later?"""
    if error.connection_invalidated or isinstance(error, sa.exc.InterfaceError):
        return True
    if error_code(error) in _TRANSIENT:
        return True
    # SQLite: another process holds the write lock longer than busy_timeout.
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
