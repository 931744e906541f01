"""A refund in progress holds its line from shipping, whichever of the trade and refund pushes is newer."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from etl.pipeline import retranslate_job, run_job
from etl.synth import PushFactory, RefundFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def shop(dbs):
    """One paid trade of one line, and the jobs of both kinds on one source and one target."""
    trades, refunds = PushFactory(seed=21), RefundFactory(seed=22)
    trade = trades.trade(T0)
    line = trade.lines[0]

    class Shop:
        oid = line["oid"]
        refund = refunds.refund(at(5), tid=trade.tid, oid=line["oid"])

        def push_trade(self, status: str, minute: int, refund_status: str = "NO_REFUND") -> None:
            lines = [{**line, "refund_status": refund_status}]
            dbs.push([trades.row(trade, status, at(minute), at(minute), lines)])

        def push_refund(self, status: str, minute: int) -> None:
            dbs.push([refunds.row(self.refund, status, at(minute), at(minute))], "jdp_tb_refund")

        def sync_trades(self) -> None:
            run_job(dbs.job("trades"))

        def sync_refunds(self) -> None:
            run_job(dbs.job("refunds", kind="tb_refund"))

        def sync(self) -> None:
            self.sync_trades()
            self.sync_refunds()

        def line_status(self) -> str:
            return dbs.query("SELECT oms_status FROM oms_order WHERE oid = :oid", oid=self.oid)[0][0]

    return Shop()


def test_a_refund_newer_than_the_trade_holds_the_line(shop):
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 0)
    shop.sync()
    assert shop.line_status() == "TO_SHIP"
    shop.push_refund("WAIT_SELLER_AGREE", 10)
    shop.sync()
    assert shop.line_status() == "REFUNDING"
    shop.push_refund("WAIT_BUYER_RETURN_GOODS", 20)
    shop.sync()
    assert shop.line_status() == "REFUNDING"


def test_a_closed_or_refused_refund_releases_the_line_and_a_successful_one_marks_it_refunded(shop):
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 0)
    shop.push_refund("WAIT_SELLER_AGREE", 10)
    shop.sync()
    shop.push_refund("SELLER_REFUSE_BUYER", 20)
    shop.sync()
    assert shop.line_status() == "TO_SHIP"
    shop.push_refund("SUCCESS", 30)
    shop.sync()
    assert shop.line_status() == "REFUNDED"


def test_a_refund_that_arrives_before_its_trade_holds_the_line_when_the_trade_comes(shop):
    shop.push_refund("WAIT_SELLER_AGREE", 10)
    shop.sync_refunds()
    # The trade push that reaches the OMS is older than the refund, and does not know of it.
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 0)
    shop.sync_trades()
    assert shop.line_status() == "REFUNDING"


def test_a_trade_push_newer_than_the_refund_is_the_word_on_the_line(shop):
    shop.push_refund("WAIT_SELLER_AGREE", 10)
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 0)
    shop.sync()
    assert shop.line_status() == "REFUNDING"
    # The platform closed the refund; the trade push says so before the refund push does.
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 30, refund_status="CLOSED")
    shop.sync_trades()
    assert shop.line_status() == "TO_SHIP"


def test_retranslating_either_kind_keeps_the_hold(dbs, shop):
    shop.push_trade("WAIT_SELLER_SEND_GOODS", 0)
    shop.push_refund("WAIT_SELLER_AGREE", 10)
    shop.sync()
    retranslate_job(dbs.job("trades"), T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert shop.line_status() == "REFUNDING"
    retranslate_job(dbs.job("refunds", kind="tb_refund"), T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert shop.line_status() == "REFUNDING"
