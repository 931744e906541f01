"""A PostgreSQL target: what its errors mean, the rows it ends with against a MariaDB target's, the values
only it refuses, and its job lock."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
import psycopg.errors
import pytest
import sqlalchemy as sa
from support import OMS_TABLES, rows_at

from etl.database.engines import target_engine
from etl.database.faults import typed_faults
from etl.database.tables import reflect, upsert
from etl.errors import DatabaseUnavailable, EtlError, JobBusy, Transient, ValueRefused
from etl.lock import job_lock
from etl.pipeline import retranslate_job, run_job
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)
URL = sa.make_url("postgresql+psycopg://oms:s3cret@pg.example:5432/oms")


def _error(state: str | None, wrapper: type = sa.exc.OperationalError) -> sa.exc.DBAPIError:
    """A psycopg error of SQLSTATE `state` (None: psycopg's own, as when the connection is refused), as
    SQLAlchemy wraps it."""
    original = psycopg.errors.lookup(state)("server words") if state else psycopg.OperationalError("refused")
    return wrapper("SELECT 1", {}, original)


@pytest.mark.parametrize(
    "state, wrapper, expected",
    [
        ("22001", sa.exc.DataError, ValueRefused),  # too long for its VARCHAR(n)
        ("22021", sa.exc.DataError, ValueRefused),  # a NUL byte, or bytes that are not UTF-8
        ("22P02", sa.exc.DataError, ValueRefused),  # not JSON for a json column
        ("23514", sa.exc.IntegrityError, ValueRefused),  # a CHECK of the user's
        ("21000", sa.exc.ProgrammingError, ValueRefused),  # one key twice in one upsert
        ("40001", sa.exc.OperationalError, Transient),  # a serialization failure
        ("40P01", sa.exc.OperationalError, Transient),  # a deadlock
        ("57P01", sa.exc.OperationalError, Transient),  # pg_terminate_backend, a fast shutdown
        ("08006", sa.exc.OperationalError, Transient),  # the connection broke
        (None, sa.exc.OperationalError, Transient),  # psycopg's own: refused, or lost under a statement
        ("28P01", sa.exc.OperationalError, DatabaseUnavailable),  # a wrong password
        ("3D000", sa.exc.OperationalError, DatabaseUnavailable),  # no such database
        ("42P01", sa.exc.ProgrammingError, EtlError),  # no such table: a bug or a missing init, not retried
    ],
    ids=["too-long", "nul-byte", "not-json", "check", "key-twice", "serialization", "deadlock", "terminated",
         "connection-failure", "refused", "password", "no-database", "no-table"],
)
def test_a_sqlstate_is_raised_as_what_it_means(state, wrapper, expected):
    with pytest.raises(EtlError) as caught, typed_faults("target", URL):
        raise _error(state, wrapper)
    assert type(caught.value) is expected
    assert "s3cret" not in str(caught.value) and "target database" in str(caught.value)


def test_a_lost_connection_spent_of_retries_exits_69():
    with pytest.raises(Transient) as caught, typed_faults("target", URL):
        raise _error("57P01")
    assert caught.value.gave_up("writing a batch", 6).exit_code == 69


def _varied(factory: PushFactory, count: int) -> list[dict]:
    """Pushes with what tells two targets apart: 19-digit ids, money, emoji, several lines and promotions,
    some pushed twice within one second (another content) and some in later seconds."""
    rows = rows_at(factory, count, T0, per_second=7)
    for index in range(0, count, 9):
        trade = factory.trade(T0)
        rows[index] = factory.row(dataclasses.replace(trade, lines=tuple(
            {**line, "title": f"{line.get('title', '')}🧧 ' \\ \t"} for line in trade.lines)),
            "WAIT_SELLER_SEND_GOODS", T0, T0 + timedelta(seconds=index // 7))
    return rows


def _columns(dbs, table: str) -> list[str]:
    engine = target_engine(sa.make_url(dbs.target_url))
    names = reflect(engine, [table])[table].c.keys()
    engine.dispose()
    return names


def test_a_postgresql_target_holds_what_a_mariadb_target_holds_field_by_field(mysql_dbs, postgresql_dbs):
    factory = PushFactory(seed=61)
    rows = _varied(factory, 140)
    for dbs in (mysql_dbs, postgresql_dbs):
        dbs.push(rows)
        run_job(dbs.job(batch_size=25))
    # Later pushes of a fifth of them: newer wins the same way, lines replaced by their keys.
    later = [{**row, "jdp_modified": row["jdp_modified"] + timedelta(minutes=5)} for row in rows[::5]]
    for dbs in (mysql_dbs, postgresql_dbs):
        dbs.push(later)
        run_job(dbs.job(batch_size=25))
        retranslate_job(dbs.job(batch_size=25), T0, T0 + timedelta(hours=1))
    for table, order in OMS_TABLES:
        # By name: MySQL adds a column AFTER another, PostgreSQL at the end.
        columns = ",".join(_columns(mysql_dbs, table))
        assert postgresql_dbs.select(table, columns, order) == mysql_dbs.select(table, columns, order), table
    trades = postgresql_dbs.dump("oms_trade", "tid")
    assert any(tid >= 10**18 for tid, *_ in trades)
    ext = postgresql_dbs.select("oms_trade", "ext", "tid")[0][0]
    assert isinstance(ext, str) and orjson.loads(ext)
    assert all(isinstance(row[0], Decimal) for row in postgresql_dbs.select("oms_order", "price"))


def test_a_value_postgresql_refuses_rejects_only_its_push(postgresql_dbs):
    dbs = postgresql_dbs
    factory = PushFactory(seed=13)
    trades = [factory.trade(T0) for _ in range(8)]
    trades[2] = dataclasses.replace(trades[2], lines=tuple({**line, "title": "长" * 300} for line in trades[2].lines))
    trades[5] = dataclasses.replace(trades[5], lines=tuple({**line, "title": "a\x00b"} for line in trades[5].lines))
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0) for trade in trades])
    result = run_job(dbs.job())
    assert (result.counts.pushes_written, result.counts.rejects) == (6, 2)
    rejected = dict(dbs.query("SELECT tid, error FROM etl_reject ORDER BY tid"))
    assert set(rejected) == {trades[2].tid, trades[5].tid}
    assert "too long" in rejected[trades[2].tid] and "0x00" in rejected[trades[5].tid]
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(6,)]


def test_the_job_lock_is_a_session_advisory_lock_that_ends_with_its_session(postgresql_dbs, caplog):
    engine = target_engine(sa.make_url(postgresql_dbs.target_url))
    admin = sa.create_engine(postgresql_dbs.target_url, isolation_level="AUTOCOMMIT")
    with job_lock(engine, "tb") as lock:
        with pytest.raises(JobBusy), job_lock(engine, "tb"):
            pass
        with job_lock(engine, "other"):  # another job's lock is another key
            pass
        holder = lock.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        lock.ensure()  # gone with its session: taken again on a new one, and said
        assert "job lock's session on the target was lost" in caplog.text
        assert lock.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != holder
        with pytest.raises(JobBusy), job_lock(engine, "tb"):
            pass
    with job_lock(engine, "tb"):
        pass
    admin.dispose()
    engine.dispose()


def test_a_staged_upsert_is_compiled_once_per_table(postgresql_dbs):
    # Every batch writes through the same statements: compiling them again each batch costs CPU, and the
    # compiled cache, holding each, grows by the batch.
    engine = target_engine(sa.make_url(postgresql_dbs.target_url))
    table = reflect(engine, ["etl_watermark"])["etl_watermark"]
    rows = [{"job": "tb", "shard": "", "jdp_modified": T0, "tid": 1, "updated_at": T0}]
    try:
        sizes = []
        for _ in range(3):
            with engine.begin() as connection:
                upsert(connection, table, rows, key=["job", "shard"])
            sizes.append(len(engine._compiled_cache))
        assert sizes[1] == sizes[2] == sizes[0], sizes
    finally:
        engine.dispose()


def test_a_table_upserted_twice_in_one_transaction_takes_only_the_second_rows_the_second_time(postgresql_dbs):
    # A child's held lines, then its new ones, go through one staging table in one transaction.
    engine = target_engine(sa.make_url(postgresql_dbs.target_url))
    table = reflect(engine, ["etl_watermark"])["etl_watermark"]

    def row(tid: int) -> dict:
        return {"job": "tb", "shard": "", "jdp_modified": T0, "tid": tid, "updated_at": T0}

    try:
        with engine.begin() as connection:
            upsert(connection, table, [row(1)], key=["job", "shard"])
            upsert(connection, table, [row(2)], key=["job", "shard"])
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:
            upsert(connection, table, [row(3)], key=["job", "shard"])
            connection.exec_driver_sql("SELECT 1/0")
        with engine.begin() as connection:  # after a commit and after a rollback, the staging table starts empty
            upsert(connection, table, [row(4)], key=["job", "shard"])
            assert connection.exec_driver_sql("SELECT tid FROM etl_watermark").all() == [(4,)]
    finally:
        engine.dispose()
