"""What a run reads: the documents of only the pushes the target lacks or holds at another version, and a
seller list through each seller's own index.

A cron tick re-reads its lookback window every minute; the pushes the target holds unchanged there are
told by their marks (key, jdp_modified, jdp_hashcode) and never fetched. A push table shared by several
sellers is read seller by seller, so that a job of two sellers does not read the others' rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from support import OMS_TABLES, snapshot

from etl.config import JobConfig
from etl.pipeline import run_job
from etl.pipeline.context import open_run
from etl.pipeline.plan import run_plan
from etl.pipeline.reading import Batch, _covered, window_batches
from etl.shard import Shard
from etl.synth import PushFactory
from etl.translate.push import Push
from etl.watermark import load_watermark
from etl.window import Position

T0 = datetime(2026, 11, 11, 10, 0, 0)
X = T0 + timedelta(hours=1)


def read_batches(job: JobConfig) -> list[Batch]:
    """The batches a run of `job` would read now (nothing written)."""
    with open_run(job) as context:
        plan = run_plan(job)
        with context.target_engine.connect() as connection:
            watermark = load_watermark(connection, context.sink.tables["etl_watermark"], job.name)
        window = plan.window(watermark, context.source.newest)
        return list(window_batches(context, plan, window, lambda: None))


# --- pure ---------------------------------------------------------------------------------------------


def _mark(key: int, second: int) -> Push:
    return Push.of(key, X + timedelta(seconds=second), None, f"h{key}")


def test_a_document_read_cut_by_its_byte_bound_covers_the_marks_up_to_the_first_it_did_not_reach():
    marks = [_mark(key, 0) for key in (1, 2, 3, 4, 5)]
    todo = {1, 2, 4, 5}
    # Read up to key 2; 4 and 5 not reached: the batch covers 1, 2 and 3 (3 was held, not to read).
    assert _covered(marks, todo, [marks[0], marks[1]]) == 3
    # Key 1 was pushed again meanwhile (a later second): the read finds it after 2, and stops there.
    moved = Push.of(1, X + timedelta(seconds=9), b"{}", "h1'")
    assert _covered(marks, todo, [marks[1], marks[3], moved]) == 5
    # Key 2 is gone from the source: not found before the last read, it is covered.
    assert _covered(marks, todo, [marks[0], marks[3]]) == 4


# --- on the databases ---------------------------------------------------------------------------------


def test_a_lookback_reads_only_the_documents_of_pushes_the_target_lacks_or_holds_at_another_version(dbs):
    factory = PushFactory(seed=61)
    trades = [factory.trade(T0) for _ in range(30)]
    rows = {trade.tid: factory.row(trade, "WAIT_BUYER_PAY", T0, X) for trade in trades}
    dbs.push(list(rows.values()))
    job = dbs.job()
    run_job(job)
    same_second = [factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X) for trade in trades[:3]]
    later = [factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X + timedelta(seconds=1)) for trade in trades[3:5]]
    # A trade pushed again as it was; one pushed again without its last line (which must go).
    trade = next(trade for trade in trades[5:] if len(trade.lines) > 1)
    identical = next(other for other in trades[5:] if other is not trade)
    fewer = factory.row(trade, "WAIT_BUYER_PAY", T0 + timedelta(minutes=1), X, trade.lines[:-1])
    new = [factory.row(factory.trade(T0), "WAIT_BUYER_PAY", T0, X + timedelta(seconds=1)) for _ in range(2)]
    dbs.push([*same_second, *later, rows[identical.tid], fewer, *new])
    batches = read_batches(job)
    assert (sum(batch.rows for batch in batches), sum(batch.documents for batch in batches)) == (32, 8)
    fetched = {push.key for batch in batches for push in batch.pushes}
    assert fetched == {row["tid"] for row in [*same_second, *later, fewer, *new]}
    assert all(push.document for batch in batches for push in batch.pushes)
    result = run_job(job)
    assert (result.counts.rows_read, result.counts.documents_read, result.counts.pushes_written) == (32, 8, 8)
    assert dbs.query("SELECT COUNT(*) FROM oms_order WHERE tid = :tid", tid=trade.tid) == [(len(trade.lines) - 1,)]
    clean = dbs.other()
    run_job(clean.job())
    assert snapshot(dbs) == snapshot(clean)


def test_documents_read_after_their_marks_keep_to_the_byte_bound(dbs):
    factory = PushFactory(seed=62)
    trades = [factory.trade(T0) for _ in range(400)]
    dbs.push([factory.row(trade, "WAIT_BUYER_PAY", T0, X + timedelta(seconds=index // 100))
              for index, trade in enumerate(trades)])
    job = dbs.job(batch_bytes=2**20)  # the least a job takes: ~170 of these documents
    run_job(job)
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X + timedelta(seconds=index // 100))
              for index, trade in enumerate(trades)])
    batches = read_batches(job)
    assert len(batches) >= 3 and sum(batch.rows for batch in batches) == 400
    assert all(sum(len(push.document) for push in batch.pushes[:-1]) < 2**20 for batch in batches)
    assert run_job(job).counts.pushes_written == 400
    assert dbs.query("SELECT COUNT(*) FROM oms_trade WHERE status = 'WAIT_SELLER_SEND_GOODS'") == [(400,)]


def _shared_table(dbs) -> dict[str, list[dict]]:
    """A push table of four sellers, two large and two small, their pushes interleaved second by second."""
    sizes = {"大店A": 40, "大店B": 40, "小店C": 10, "小店D": 10}
    factories = {seller: PushFactory(seed=70 + index, sellers=(seller,)) for index, seller in enumerate(sizes)}
    rows: dict[str, list[dict]] = {}
    for seller, count in sizes.items():
        factory = factories[seller]
        rows[seller] = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, X + timedelta(seconds=i % 13))
                        for i in range(count)]
    dbs.push([row for seller_rows in rows.values() for row in seller_rows])
    return rows


@pytest.mark.parametrize("workers, shards", [(1, 1), (2, 1), (1, 2)], ids=["one-process", "workers", "shards"])
def test_a_seller_list_writes_what_its_sellers_jobs_write(dbs, workers, shards):
    if workers > 1 and dbs.backend == "sqlite":
        pytest.skip("SQLite targets run in one process")
    _shared_table(dbs)
    for index in range(shards):
        run_job(dbs.job(sellers=["大店A", "小店C"], batch_size=7, workers=workers), shard=Shard(index, shards))
    apart = dbs.other()
    for name, seller in (("a", "大店A"), ("c", "小店C")):
        run_job(apart.job(name, sellers=[seller], batch_size=7))
    for table, order in OMS_TABLES:
        assert dbs.dump(table, order) == apart.dump(table, order), table
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(50,)]
    # Caught up: the next run reads its lookback's marks and writes nothing.
    again = run_job(dbs.job(sellers=["大店A", "小店C"], batch_size=7))
    assert (again.counts.rows_read, again.counts.pushes_written) == (50, 0)


def test_a_seller_list_run_past_its_held_part_reads_the_new_pushes_with_their_documents(dbs):
    rows = _shared_table(dbs)
    job = dbs.job(sellers=["大店A", "小店C"], batch_size=7, lookback_seconds=60)
    run_job(job)
    # Later pushes of both sellers, a few of them of trades the target holds: the next run reads its
    # lookback as marks, then the rest with documents, and writes what changed or is new.
    later = X + timedelta(seconds=30)
    changed = [{**rows[seller][index], "jdp_modified": later, "jdp_hashcode": f"changed-{seller}-{index}",
                "status": "TRADE_FINISHED"} for seller in ("大店A", "小店C") for index in (0, 3)]
    factory = PushFactory(seed=90, sellers=("小店C",))
    new = [factory.row(factory.trade(T0), "WAIT_SELLER_SEND_GOODS", T0, later + timedelta(seconds=i % 5))
           for i in range(20)]
    dbs.push(changed + new)
    result = run_job(job)
    assert result.counts.pushes_written == len(changed) + len(new)
    assert result.counts.documents_read == len(changed) + len(new)
    apart = dbs.other()
    for name, seller in (("a", "大店A"), ("c", "小店C")):
        run_job(apart.job(name, sellers=[seller], batch_size=7))
    for table, order in OMS_TABLES:
        assert dbs.dump(table, order) == apart.dump(table, order), table


def test_a_seller_list_reads_each_sellers_rows_once_through_its_own_index(dbs):
    rows = _shared_table(dbs)
    job = dbs.job(sellers=["大店A", "小店C"], batch_size=7)
    with open_run(job) as context:
        source = context.source
        assert source.by_seller
        plan = run_plan(job)
        window = plan.window(None, source.newest)
        assert window.end == max(row["jdp_modified"] for row in rows["大店A"] + rows["小店C"])
        read = [push for batch in window_batches(context, plan, window, lambda: None) for push in batch.pushes]
        if dbs.source_backend == "mysql":
            query = source.batch_query(window, Position(X, 0), 7, source.columns(documents=False), "大店A")
            compiled = query.compile(dialect=source.engine.dialect, compile_kwargs={"render_postcompile": True})
            with source.engine.connect() as connection:
                plan_rows = connection.exec_driver_sql(f"EXPLAIN {compiled.string}", compiled.params).mappings().all()
            # Each seller's rows come from its own range of the (seller_nick, jdp_modified) index, in order.
            assert [row["key"] for row in plan_rows] == ["ind_jdp_tb_trade_seller_nick_jdp_modified"]
            assert "filesort" not in (plan_rows[0]["Extra"] or "")
    assert [push.key for push in read] == [row["tid"] for row in sorted(
        rows["大店A"] + rows["小店C"], key=lambda row: (row["jdp_modified"], row["tid"]))]


def test_one_seller_or_a_table_without_the_index_reads_as_before(dbs):
    rows = _shared_table(dbs)
    with open_run(dbs.job(sellers=["大店A"])) as context:
        assert not context.source.by_seller  # one seller: its index serves the plain query exactly
    engine = sa.create_engine(dbs.source_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ind_jdp_tb_trade_seller_nick_jdp_modified"
                                   + (" ON jdp_tb_trade" if dbs.source_backend == "mysql" else ""))
    engine.dispose()
    job = dbs.job(sellers=["大店A", "小店C"], batch_size=7)
    with open_run(job) as context:
        assert not context.source.by_seller
    assert run_job(job).counts.pushes_written == len(rows["大店A"]) + len(rows["小店C"])


def test_marks_read_many_at_a_time_still_write_a_batches_size_a_transaction(dbs):
    factory = PushFactory(seed=63)
    trades = [factory.trade(T0) for _ in range(120)]
    dbs.push([factory.row(trade, "WAIT_BUYER_PAY", T0, X) for trade in trades])
    job = dbs.job(batch_size=50)
    run_job(job)
    # Every other one changes within its second: the marks of all 120 come in one read, the documents in
    # batches of 50 pushes to write.
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, X) for trade in trades[::2] + trades[1::4]])
    batches = read_batches(job)
    assert [len(batch.pushes) for batch in batches] == [50, 40]
    assert sum(batch.rows for batch in batches) == 120
    assert run_job(job).counts.pushes_written == 90
