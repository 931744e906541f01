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

from etl.config import JobConfig, load_config
from etl.database.engines import open_source, open_target
from etl.database.tables import reflect, upsert
from etl.pipeline import RunResult, run_job
from etl.schema import apply_sql, init_target, sql_file
from etl.status import JobStatus, job_status
from etl.synth import PushFactory, RefundFactory

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


def _build_source(job: JobConfig, pushes: int, seed: int) -> tuple[PushFactory, list]:
    path = Path(job.source_url.database)
    path.touch()
    factory = PushFactory(seed)
    trades, rows, moment = [], [], _START
    for _ in range(pushes):
        if factory.rng.random() < 0.02:
            moment += timedelta(seconds=factory.rng.randrange(1, 30))
        trade = factory.trade(moment - timedelta(minutes=factory.rng.randrange(0, 600)))
        trades.append((trade, moment))
        rows.append(factory.row(trade, factory.status(), moment, moment))
    broken = factory.row(factory.trade(moment), "WAIT_SELLER_SEND_GOODS", moment, moment)
    rows.append({**broken, "jdp_response": broken["jdp_response"][:200]})  # truncated in transit
    failed = factory.row(factory.trade(moment), "WAIT_SELLER_SEND_GOODS", moment, moment)
    rows.append({**failed, "jdp_response": '{"error_response":{"code":50,"msg":"Remote service error"}}'})
    with open_source(job.source_url) as engine:
        with engine.begin() as connection:
            apply_sql(connection, sql_file("source", "sqlite.sql"))
        table = reflect(engine, ["jdp_tb_trade"], role="source")["jdp_tb_trade"]
        with engine.begin() as connection:
            connection.execute(table.delete())
            connection.execute(sa.insert(table), rows)
    return factory, trades


def _write_source(job: JobConfig, name: str, rows: list[dict]) -> None:
    with open_source(job.source_url) as engine:
        table = reflect(engine, [name], role="source")[name]
        with engine.begin() as connection:
            upsert(connection, table, rows)


def _refunds(job: JobConfig, trades: list, seed: int) -> tuple[RefundFactory, list]:
    """Buyers ask for a refund of one line in about one paid trade of thirty, after they paid."""
    factory = RefundFactory(seed)
    refunds = []
    for trade, moment in trades[3::30]:
        refund = factory.refund(moment, tid=trade.tid, oid=trade.lines[0]["oid"])
        refunds.append((refund, moment + timedelta(minutes=1)))
    _write_source(job, "jdp_tb_refund",
                  [factory.row(refund, "WAIT_SELLER_AGREE", moment, moment) for refund, moment in refunds])
    return factory, refunds


def _platform_updates(job: JobConfig, factory: PushFactory, trades: list, refund_factory: RefundFactory,
                      refunds: list) -> None:
    """A tenth of the trades ship, one loses a line, the seller settles the refunds; nothing else changes."""
    later = trades[-1][1] + timedelta(minutes=5)
    rows = []
    for index, (trade, _) in enumerate(trades[::10]):
        lines = trade.lines[:-1] if len(trade.lines) > 1 and index == 0 else None
        rows.append(factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", later, later + timedelta(seconds=index % 7), lines))
    _write_source(job, "jdp_tb_trade", rows)
    # Half are agreed and refunded, the rest are still waiting for the seller.
    settled = [refund_factory.row(refund, "SUCCESS", later, later) for refund, _ in refunds[::2]]
    _write_source(job, "jdp_tb_refund", settled)


def run_demo(folder: Path, pushes: int = 3000, seed: int = 20261111) -> DemoReport:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("jdp.db", "oms.db"):
        for leftover in folder.glob(f"{name}*"):
            leftover.unlink()
    config = write_demo_config(folder)
    loaded = load_config(config)
    job, refund_job = loaded.job(JOB), loaded.job(REFUND_JOB)
    factory, trades = _build_source(job, pushes, seed)
    refund_factory, refunds = _refunds(job, trades, seed)
    with open_target(job.target_url, create=True) as engine:
        init_target(engine)
    first = run_job(job), run_job(refund_job)
    _platform_updates(job, factory, trades, refund_factory, refunds)
    second = run_job(job), run_job(refund_job)
    with open_target(job.target_url) as engine, engine.connect() as connection:
        counts = {
            name: connection.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in ("oms_trade", "oms_order", "oms_promotion", "oms_refund", "etl_reject")
        }
        on_hold = connection.execute(
            sa.text("SELECT COUNT(*) FROM oms_order WHERE oms_status = 'REFUNDING'")
        ).scalar_one()
    return DemoReport(folder, config, (*first, *second), counts, (job_status(job), job_status(refund_job)),
                      len(refunds), on_hold)
