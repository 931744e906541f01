"""Which driver errors are worth a retry, and how failures read (no database needed)."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
import sqlalchemy as sa

from etl.database import describe_failure, is_transient, masked
from etl.errors import DatabaseUnavailable

URL = sa.make_url("mysql+pymysql://etl:s3cret@db.example:3306/oms")


def mysql_error(kind: type, code: int, message: str) -> sa.exc.DBAPIError:
    wrapper = {pymysql.err.OperationalError: sa.exc.OperationalError, pymysql.err.DataError: sa.exc.DataError,
               pymysql.err.IntegrityError: sa.exc.IntegrityError}[kind]
    return wrapper("SELECT 1", {}, kind(code, message))


@pytest.mark.parametrize(
    "code, message",
    [(1205, "Lock wait timeout exceeded"), (1213, "Deadlock found"), (2006, "MySQL server has gone away"),
     (2013, "Lost connection to MySQL server during query"), (2003, "Can't connect"), (1927, "Connection was killed")],
    ids=["lock-wait", "deadlock", "gone-away", "lost", "cannot-connect", "killed"],
)
def test_faults_that_pass_are_transient(code, message):
    assert is_transient(mysql_error(pymysql.err.OperationalError, code, message))


@pytest.mark.parametrize(
    "kind, code, message",
    [(pymysql.err.OperationalError, 1045, "Access denied"), (pymysql.err.DataError, 1406, "Data too long"),
     (pymysql.err.IntegrityError, 1048, "Column cannot be null"), (pymysql.err.OperationalError, 1146, "no table")],
    ids=["access-denied", "too-long", "null", "no-table"],
)
def test_faults_that_stay_are_not_transient(kind, code, message):
    assert not is_transient(mysql_error(kind, code, message))


def test_a_locked_sqlite_database_is_transient():
    error = sa.exc.OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(error)


def test_failures_name_the_database_without_its_password():
    failure = describe_failure(mysql_error(pymysql.err.OperationalError, 2003, "Can't connect"), "target", URL)
    assert isinstance(failure, DatabaseUnavailable) and failure.exit_code == 69
    assert "s3cret" not in str(failure) and masked(URL) in str(failure) and "target database" in str(failure)
