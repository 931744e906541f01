"""A push's version is its jdp_modified and its content: two pushes of one trade within one second.

Jushita's clock has whole seconds and it updates a row in place, so a trade created and paid within
one second is pushed twice with one jdp_modified: the second push must be written, and a push the
target holds with the same content must still be skipped. The content is the source's jdp_hashcode,
or the job's own hash of the document for a table without one (a landing table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import OMS_TABLES, etl, paused_mid_window, rows_at, spawn

from etl.pipeline import retranslate_job, run_job
from etl.shard import Shard
from etl.sink import Held, already_written, newer
from etl.translate.push import Push, document_hash
from etl.synth import PushFactory, RefundFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)
X = T0 + timedelta(hours=1)  # the one second both pushes carry


@dataclass(frozen=True)
class Source:
    """A kind of document in a table of one shape: Jushita's (with jdp_hashcode) or a landing table without it."""

    name: str
    kind: str
    table: str
    parent: str
    key: str
    statuses: tuple[str, ...]  # a document's raw status in successive pushes
    factory: Callable[[int], Any]
    new: Callable[[Any], Any]  # factory -> a new document's content
    row: Callable[[Any, Any, str, datetime, datetime], dict]  # (factory, content, status, modified, jdp_modified)
    key_of: Callable[[Any], int]
    landing: str | None = None  # DDL of a landing table without a hash column

    def push(self, dbs, factory, content, status: str, modified: datetime, jdp_modified: datetime) -> dict:
        row = self.row(factory, content, status, modified, jdp_modified)
        if self.landing is not None:
            row = {name: row[name] for name in (self.key, "seller_nick", "jdp_modified", "jdp_response")}
        dbs.push([row], self.table)
        return row

    def job(self, dbs, **settings: Any):
        return dbs.job(self.name, kind=self.kind, table=self.table, **settings)

    def prepare(self, dbs) -> None:
        if self.landing is not None:
            engine = sa.create_engine(dbs.source_url)
            with engine.begin() as connection:
                connection.exec_driver_sql(self.landing)
            engine.dispose()

    def statuses_held(self, dbs) -> list[tuple]:
        return dbs.query(f"SELECT {self.key}, status FROM {self.parent} ORDER BY {self.key}")


_TRADES = dict(kind="tb_trade", parent="oms_trade", key="tid",
               statuses=("WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS", "TRADE_CLOSED_BY_TAOBAO"),
               factory=PushFactory, new=lambda factory: factory.trade(T0),
               row=lambda factory, trade, status, modified, jdp: factory.row(trade, status, modified, jdp),
               key_of=lambda trade: trade.tid)
_REFUNDS = dict(kind="tb_refund", parent="oms_refund", key="refund_id",
                statuses=("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "CLOSED"),
                factory=RefundFactory, new=lambda factory: factory.refund(T0),
                # refund_version stays: within one second the platform's own version does not order them either.
                row=lambda factory, refund, status, modified, jdp: factory.row(refund, status, modified, jdp, version=1),
                key_of=lambda refund: refund.refund_id)
SOURCES = [
    Source("trades", table="jdp_tb_trade", **_TRADES),
    Source("refunds", table="jdp_tb_refund", **_REFUNDS),
    Source("trade_landing", table="trade_landing", **_TRADES,
           landing="CREATE TABLE trade_landing (tid BIGINT NOT NULL PRIMARY KEY, seller_nick VARCHAR(64), "
                   "jdp_modified DATETIME, jdp_response MEDIUMTEXT)"),
    Source("refund_landing", table="refund_landing", **_REFUNDS,
           landing="CREATE TABLE refund_landing (refund_id BIGINT NOT NULL PRIMARY KEY, seller_nick VARCHAR(64), "
                   "jdp_modified DATETIME, jdp_response MEDIUMTEXT)"),
]


@pytest.fixture(params=SOURCES, ids=[source.name for source in SOURCES])
def source(request, dbs) -> Source:
    request.param.prepare(dbs)
    return request.param


# --- pure -------------------------------------------------------------------------------------------


def _held(modified: datetime, jdp_modified: datetime, content: str | None) -> Held:
    return Held(((1, modified), (1, jdp_modified)), content)


@pytest.mark.parametrize(
    "incoming, content, held, expected",
    [
        ((T0, X), "b", _held(T0, X, "a"), True),  # the same second, another content: the row's newest state
        ((T0, X), "a", _held(T0, X, "a"), None),  # the push the target holds
        ((T0, X), "a", _held(T0, X, None), True),  # a row written before content was kept: unknown
        # Even an older `modified`: within one second the source row read now is the newest.
        ((T0 - timedelta(hours=1), X), "b", _held(T0, X, "a"), True),
        ((T0, X + timedelta(seconds=1)), "a", _held(T0, X, "a"), True),  # another second: newer wins as before
        ((T0 - timedelta(hours=1), X + timedelta(seconds=1)), "b", _held(T0, X, "a"), False),
        ((T0, X - timedelta(seconds=1)), "b", _held(T0, X, "a"), False),
    ],
    ids=["same-second-changed", "same-push", "unknown-content", "same-second-older-modified", "later-second",
         "later-second-older-modified", "earlier-second"],
)
def test_a_version_is_the_second_and_the_content(incoming, content, held, expected):
    version = tuple((1, value) for value in incoming)
    assert newer(version, content, held) is expected


def test_already_written_needs_the_same_second_and_the_same_content():
    pushes = [Push.of(1, X, b"{}", "a"), Push.of(2, X, b"{}", "b"), Push.of(3, X + timedelta(seconds=1), b"{}", "c"),
              Push.of(4, X, b"{}", "d"), Push.of(5, X, b"{}", "e")]
    held = {1: _held(T0, X, "a"), 2: _held(T0, X, "a"), 3: _held(T0, X, "c"), 4: _held(T0, X, None)}
    assert already_written(pushes, held) == {1}


def test_a_push_without_a_hash_gets_the_hash_of_its_bytes():
    assert Push.of(1, X, b'{"a": 1}').content == document_hash(b'{"a": 1}') != document_hash(b'{"a":1}')
    assert len(document_hash(b"{}")) == 32
    # The source's own hash wins, as text whatever the session handed over.
    assert Push.of(1, X, b"{}", b"-1234567").content == "-1234567"
    assert Push.of(1, X, b"{}", 1234567).content == "1234567"
    assert Push.of(1, None, None).content is None


# --- on the databases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("modified", ["same", "later"])
def test_a_second_push_within_one_second_is_written(dbs, source, modified):
    factory = source.factory(1)
    content, other = source.new(factory), source.new(factory)
    first, paid = source.statuses[:2]
    source.push(dbs, factory, content, first, T0, X)
    source.push(dbs, factory, other, first, T0, X)
    assert run_job(source.job(dbs)).counts.pushes_written == 2
    # Within the same second the platform pushes it again: paid, a new document, the same jdp_modified.
    source.push(dbs, factory, content, paid, T0 if modified == "same" else T0 + timedelta(seconds=1), X)
    result = run_job(source.job(dbs))
    assert (result.counts.rows_read, result.counts.pushes_written) == (2, 1)
    assert source.statuses_held(dbs) == sorted([(source.key_of(content), paid), (source.key_of(other), first)])
    # Written once: the next run finds the target holding that content, and skips it.
    assert run_job(source.job(dbs)).counts.pushes_written == 0


def test_a_byte_identical_push_is_skipped(dbs, source):
    factory = source.factory(2)
    content = source.new(factory)
    row = source.push(dbs, factory, content, source.statuses[0], T0, X)
    run_job(source.job(dbs))
    dbs.push([row], source.table)  # pushed again as it was
    again = run_job(source.job(dbs))
    assert (again.counts.rows_read, again.counts.pushes_written) == (1, 0)
    assert dbs.query("SELECT pushes_written FROM etl_run ORDER BY run_id") == [(1,), (0,)]
    held = dbs.query(f"SELECT content_hash FROM {source.parent}")
    assert held == [(row.get("jdp_hashcode") or document_hash(row["jdp_response"].encode()),)]


def test_without_a_lookback_a_run_reads_the_watermarks_second_again(dbs, source):
    factory = source.factory(3)
    contents = [source.new(factory) for _ in range(3)]
    for content in contents:
        source.push(dbs, factory, content, source.statuses[0], T0, X)
    run_job(source.job(dbs, lookback_seconds=0))
    # The run passed every row of the second X; one of them changes within it.
    source.push(dbs, factory, contents[0], source.statuses[1], T0, X)
    result = run_job(source.job(dbs, lookback_seconds=0))
    assert (result.counts.rows_read, result.counts.pushes_written) == (3, 1)
    assert dict(source.statuses_held(dbs))[source.key_of(contents[0])] == source.statuses[1]


def test_verify_sees_a_push_changed_within_its_second_until_it_is_written(dbs, source, tmp_path):
    factory = source.factory(4)
    content = source.new(factory)
    source.push(dbs, factory, content, source.statuses[0], T0, X)
    run_job(source.job(dbs))
    source.push(dbs, factory, content, source.statuses[1], T0, X)
    config = str(dbs.config_file(tmp_path, {source.name: {"kind": source.kind, "table": source.table}}))
    window = ["--since", "2026-11-11", "--until", "2026-11-12"]
    code, out, _ = etl("--config", config, "verify", source.name, *window)
    assert code == 1 and f"stale: {source.key_of(content)}" in out
    run_job(source.job(dbs))
    code, _, err = etl("--config", config, "verify", source.name, *window)
    assert code == 0, err


def test_rows_written_before_the_content_was_kept_are_written_once_more(dbs):
    factory = PushFactory(seed=5)
    rows = rows_at(factory, 4, X, per_second=4)
    dbs.push(rows)
    run_job(dbs.job())
    dbs.execute("UPDATE oms_trade SET content_hash = NULL")  # as an older version of the job left them
    # Unknown content equals no push: the lookback writes them again, once, with their hash.
    assert run_job(dbs.job()).counts.pushes_written == 4
    assert run_job(dbs.job()).counts.pushes_written == 0
    assert sorted(dbs.query("SELECT content_hash FROM oms_trade")) == sorted((row["jdp_hashcode"],) for row in rows)


def test_a_named_hash_column_is_used_and_must_exist(dbs):
    engine = sa.create_engine(dbs.source_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE landing (tid BIGINT NOT NULL PRIMARY KEY, jdp_modified DATETIME, "
                                   "jdp_response MEDIUMTEXT, body_md5 VARCHAR(32))")
    engine.dispose()
    factory = PushFactory(seed=6)
    trade = factory.trade(T0)
    row = factory.row(trade, "WAIT_BUYER_PAY", T0, X)
    dbs.push([{"tid": trade.tid, "jdp_modified": X, "jdp_response": row["jdp_response"], "body_md5": "v1"}],
             "landing")
    run_job(dbs.job(table="landing", hash_column="body_md5"))
    assert dbs.query("SELECT content_hash FROM oms_trade") == [("v1",)]
    with pytest.raises(Exception, match="lacks the column.*md5"):
        run_job(dbs.job(table="landing", hash_column="md5"))


@pytest.mark.parametrize("shards", [1, 2], ids=["workers", "shards"])
def test_workers_and_shards_write_a_push_changed_within_its_second(mysql_dbs, shards):
    factory = PushFactory(seed=7)
    trades = [factory.trade(T0) for _ in range(60)]
    mysql_dbs.push([factory.row(trade, "WAIT_BUYER_PAY", T0, X) for trade in trades])

    def run() -> int:
        return sum(run_job(mysql_dbs.job(workers=2, batch_size=7), shard=Shard(index, shards)).counts.pushes_written
                   for index in range(shards))

    assert run() == 60
    mysql_dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X) for trade in trades[::5]])
    assert run() == 12
    assert mysql_dbs.query("SELECT COUNT(*) FROM oms_trade WHERE status = 'WAIT_SELLER_SEND_GOODS'") == [(12,)]


@pytest.mark.parametrize("lookback", [0, 300], ids=["lookback-0", "lookback-300"])
def test_a_run_killed_between_the_two_versions_converges(dbs, tmp_path, lookback):
    factory = PushFactory(seed=8)
    trades = [factory.trade(T0) for _ in range(2000)]
    # One busy second: the run is killed while it writes it, and a trade it wrote is pushed again within it.
    dbs.push([factory.row(trade, "WAIT_BUYER_PAY", T0, X) for trade in trades])
    settings = {"batch_size": 25, "lookback_seconds": lookback}
    config = dbs.config_file(tmp_path, {"tb": settings})
    process = spawn(config, "run")
    with paused_mid_window(process, dbs.target_url, 1, len(trades)):  # stopped there, killed mid-window
        process.kill()
    process.wait()
    written = [tid for (tid,) in dbs.query("SELECT tid FROM oms_trade")]
    paid = [trade for trade in trades if trade.tid in set(written)][:5]
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X) for trade in paid])
    code, _, err = etl("--config", str(config), "run")
    assert code == 0, err
    assert dbs.query("SELECT COUNT(*) FROM oms_trade WHERE status = 'WAIT_SELLER_SEND_GOODS'") == [(len(paid),)]
    clean = dbs.other()
    (tmp_path / "clean").mkdir()
    assert etl("--config", str(clean.config_file(tmp_path / "clean", {"tb": settings})), "run")[0] == 0
    for table, order in OMS_TABLES:
        assert dbs.dump(table, order) == clean.dump(table, order), table


# --- any interleaving of pushes and runs within one second ---------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 2), st.integers(0, 2)),  # (trade, status)
        st.tuples(st.just("run"), st.sampled_from([0, 300])),  # a run with this lookback
        st.tuples(st.just("retranslate")),
    ),
    max_size=12,
)


def _interleave(dbs, source: Source, factory, contents, steps) -> None:
    dbs.execute(f"DELETE FROM {source.parent}", "DELETE FROM etl_watermark", "DELETE FROM etl_run",
                "DELETE FROM etl_reject", *(["DELETE FROM oms_order", "DELETE FROM oms_promotion"]
                                            if source.parent == "oms_trade" else []))
    engine = sa.create_engine(dbs.source_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM {source.table}")
    engine.dispose()
    last: dict[int, str] = {}  # key -> the status the source holds now
    for step in steps:
        if step[0] == "push":
            _, index, status = step
            source.push(dbs, factory, contents[index], source.statuses[status], T0, X)
            last[source.key_of(contents[index])] = source.statuses[status]
        elif step[0] == "run":
            run_job(source.job(dbs, lookback_seconds=step[1], batch_size=2))
        else:
            retranslate_job(source.job(dbs, batch_size=2), X, X + timedelta(seconds=1))
    run_job(source.job(dbs, lookback_seconds=0, batch_size=2))
    assert source.statuses_held(dbs) == sorted(last.items())


def test_any_interleaving_within_one_second_ends_with_the_sources_last_version(dbs, source):
    factory = source.factory(9)
    contents = [source.new(factory) for _ in range(3)]

    @settings(max_examples={"sqlite": 25, "mysql": 12}.get(dbs.backend, 6), deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(operations)
    def check(steps):
        _interleave(dbs, source, factory, contents, steps)

    check()
