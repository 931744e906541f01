"""The run log (etl_run): one row per run, written when it starts and when it ends.

A run's row is committed at start, apart from the batches, so a run killed by -9
leaves `running` behind; the next run of the job, holding the job's lock, knows that
run is dead and marks it `abandoned`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import sqlalchemy as sa

from etl.clock import utcnow
from etl.shard import WHOLE, Shard
from etl.window import Window


@dataclass
class RunCounts:
    rows_read: int = 0
    documents_read: int = 0  # of the rows read, those whose documents were read (the others the target held)
    pushes_written: int = 0
    rejects: int = 0
    warnings: int = 0
    missing: int = 0  # rejected keys no longer in the source (`etl rejects --retry`)


def start_run(connection: sa.Connection, table: sa.Table, job: str, mode: str, window: Window | None,
              shard: Shard = WHOLE) -> int:
    # Another shard's run holds another lock and may well be running: only this shard's is dead.
    connection.execute(
        sa.update(table)
        .where(table.c.job == job, table.c.shard == shard.label, table.c.outcome == "running")
        .values(outcome="abandoned", finished_at=utcnow(), message="the run ended without recording an outcome")
    )
    start = window.start if window else None
    result = connection.execute(
        sa.insert(table).values(
            job=job,
            shard=shard.label,
            mode=mode,
            window_from=start.modified if start else None,
            window_from_tid=start.key if start else None,
            window_to=window.end if window else None,
            started_at=utcnow(),
            outcome="running",
            host=socket.gethostname()[:255],
            pid=os.getpid(),
        )
    )
    return result.inserted_primary_key[0]


def finish_run(
    connection: sa.Connection, table: sa.Table, run_id: int, outcome: str, counts: RunCounts, message: str | None
) -> None:
    connection.execute(
        sa.update(table)
        .where(table.c.run_id == run_id)
        .values(
            outcome=outcome,
            finished_at=utcnow(),
            rows_read=counts.rows_read,
            pushes_written=counts.pushes_written,
            rejects=counts.rejects,
            message=message,
        )
    )
