"""`etl demo`: the whole job on SQLite files, no server needed.

Builds a push table with a few thousand synthetic pushes (and two broken ones) and a
refund table with refunds of some of their lines, writes a jobs.yaml for both, creates
the OMS tables, runs the jobs, then lets the "platform" ship a tenth of the trades, drop a
line from one and settle the refunds, and runs again: what a seller's cron sees on its
first two runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from etl.config import load_config
from etl.context import JobContext, open_job
from etl.database.tables import reflect, upsert
from etl.pipeline import RunResult, run_job
from etl.schema import apply_sql, init_target, sql_file
from etl.status import JobStatus, job_status
from etl.synth import PushFactory, RefundFactory, synth_trades

JOB = "demo"
REFUND_JOB = "demo_refunds"
_START = datetime(2026, 11, 11, 0, 0, 0)


@dataclass(frozen=True)
class DemoReport:
    folder: Path
    config: Path
    runs: tuple[RunResult, ...]
    table_counts: dict[str, int]
    statuses: tuple[JobStatus, ...]
    refunds: int
    lines_on_hold: int


def write_demo_config(folder: Path) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(
        "# Written by `etl demo`: the demo job on the SQLite files beside this file.\n"
        "jobs:\n"
        f"  {JOB}:\n"
        f"    source: sqlite:///{(folder / 'jdp.db').resolve()}\n"
        f"    target: sqlite:///{(folder / 'oms.db').resolve()}\n"
        "    batch_size: 500\n"
        "    lookback_seconds: 300\n"
        f"  {REFUND_JOB}:\n"
        "    kind: tb_refund\n"
        f"    source: sqlite:///{(folder / 'jdp.db').resolve()}\n"
        f"    target: sqlite:///{(folder / 'oms.db').resolve()}\n",
        encoding="utf-8",
    )
    return path


def _build_source(opened: JobContext, pushes: int, seed: int) -> tuple[PushFactory, list]:
    made = list(synth_trades(pushes, seed=seed, start=_START))
    trades = [(trade, row["jdp_modified"]) for trade, row in made]
    rows = [row for _, row in made]
    factory, moment = PushFactory(seed + 1), trades[-1][1]
    broken = factory.row(factory.trade(moment), "WAIT_SELLER_SEND_GOODS", moment, moment)
    rows.append({**broken, "jdp_response": broken["jdp_response"][:200]})  # truncated in transit
    failed = factory.row(factory.trade(moment), "WAIT_SELLER_SEND_GOODS", moment, moment)
    rows.append({**failed, "jdp_response": '{"error_response":{"code":50,"msg":"Remote service error"}}'})
    with opened.source_engine.begin() as connection:
        apply_sql(connection, sql_file("source", "sqlite.sql"))
    _write_source(opened, "jdp_tb_trade", rows)
    return factory, trades


def _write_source(opened: JobContext, name: str, rows: list[dict]) -> None:
    """The "platform" pushes `rows` into the push table `name`, updating rows in place as Jushita does."""
    table = reflect(opened.source_engine, [name], role="source")[name]
    with opened.source_engine.begin() as connection:
        upsert(connection, table, rows)


def _refunds(opened: JobContext, trades: list, seed: int) -> tuple[RefundFactory, list]:
    """Buyers ask for a refund of one line in about one paid trade of thirty, after they paid."""
    factory = RefundFactory(seed)
    refunds = []
    for trade, moment in trades[3::30]:
        refund = factory.refund(moment, tid=trade.tid, oid=trade.lines[0]["oid"])
        refunds.append((refund, moment + timedelta(minutes=1)))
    _write_source(opened, "jdp_tb_refund",
                  [factory.row(refund, "WAIT_SELLER_AGREE", moment, moment) for refund, moment in refunds])
    return factory, refunds


def _platform_updates(opened: JobContext, factory: PushFactory, trades: list, refund_factory: RefundFactory,
                      refunds: list) -> None:
    """A tenth of the trades ship, one loses a line, the seller settles the refunds; nothing else changes."""
    later = trades[-1][1] + timedelta(minutes=5)
    rows = []
    for index, (trade, _) in enumerate(trades[::10]):
        lines = trade.lines[:-1] if len(trade.lines) > 1 and index == 0 else None
        rows.append(factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", later, later + timedelta(seconds=index % 7), lines))
    _write_source(opened, "jdp_tb_trade", rows)
    # Half are agreed and refunded, the rest are still waiting for the seller.
    settled = [refund_factory.row(refund, "SUCCESS", later, later) for refund, _ in refunds[::2]]
    _write_source(opened, "jdp_tb_refund", settled)


def _counts(opened: JobContext) -> tuple[dict[str, int], int]:
    """Rows per OMS table, and the lines on hold for a refund in progress."""
    with opened.target_engine.connect() as connection:
        counts = {
            name: connection.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in ("oms_trade", "oms_order", "oms_promotion", "oms_refund", "etl_reject")
        }
        on_hold = connection.execute(
            sa.text("SELECT COUNT(*) FROM oms_order WHERE oms_status = 'REFUNDING'")
        ).scalar_one()
    return counts, on_hold


def run_demo(folder: Path, pushes: int = 3000, seed: int = 20261111) -> DemoReport:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("jdp.db", "oms.db"):
        for leftover in folder.glob(f"{name}*"):
            leftover.unlink()
    config = write_demo_config(folder)
    loaded = load_config(config)
    job, refund_job = loaded.job(JOB), loaded.job(REFUND_JOB)
    (folder / "jdp.db").touch()  # the "platform's" push database, which a job never creates
    with open_job(job, create=True) as opened:
        factory, trades = _build_source(opened, pushes, seed)
        refund_factory, refunds = _refunds(opened, trades, seed)
        init_target(opened.target_engine)
        first = run_job(job), run_job(refund_job)
        _platform_updates(opened, factory, trades, refund_factory, refunds)
        second = run_job(job), run_job(refund_job)
        counts, on_hold = _counts(opened)
    return DemoReport(folder, config, (*first, *second), counts, (job_status(job), job_status(refund_job)),
                      len(refunds), on_hold)
