"""Run semantics on real engines (SQLite and MySQL/MariaDB), through the library API."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
import pytest
import sqlalchemy as sa
from support import etl, rows_at

from etl.pipeline import retranslate_job, run_job
from etl.pipeline.memory import batch_memory
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)


@pytest.fixture
def factory() -> PushFactory:
    return PushFactory(seed=7)


def trade_ids(dbs) -> list[int]:
    return [row[0] for row in dbs.query("SELECT tid FROM oms_trade ORDER BY tid")]


def test_rows_sharing_one_second_survive_batch_boundaries(dbs, factory):
    rows = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(53)]
    dbs.push(rows)
    result = run_job(dbs.job(batch_size=7))
    assert result.counts.rows_read == 53
    assert trade_ids(dbs) == sorted(row["tid"] for row in rows)
    assert dbs.select("etl_watermark", "jdp_modified, tid") == [(T0, max(row["tid"] for row in rows))]


@pytest.mark.parametrize("lookback, caught", [(300, True), (0, False)], ids=["lookback-300", "lookback-0"])
def test_a_late_commit_is_caught_within_lookback_only(dbs, factory, lookback, caught):
    first = factory.trade(T0)
    dbs.push([factory.row(first, "WAIT_SELLER_SEND_GOODS", T0, T0 + timedelta(seconds=100))])
    run_job(dbs.job(lookback_seconds=lookback))
    # Committed late: its jdp_modified is behind the watermark already.
    late = factory.trade(T0)
    dbs.push([factory.row(late, "WAIT_SELLER_SEND_GOODS", T0, T0 + timedelta(seconds=40))])
    run_job(dbs.job(lookback_seconds=lookback))
    assert trade_ids(dbs) == sorted([first.tid, late.tid] if caught else [first.tid])
    assert dbs.select("etl_watermark", "jdp_modified") == [(T0 + timedelta(seconds=100),)]


def test_an_older_push_never_overwrites_a_newer_one(dbs, factory):
    trade = factory.trade(T0)
    dbs.push([factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", T0 + timedelta(hours=2), T0 + timedelta(hours=2))])
    run_job(dbs.job())
    # The same trade arrives again with an older `modified` (an out-of-order push) but a later jdp_modified.
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0 + timedelta(hours=1), T0 + timedelta(hours=3))])
    run_job(dbs.job())
    retranslate_job(dbs.job(), T0, T0 + timedelta(days=1))
    assert dbs.query("SELECT status, oms_status FROM oms_trade") == [("WAIT_BUYER_CONFIRM_GOODS", "SHIPPED")]


def test_a_newer_push_replaces_the_trade_and_its_lines(dbs, factory):
    trade = factory.trade(T0)
    while len(trade.lines) < 3:
        trade = factory.trade(T0)
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)])
    run_job(dbs.job())
    assert len(dbs.query("SELECT oid FROM oms_order")) == len(trade.lines)
    later = T0 + timedelta(minutes=5)
    kept = trade.lines[:2]
    dbs.push([factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", later, later, kept)])
    run_job(dbs.job())
    assert dbs.query("SELECT oid, oms_status FROM oms_order ORDER BY seq") == [
        (line["oid"], "SHIPPED") for line in kept
    ]
    assert dbs.query("SELECT status FROM oms_trade") == [("WAIT_BUYER_CONFIRM_GOODS",)]


@pytest.mark.parametrize("load_data", [True, False], ids=["load-data", "insert"])
def test_a_newer_push_updates_lines_in_place_keeping_the_oms_own_columns(dbs, factory, load_data):
    """The OMS may keep its own columns on trades and lines; a newer push must not reset them."""
    dbs.execute("ALTER TABLE oms_trade ADD COLUMN picked_by VARCHAR(16) NULL",
                "ALTER TABLE oms_order ADD COLUMN bin VARCHAR(16) NULL")
    trade = factory.trade(T0)
    while len(trade.lines) < 2:
        trade = factory.trade(T0)
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)])
    run_job(dbs.job(load_data=load_data))
    dbs.execute("UPDATE oms_trade SET picked_by = 'li'", "UPDATE oms_order SET bin = 'A-7'")
    later = T0 + timedelta(minutes=5)
    dbs.push([factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", later, later, trade.lines[:1])])
    run_job(dbs.job(load_data=load_data))
    retranslate_job(dbs.job(load_data=load_data), T0, T0 + timedelta(days=1))
    assert dbs.query("SELECT status, picked_by FROM oms_trade") == [("WAIT_BUYER_CONFIRM_GOODS", "li")]
    assert dbs.query("SELECT oid, oms_status, bin FROM oms_order") == [(trade.lines[0]["oid"], "SHIPPED", "A-7")]


def test_ids_money_emoji_and_ciphertext_arrive_exactly(dbs, factory):
    trade = factory.trade(T0)
    row = factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)
    document = orjson.loads(row["jdp_response"])
    inner = document["trade_fullinfo_get_response"]["trade"]
    inner.update(
        tid=2106089115686783163,
        tid_str="2106089115686783163",
        buyer_message="请尽快发货🙏😀",
        receiver_name="~AhZ5YnNxNDRrZjk=~1~~",
        receiver_mobile="$138$U2FsdGVkX1+abc==$1$$",
        payment="200.07",
    )
    for order in inner["orders"]["order"]:
        if order["oid"] == trade.tid:
            order["oid"] = order["oid_str"] = None
            order["oid_str"] = "2106089115686783163"
    row.update(tid=2106089115686783163, jdp_response=orjson.dumps(document).decode())
    dbs.push([row])
    run_job(dbs.job())
    assert dbs.select("oms_trade", "tid, buyer_message, receiver_name, receiver_mobile, payment") == [(2106089115686783163, "请尽快发货🙏😀", "~AhZ5YnNxNDRrZjk=~1~~", "$138$U2FsdGVkX1+abc==$1$$", Decimal("200.07"))]
    tids = {tid for (tid,) in dbs.query("SELECT tid FROM oms_order")}
    assert tids == {2106089115686783163}


def test_a_fraction_of_a_cent_rejects_the_push_on_every_target(dbs, factory):
    # MySQL would round 10.005 to 10.01 and SQLite would keep 10.005: the push is quarantined instead.
    trade = factory.trade(T0)
    row = factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)
    document = orjson.loads(row["jdp_response"])
    document["trade_fullinfo_get_response"]["trade"]["post_fee"] = "10.005"
    dbs.push([{**row, "jdp_response": orjson.dumps(document).decode()}])
    assert run_job(dbs.job()).counts.rejects == 1
    [(error,)] = dbs.query("SELECT error FROM etl_reject")
    assert error == "trade.post_fee = '10.005' has more than 2 decimal places, which its column would round away"
    assert trade_ids(dbs) == []


def test_a_bad_push_is_rejected_and_resolved_when_it_translates(dbs, factory):
    good, bad = factory.trade(T0), factory.trade(T0)
    bad_row = factory.row(bad, "WAIT_SELLER_SEND_GOODS", T0, T0)
    dbs.push([factory.row(good, "WAIT_SELLER_SEND_GOODS", T0, T0), {**bad_row, "jdp_response": "{not json"}])
    result = run_job(dbs.job())
    assert (result.counts.pushes_written, result.counts.rejects) == (1, 1)
    [(tid, error, resolved)] = dbs.query("SELECT tid, error, resolved_at FROM etl_reject")
    assert tid == bad.tid and "not valid JSON" in error and resolved is None
    # The watermark passed the bad push: it is quarantined, not lost.
    assert dbs.query("SELECT tid FROM etl_watermark") == [(max(good.tid, bad.tid),)]
    # Seen again: still one open reject, its first_seen kept.
    run_job(dbs.job())
    assert len(dbs.query("SELECT reject_id FROM etl_reject")) == 1
    later = T0 + timedelta(minutes=1)
    dbs.push([factory.row(bad, "WAIT_SELLER_SEND_GOODS", later, later)])
    run_job(dbs.job())
    [(resolved,)] = dbs.query("SELECT resolved_at FROM etl_reject")
    assert resolved is not None
    assert bad.tid in trade_ids(dbs)


@pytest.mark.parametrize(
    "document, reason",
    [
        ('{"error_response":{"code":27,"msg":"Invalid session"}}', "error response"),
        ("", "empty"),
        ('{"trade_fullinfo_get_response":{}}', "no trade_fullinfo_get_response.trade"),
        ('[1,2]', "not an object"),
    ],
    ids=["error_response", "empty", "no-trade", "array"],
)
def test_untranslatable_pushes_name_their_reason(dbs, factory, document, reason):
    trade = factory.trade(T0)
    dbs.push([{**factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0), "jdp_response": document}])
    run_job(dbs.job())
    [(error,)] = dbs.query("SELECT error FROM etl_reject")
    assert reason in error


def test_a_json_tid_that_disagrees_with_the_row_is_rejected(dbs, factory):
    trade, other = factory.trade(T0), factory.trade(T0)
    row = factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)
    dbs.push([{**row, "tid": other.tid}])
    run_job(dbs.job())
    [(tid, error)] = dbs.query("SELECT tid, error FROM etl_reject")
    assert tid == other.tid and "differs" in error
    assert trade_ids(dbs) == []


def test_retranslate_rewrites_the_window_and_keeps_the_watermark(dbs, factory):
    rows = rows_at(factory, 5, T0, per_second=1)
    dbs.push(rows)
    run_job(dbs.job())
    watermark = dbs.select("etl_watermark", "jdp_modified, tid")
    result = retranslate_job(dbs.job(), T0 + timedelta(seconds=1), T0 + timedelta(seconds=3))
    assert (result.counts.rows_read, result.counts.pushes_written) == (2, 2)
    assert dbs.select("etl_watermark", "jdp_modified, tid") == watermark
    assert dbs.query("SELECT mode, rows_read, outcome FROM etl_run ORDER BY run_id") == [
        ("run", 5, "ok"),
        ("retranslate", 2, "ok"),
    ]


def test_a_plain_rerun_skips_what_the_target_already_holds(dbs, factory):
    dbs.push([factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(10)])
    run_job(dbs.job())
    again = run_job(dbs.job())
    assert (again.counts.rows_read, again.counts.pushes_written) == (10, 0)


def test_sellers_filter_the_source(dbs):
    factory = PushFactory(seed=3, sellers=("店A", "店B"))
    rows = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(20)]
    dbs.push(rows)
    run_job(dbs.job(sellers=["店A"]))
    assert trade_ids(dbs) == sorted(row["tid"] for row in rows if row["seller_nick"] == "店A")


def test_a_row_the_target_cannot_hold_is_rejected_alone(dbs, factory):
    rows = rows_at(factory, 9, T0, per_second=1)
    document = orjson.loads(rows[4]["jdp_response"])
    document["trade_fullinfo_get_response"]["trade"]["orders"]["order"][0]["title"] = "长" * 300
    rows[4]["jdp_response"] = orjson.dumps(document).decode()
    dbs.push(rows)
    result = run_job(dbs.job(batch_size=100))
    # MySQL's strict mode refuses the title; SQLite would keep it, so the job refuses it there itself.
    assert (result.counts.pushes_written, result.counts.rejects) == (8, 1)
    [(tid, error)] = dbs.query("SELECT tid, error FROM etl_reject")
    assert tid == rows[4]["tid"] and "title" in error


def test_a_row_without_jdp_modified_is_rejected_not_lost(dbs, factory):
    trade = factory.trade(T0)
    dbs.push([{**factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0), "jdp_modified": None}])
    run_job(dbs.job())
    [(tid, error)] = dbs.query("SELECT tid, error FROM etl_reject")
    assert tid == trade.tid and "jdp_modified is NULL" in error


def test_a_catch_up_run_skips_rows_already_written_before_parsing_them(dbs, factory):
    rows = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, T0) for _ in range(5)]
    dbs.push(rows)
    run_job(dbs.job())
    # The same jdp_modified and jdp_hashcode: the push the target holds, as the platform says. A run does
    # not even parse it again.
    dbs.push([{**rows[0], "jdp_response": "{garbage"}])
    again = run_job(dbs.job())
    assert (again.counts.rows_read, again.counts.pushes_written, again.counts.rejects) == (5, 0, 0)
    # A retranslate re-reads everything it is asked to: that is what it is for.
    redo = retranslate_job(dbs.job(), T0, T0 + timedelta(seconds=1))
    assert (redo.counts.pushes_written, redo.counts.rejects) == (4, 1)


def test_a_source_clock_with_fractions_is_kept_to_the_second(dbs, factory, tmp_path):
    # A landing table's modified column may carry fractions (DATETIME(6)); the target's columns keep
    # whole seconds. The job floors them itself, so that a re-read is the same push on any server,
    # whichever way it would round: a catch-up skips it, verify finds it current, a retranslate writes it.
    if dbs.source_backend == "mysql":
        engine = sa.create_engine(dbs.source_url)
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE jdp_tb_trade MODIFY jdp_modified DATETIME(6)")
        engine.dispose()
    stamps = [T0 + timedelta(microseconds=700_000), T0 + timedelta(seconds=1, microseconds=200_000)]
    dbs.push([factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, stamp) for stamp in stamps])
    assert run_job(dbs.job()).counts.pushes_written == 2
    again = run_job(dbs.job())
    assert (again.counts.rows_read, again.counts.pushes_written) == (2, 0)
    assert dbs.select("oms_trade", "jdp_modified", "jdp_modified") == [(T0,), (T0 + timedelta(seconds=1),)]
    assert dbs.select("etl_watermark", "jdp_modified") == [(T0 + timedelta(seconds=1),)]
    assert retranslate_job(dbs.job(), T0, T0 + timedelta(minutes=1)).counts.pushes_written == 2
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    code, _, err = etl("--config", config, "verify", "tb", "--since", "2026-11-11", "--until", "2026-11-12")
    assert code == 0 and "holds every push" in err


def test_batch_memory_is_given_back_after_the_run():
    # A run raises the cycle collector's threshold and keeps freed memory (glibc); an embedding
    # process gets its own settings back when the run ends, also when it fails.
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), batch_memory():
        assert gc.get_threshold()[0] >= 20_000
        raise RuntimeError("a failing run")
    assert gc.get_threshold() == before
