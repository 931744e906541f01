"""Reading push tables (etl.source) on real engines: the documents arrive as UTF-8 bytes, and a table
whose key or clock the job cannot page on is refused before a run."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from alibaba_orders import AlibabaOrderFactory
from support import etl

from etl.database.engines import source_engine
from etl.database.faults import error_code
from etl.source import SourceTable, reflect_source
from etl.window import Position, Window
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)
COLUMNS = ("tid", "jdp_modified", "jdp_response")
WHOLE = Window(Position(datetime(2000, 1, 1)), datetime(2100, 1, 1), end_inclusive=False)


def push_rows(dbs) -> dict[int, dict]:
    """Three pushes (one with Chinese and emoji) and one without jdp_modified, by tid."""
    factory = PushFactory(seed=11)
    rows = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(3)]
    rows[0]["jdp_response"] = rows[0]["jdp_response"].replace('"trade":{', '"trade":{"memo":"请尽快发货🙏😀",', 1)
    orphan = factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0)
    orphan["jdp_modified"] = None
    dbs.push([*rows, orphan])
    return {row["tid"]: row for row in [*rows, orphan]}


@pytest.fixture
def source_of():
    engines = []

    def source(dbs) -> SourceTable:
        engines.append(source_engine(sa.make_url(dbs.source_url)))
        return reflect_source(engines[-1], "jdp_tb_trade", COLUMNS)

    yield source
    for engine in engines:
        engine.dispose()


def test_documents_arrive_as_the_bytes_stored_with_int_keys(dbs, source_of):
    rows, source = push_rows(dbs), source_of(dbs)
    read = [*source.read_batch(WHOLE, None, 10, 1 << 20), *source.null_modified(10),
            *source.read_keys(sorted(rows))]
    assert len(read) == 3 + 1 + 4
    for push in read:
        assert type(push.key) is int
        assert push.document == rows[push.key]["jdp_response"].encode()
    assert "请尽快发货🙏😀".encode() in b"".join(push.document for push in read)


def _results_charset(engine: sa.Engine) -> tuple[str, object]:
    with engine.connect() as connection:
        charset = connection.exec_driver_sql("SELECT @@character_set_results").scalar()
        text = connection.exec_driver_sql("SELECT jdp_response FROM jdp_tb_trade LIMIT 1").scalar()
    return charset, type(text)


def test_a_read_gives_its_connection_back_as_it_was_even_when_it_fails(mysql_dbs, source_of):
    push_rows(mysql_dbs)
    source = source_of(mysql_dbs)
    # The documents come from a session whose results are `binary`; every other query of the
    # source (text keys, the table's reflection) needs the connection's own charset back.
    source.read_batch(WHOLE, None, 10, 1 << 20)
    assert _results_charset(source.engine) == ("utf8mb4", str)
    with pytest.raises(RuntimeError):
        with source._reading():
            raise RuntimeError("the read failed")
    assert _results_charset(source.engine) == ("utf8mb4", str)


def test_a_batch_stops_at_its_byte_bound_and_gives_its_connection_back(dbs, source_of):
    rows, source = push_rows(dbs), source_of(dbs)
    placed = sorted(((row["jdp_modified"], key) for key, row in rows.items() if row["jdp_modified"]))
    # Past the first document's bytes the batch ends, whatever `rows` allows; the next read goes on after it.
    first = source.read_batch(WHOLE, None, 10, 1)
    rest = source.read_batch(WHOLE, first[-1].position, 10, 1 << 20)
    assert [push.key for push in [*first, *rest]] == [key for _, key in placed] and len(first) == 1
    assert source.read_batch(WHOLE, rest[-1].position, 10, 1 << 20) == []


def test_a_failed_read_is_a_driver_error_sqlalchemy_names(mysql_dbs, source_of):
    # MySQL's documents come from PyMySQL's cursor itself (etl.database.streams): its errors must reach
    # the retry policy and the messages as SQLAlchemy's would, with the server's code.
    push_rows(mysql_dbs)
    source = source_of(mysql_dbs)
    assert source.binary_results and source.engine.dialect.driver == "pymysql"
    with source.engine.begin() as connection:
        connection.exec_driver_sql("RENAME TABLE jdp_tb_trade TO jdp_tb_trade_gone")
    try:
        with pytest.raises(sa.exc.ProgrammingError) as raised:
            source.read_batch(WHOLE, None, 10, 1 << 20)
    finally:
        with source.engine.begin() as connection:
            connection.exec_driver_sql("RENAME TABLE jdp_tb_trade_gone TO jdp_tb_trade")
    assert error_code(raised.value) == 1146
    assert _results_charset(source.engine) == ("utf8mb4", str)


@pytest.mark.parametrize("charset", ["gbk", "latin1"])
def test_a_column_stored_in_another_charset_arrives_as_utf8(mysql_dbs, source_of, charset):
    # Jushita's tables are utf8/utf8mb4, but a lander's own table may keep its text in gbk or
    # latin1: its stored bytes are no UTF-8, and every push would be rejected as invalid JSON.
    # Both reads are checked: an integer key (a session of binary results) and a text key.
    text = {"gbk": "请尽快发货", "latin1": "café crème"}[charset]
    factory, orders = PushFactory(seed=12), AlibabaOrderFactory(seed=12)
    trade = factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0)
    order = orders.row(orders.order(T0), "waitsellersend", T0, T0)
    # Documents the charset can hold (the factories' have emoji and Chinese), as read, not translated.
    trade["jdp_response"] = f'{{"trade_fullinfo_get_response":{{"trade":{{"tid":{trade["tid"]},"memo":"{text}"}}}}}}'
    order["body"] = f'{{"result":{{"baseInfo":{{"id":{order["order_id"]},"remark":"{text}"}}}}}}'
    engine = source_engine(sa.make_url(mysql_dbs.source_url))
    with engine.begin() as connection:
        for table, column in (("jdp_tb_trade", "jdp_response"), ("alibaba_order_landing", "body")):
            connection.exec_driver_sql(f"ALTER TABLE {table} MODIFY {column} MEDIUMTEXT CHARACTER SET {charset}")
    engine.dispose()
    mysql_dbs.push([trade])
    mysql_dbs.push([order], table="alibaba_order_landing")
    source = source_of(mysql_dbs)
    landing = reflect_source(source.engine, "alibaba_order_landing", ("order_id", "landed_at", "body"))
    for table, row, column in ((source, trade, "jdp_response"), (landing, order, "body")):
        key = next(iter(row.values()))
        read = [*table.read_batch(WHOLE, None, 10, 1 << 20), *table.read_keys([key])]
        assert [push.document for push in read] == [row[column].encode()] * 2


@pytest.mark.parametrize("column, kind, says", [
    ("order_id", sa.Numeric(20, 0), r"key column order_id is (NUMERIC|DECIMAL)\(20, 0\): it must be an integer"),
    ("landed_at", sa.String(19), r"modified column landed_at is VARCHAR\(19\): the watermark needs a DATETIME"),
    ("landed_at", sa.BigInteger(), r"modified column landed_at is BIGINT(\(20\))?: the watermark needs a DATETIME"),
    ("landed_at", sa.Date(), r"modified column landed_at is DATE: the watermark needs a DATETIME"),
], ids=["decimal-key", "text-clock", "epoch-clock", "date-clock"])
def test_a_key_or_clock_column_of_another_type_is_a_configuration_error(dbs, tmp_path, column, kind, says):
    # A lander's own table may keep the time as text or epoch seconds: it would fail every batch.
    types = {"order_id": sa.String(32), "landed_at": sa.DateTime(), "body": sa.Text(), column: kind}
    engine = source_engine(sa.make_url(dbs.source_url))
    sa.Table("landing", sa.MetaData(), *(sa.Column(name, type_) for name, type_ in types.items())).create(engine)
    engine.dispose()
    settings = {"kind": "alibaba_order", "table": "landing", "key_column": "order_id",
                "modified_column": "landed_at", "json_column": "body"}
    config = str(dbs.config_file(tmp_path, {"lander": settings}))
    code, _, err = etl("--config", config, "run")
    assert code == 2 and re.search(says, err)
