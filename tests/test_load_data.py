"""The fast write path (LOAD DATA LOCAL into MySQL/MariaDB) gives the tables the plain path gives."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from support import snapshot

from etl.pipeline import retranslate_job, run_job
from etl.database.engines import target_engine
from etl.database.load_data import LoadDisabled, load_rows
from etl.database import tables
from etl.database.tables import IN_CHUNK, reflect
from etl.synth import PushFactory, synth_rows

T0 = datetime(2026, 11, 11, 10, 0, 0)
# Every character LOAD DATA's format or an SQL string literal gives a meaning to, the words either
# might read as NULL, and what a %-formatting driver would take for a parameter.
AWKWARD = ["tab\there", "line\nbreak", "cr\rlf\r\n", "back\\slash\\", "\\N", "NULL", "nul\x00byte", "", "😀 表情",
           "quote\"'`", "\\t not a tab", "'; DROP TABLE oms_trade; --", "100% 棉 %s %(tid)s %%", "\\'", "\x1a"]


def _pushes(factory: PushFactory) -> tuple[list[dict], list[dict]]:
    """A first window of varied trades, then a second with newer versions, a moved line and fewer lines."""
    trades = []
    for index in range(40):
        trade = factory.trade(T0)
        awkward = AWKWARD[index % len(AWKWARD)]
        lines = tuple({**line, "title": awkward + line["title"]} for line in trade.lines)
        trades.append(dataclasses.replace(trade, buyer_message=awkward, lines=lines))
    first = [factory.row(trade, factory.status(), T0, T0 + timedelta(seconds=index % 7))
             for index, trade in enumerate(trades)]
    later = T0 + timedelta(hours=1)
    second = [factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", later, later, lines=trade.lines[:1])
              for trade in trades[::3]]
    # A line id that moves to another trade: the old trade's row for it must give way.
    moved = {**trades[1].lines[0], "seq": 1}
    second.append(factory.row(trades[2], "WAIT_SELLER_SEND_GOODS", later, later, lines=[trades[2].lines[0], moved]))
    return first, second


def test_load_data_writes_exactly_what_inserts_write(dbs):
    first, second = _pushes(PushFactory(seed=11))
    plain = dbs.other()
    for rows in (first, second):
        dbs.push(rows)
        for target, load_data in ((dbs, True), (plain, False)):
            run_job(target.job(load_data=load_data, batch_size=16))
    for target, load_data in ((dbs, True), (plain, False)):
        retranslate_job(target.job(load_data=load_data), T0, T0 + timedelta(days=1))
    assert snapshot(dbs) == snapshot(plain)
    assert any("\t" in message or "\n" in message for (message,) in dbs.query("SELECT buyer_message FROM oms_trade"))
    assert dbs.query("SELECT COUNT(*) FROM oms_trade WHERE buyer_message IS NULL") == [(0,)]


def test_batches_longer_than_an_in_list_give_the_same_tables(dbs, monkeypatch):
    # Every key list of a batch (versions, lines held, refund holds, rejects) is cut into several:
    # the bound ones at IN_CHUNK, the lists of ids at IDS_CHUNK (5,000 in a run; fewer here).
    monkeypatch.setattr(tables, "IDS_CHUNK", 700)
    rows = list(synth_rows(2 * IN_CHUNK + 100, seed=13, start=T0))
    dbs.push(rows)
    plain = dbs.other()
    for target, load_data in ((dbs, True), (plain, False)):
        run_job(target.job(load_data=load_data, batch_size=len(rows)))
        result = retranslate_job(target.job(load_data=load_data, batch_size=len(rows)), T0, T0 + timedelta(days=1))
        assert result.counts.pushes_written == len(rows)
    assert snapshot(dbs) == snapshot(plain)
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(len(rows),)]


def test_the_target_session_is_strict_and_plans_key_lists_by_index_dives(mysql_dbs):
    engine = target_engine(sa.make_url(mysql_dbs.target_url))
    with engine.connect() as connection:
        mode, dives, version = connection.exec_driver_sql(
            "SELECT @@SESSION.sql_mode, @@SESSION.eq_range_index_dive_limit, VERSION()").one()
        if "MariaDB" in version:
            # A list of a batch's 1,000 keys or more stays a list (its executable comment, which MySQL skips).
            assert connection.exec_driver_sql("SELECT @@SESSION.in_predicate_conversion_threshold").scalar() == 0
    engine.dispose()
    assert "STRICT_ALL_TABLES" in mode
    assert dives == 0


def test_a_server_that_refuses_load_data_local_is_written_with_inserts(mysql_dbs):
    factory = PushFactory(seed=12)
    mysql_dbs.push([factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(5)])
    admin = sa.create_engine(sa.make_url(mysql_dbs.target_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        was = connection.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar()
        connection.exec_driver_sql("SET GLOBAL local_infile = 0")
        try:
            result = run_job(mysql_dbs.job())
        finally:
            connection.exec_driver_sql(f"SET GLOBAL local_infile = {int(was)}")
    admin.dispose()
    assert result.counts.pushes_written == 5
    assert mysql_dbs.query("SELECT COUNT(*) FROM oms_trade") == [(5,)]


def test_a_server_that_turns_local_infile_off_says_so_by_its_type(mysql_dbs):
    """Mid-run (after the job asked): the writer falls back to INSERT on LoadDisabled, whatever the
    server's code for it (MariaDB 10.5+ answers 4166, MySQL 1148 or 3948)."""
    engine = target_engine(sa.make_url(mysql_dbs.target_url))
    table = reflect(engine, ["oms_promotion"])["oms_promotion"]
    admin = sa.create_engine(sa.make_url(mysql_dbs.target_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        was = connection.exec_driver_sql("SELECT @@GLOBAL.local_infile").scalar()
        connection.exec_driver_sql("SET GLOBAL local_infile = 0")
        try:
            with engine.begin() as target, pytest.raises(LoadDisabled):
                load_rows(target, table, [{"tid": 1, "seq": 0, "promotion_name": "x"}], replace=True)
        finally:
            connection.exec_driver_sql(f"SET GLOBAL local_infile = {int(was)}")
    admin.dispose()
    engine.dispose()


@pytest.mark.parametrize("load_data", [True, False], ids=["load-data", "insert"])
def test_a_value_the_target_cannot_hold_rejects_only_its_push(mysql_dbs, load_data):
    factory = PushFactory(seed=13)
    trades = [factory.trade(T0) for _ in range(6)]
    long_title = dataclasses.replace(trades[3], lines=tuple({**line, "title": "长" * 300} for line in trades[3].lines))
    trades[3] = long_title
    mysql_dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0) for trade in trades])
    result = run_job(mysql_dbs.job(load_data=load_data))
    assert (result.counts.pushes_written, result.counts.rejects) == (5, 1)
    [(tid, error)] = mysql_dbs.query("SELECT tid, error FROM etl_reject")
    assert tid == long_title.tid and "title" in error
