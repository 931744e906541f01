"""Which driver errors are worth a retry, how failures read, how id lists and values are written.

No server needed: one test runs an id list on an in-memory SQLite.
"""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
import sqlalchemy as sa

from sqlalchemy.dialects import mysql, sqlite

from etl.database.engines import _datetime, masked
from etl.database.faults import describe_failure, is_transient
from etl.database.literals import _load_escape, _sql_escape, load_file, sql_tuples
from etl.database.tables import ids_in
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


TRADES = sa.Table("oms_trade", sa.MetaData(), sa.Column("tid", sa.BigInteger, primary_key=True))


@pytest.mark.parametrize("value", ["2026-11-11 00:54:59", b"2026-11-11 00:54:59", "2026-11-11 00:54:59.5",
                                   b"2026-11-11 00:54:59.123456", "2026-11-11", "0000-00-00 00:00:00",
                                   "2026-02-31 00:00:00"])
def test_a_datetime_is_read_as_pymysql_reads_it(value):
    # The fast parser of every DATETIME the job reads: the same values as PyMySQL's, a zero date kept as text.
    assert _datetime(value) == pymysql.converters.convert_datetime(value)


@pytest.mark.parametrize("dialect", [mysql.dialect(), sqlite.dialect()], ids=["mysql", "sqlite"])
def test_an_id_list_is_written_as_digits_into_a_plain_in(dialect):
    query = sa.select(TRADES.c.tid).where(ids_in(TRADES.c.tid, [3960256442460266064, 7]))
    compiled = query.compile(dialect=dialect)
    # A plain IN, which the primary key serves: not a boolean compared with 1.
    assert str(compiled).endswith("WHERE oms_trade.tid IN (3960256442460266064,7)")
    assert not compiled.params


def test_an_id_list_takes_only_ints():
    with pytest.raises(TypeError):
        ids_in(TRADES.c.tid, [1, "2) OR (1=1"])


def test_an_id_list_selects_those_ids_and_an_empty_one_none():
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        TRADES.create(connection)
        connection.execute(TRADES.insert(), [{"tid": tid} for tid in (1, 2, 3)])

        def selected(ids):
            return sorted(connection.execute(sa.select(TRADES.c.tid).where(ids_in(TRADES.c.tid, ids))).scalars())
        assert selected([3, 1, 9]) == [1, 3]
        assert selected([]) == []


@pytest.mark.parametrize("special", ["\\", "\t", "\n", "\r", "\0", "\x1f", "\u200d", "'"])
def test_a_short_text_with_a_special_character_is_escaped(special):
    # A short text is escaped only when its search finds something; the search must find all of these.
    text = f"买家{special}留言"
    assert load_file([{"a": text, "b": None}]) == (["a", "b"], (_load_escape(text) + "\t\\N\n").encode())
    assert sql_tuples([{"a": text}], ["a"]) == ["('" + _sql_escape(text) + "')"]


@pytest.mark.parametrize("text", ["短" * 300, "长\t" + "x" * 300 + "\\ \n \r \0 ' end"], ids=["plain", "awkward"])
def test_a_long_text_is_escaped_as_a_short_one_is(text):
    # Past a length the encoders escape without searching first: the result must be the same.
    assert load_file([{"a": text}]) == (["a"], (_load_escape(text) + "\n").encode())
    assert sql_tuples([{"a": text}], ["a"]) == ["('" + _sql_escape(text) + "')"]
    assert load_file([{"a": text[:10]}]) == (["a"], (_load_escape(text[:10]) + "\n").encode())


@pytest.mark.parametrize("text", ["短" * 300, "长\t" + "x" * 300 + "\\ \n \r \0 ' end", "{}"], ids=["plain", "awkward", "short"])
def test_bytes_are_written_as_the_text_they_encode(text):
    # oms_trade.ext comes as orjson's UTF-8 bytes: LOAD DATA's file takes them after the text columns,
    # escaped as the text would be; a row whose value is text, NULL or bytes where the first row's
    # was otherwise is written right too, and an INSERT's VALUES decode them.
    rows = [{"ext": text.encode(), "a": "买家", "b": 1}, {"ext": None, "a": None, "b": 2},
            {"ext": text, "a": text.encode(), "b": 3}]
    columns, lines = load_file(rows)
    assert columns == ["a", "b", "ext"]
    escaped = _load_escape(text)
    assert lines.decode() == f"买家\t1\t{escaped}\n\\N\t2\t\\N\n{escaped}\t3\t{escaped}\n"
    assert load_file([{"ext": text.encode()}]) == (["ext"], (escaped + "\n").encode())
    assert sql_tuples(rows[:1], ["ext"]) == ["('" + _sql_escape(text) + "')"]
