"""The run semantics, once per kind of source (tb_trade, tb_refund, alibaba_order), on SQLite and MySQL.

Each kind is described by a small `Case`: its source table and job keys, and how to make
the source row of version n of one document. The tests are the same for every kind: the
engine has no kind-specific branch, and these prove it keeps its promises for each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from alibaba_orders import AlibabaOrderFactory

from etl.pipeline import retranslate_job, run_job
from etl.synth import PushFactory, RefundFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)


@dataclass(frozen=True)
class Case:
    kind: str
    table: str  # the source table
    settings: dict[str, Any]  # job keys beyond source and target
    parent: str  # the target table with one row per key
    key: str  # its key column
    statuses: tuple[str, ...]  # raw status of version 0, 1, 2, ...
    factory: Callable[[int], Any]
    new: Callable[[Any, datetime], Any]  # (factory, created) -> one document's content
    key_of: Callable[[Any], int]
    row: Callable[[Any, Any, str, datetime, datetime], dict]  # (factory, content, status, modified, jdp_modified)

    def push(self, dbs, factory, content, version: int, jdp_modified: datetime) -> dict:
        """Version `version` of `content` (modified `version` hours after T0) into the source."""
        row = self.row(factory, content, self.statuses[version], T0 + timedelta(hours=version), jdp_modified)
        dbs.push([row], self.table)
        return row

    def job(self, dbs, **settings: Any):
        return dbs.job(self.kind, kind=self.kind, **self.settings, **settings)

    def keys(self, dbs) -> list[int]:
        return [row[0] for row in dbs.query(f"SELECT {self.key} FROM {self.parent} ORDER BY {self.key}")]

    def status(self, dbs, key: int) -> str:
        return dbs.query(f"SELECT status FROM {self.parent} WHERE {self.key} = :key", key=key)[0][0]


CASES = [
    Case("tb_trade", "jdp_tb_trade", {}, "oms_trade", "tid",
         ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS", "TRADE_FINISHED"),
         PushFactory, lambda f, created: f.trade(created), lambda trade: trade.tid,
         lambda f, trade, status, modified, jdp: f.row(trade, status, modified, jdp)),
    Case("tb_refund", "jdp_tb_refund", {}, "oms_refund", "refund_id",
         ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "SUCCESS"),
         RefundFactory, lambda f, created: f.refund(created), lambda refund: refund.refund_id,
         lambda f, refund, status, modified, jdp: f.row(refund, status, modified, jdp)),
    # A lander's own table: a text key and columns named its way.
    Case("alibaba_order", "alibaba_order_landing",
         {"table": "alibaba_order_landing", "key_column": "order_id", "modified_column": "landed_at",
          "json_column": "body"},
         "oms_trade", "tid", ("waitsellersend", "waitbuyerreceive", "success"),
         AlibabaOrderFactory, lambda f, created: f.order(created), lambda order: order.tid,
         lambda f, order, status, modified, jdp: f.row(order, status, modified, jdp)),
]


@pytest.fixture(params=CASES, ids=[case.kind for case in CASES])
def case(request) -> Case:
    return request.param


def test_rows_sharing_one_second_survive_batch_boundaries(dbs, case):
    factory = case.factory(3)
    contents = [case.new(factory, T0) for _ in range(23)]
    for content in contents:
        case.push(dbs, factory, content, 0, T0)
    result = run_job(case.job(dbs, batch_size=4))
    assert result.counts.rows_read == 23
    assert case.keys(dbs) == sorted(case.key_of(content) for content in contents)
    # The watermark is the last row in the source's keyset order: a text key sorts as text.
    keys = [case.key_of(content) for content in contents]
    if case.settings.get("key_column") == "order_id":
        assert dbs.select("etl_watermark", "tid, key_text") == [(0, max(map(str, keys)))]
    else:
        assert dbs.select("etl_watermark", "tid, key_text") == [(max(keys), None)]
    # Nothing left behind: a second run reads only its lookback and writes nothing.
    again = run_job(case.job(dbs, batch_size=4))
    assert (again.counts.pushes_written, again.counts.rejects) == (0, 0)


@pytest.mark.parametrize("lookback, caught", [(300, True), (0, False)], ids=["lookback-300", "lookback-0"])
def test_a_late_commit_is_caught_within_lookback_only(dbs, case, lookback, caught):
    factory = case.factory(5)
    first, late = case.new(factory, T0), case.new(factory, T0)
    case.push(dbs, factory, first, 0, T0 + timedelta(seconds=100))
    run_job(case.job(dbs, lookback_seconds=lookback))
    case.push(dbs, factory, late, 0, T0 + timedelta(seconds=40))  # committed behind the watermark
    run_job(case.job(dbs, lookback_seconds=lookback))
    expected = [case.key_of(first), case.key_of(late)] if caught else [case.key_of(first)]
    assert case.keys(dbs) == sorted(expected)
    assert dbs.select("etl_watermark", "jdp_modified") == [(T0 + timedelta(seconds=100),)]


def test_an_older_version_never_overwrites_a_newer_one(dbs, case):
    factory = case.factory(7)
    content = case.new(factory, T0)
    case.push(dbs, factory, content, 2, T0 + timedelta(hours=2))
    run_job(case.job(dbs))
    # An out-of-order push: an older version, stamped later by the platform.
    case.push(dbs, factory, content, 1, T0 + timedelta(hours=3))
    run_job(case.job(dbs))
    retranslate_job(case.job(dbs), T0, T0 + timedelta(days=1))
    assert case.status(dbs, case.key_of(content)) == case.statuses[2]


def test_a_newer_version_replaces_the_older(dbs, case):
    factory = case.factory(8)
    content = case.new(factory, T0)
    case.push(dbs, factory, content, 0, T0)
    run_job(case.job(dbs))
    case.push(dbs, factory, content, 1, T0 + timedelta(hours=1))
    result = run_job(case.job(dbs))
    assert result.counts.pushes_written == 1
    assert case.status(dbs, case.key_of(content)) == case.statuses[1]


def test_a_bad_push_is_rejected_then_resolved_when_it_translates(dbs, case):
    factory = case.factory(9)
    good, bad = case.new(factory, T0), case.new(factory, T0)
    case.push(dbs, factory, good, 0, T0)
    broken = case.row(factory, bad, case.statuses[0], T0, T0)
    column = case.settings.get("json_column", "jdp_response")
    broken[column] = '{"half a document": '
    dbs.push([broken], case.table)
    result = run_job(case.job(dbs))
    assert (result.counts.pushes_written, result.counts.rejects) == (1, 1)
    assert case.keys(dbs) == [case.key_of(good)]
    (reason,) = dbs.query("SELECT error FROM etl_reject WHERE resolved_at IS NULL")[0]
    assert reason.startswith(f"{column} is not valid JSON")  # the column as the job's table names it
    # The watermark passed it (quarantined, not lost); fixed in the source, it translates.
    case.push(dbs, factory, bad, 1, T0 + timedelta(seconds=1))
    run_job(case.job(dbs))
    assert case.keys(dbs) == sorted([case.key_of(good), case.key_of(bad)])
    assert dbs.query("SELECT COUNT(*) FROM etl_reject WHERE resolved_at IS NULL") == [(0,)]


def test_retranslate_rewrites_equal_versions_and_keeps_the_watermark(dbs, case):
    factory = case.factory(10)
    contents = [case.new(factory, T0) for _ in range(3)]
    for content in contents:
        case.push(dbs, factory, content, 0, T0)
    run_job(case.job(dbs))
    watermark = dbs.query("SELECT jdp_modified, tid, key_text FROM etl_watermark")
    result = retranslate_job(case.job(dbs), T0, T0 + timedelta(seconds=1))
    assert result.counts.pushes_written == 3
    assert dbs.query("SELECT jdp_modified, tid, key_text FROM etl_watermark") == watermark
