"""What a run has open from its start to its end: the job's databases (etl.context), the target's
tables as a Sink, the source table, the job's extra columns, and the job's lock. `open_run` opens
them all and closes them all; nothing else in a run disposes of an engine or releases the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy.engine import Engine

from etl.config import JobConfig
from etl.context import JobContext, open_job
from etl.database.load_data import load_data_allowed
from etl.extra import Extras
from etl.kinds import KINDS
from etl.lock import JobLock, job_lock
from etl.pipeline.retry import RetryPolicy, retrying
from etl.schema import check_up_to_date
from etl.shard import WHOLE, Shard
from etl.sink import Sink
from etl.source import SourceTable
from etl.translate import Kind

T = TypeVar("T")


class _Unlocked:
    """A worker's: the coordinator holds the job's lock, and checks it before each watermark move."""

    def ensure(self) -> None:
        pass


@dataclass(frozen=True)
class RunContext:
    """One process's share of a run: its engines, the target's tables as a Sink, the source table
    (a worker's share of it), the job's extra columns, and the job's lock (a worker holds none)."""

    job: JobConfig
    kind: Kind
    source_engine: Engine
    target_engine: Engine
    sink: Sink
    source: SourceTable
    extras: Extras
    load_data: bool  # the job asks for LOAD DATA LOCAL and the target allows it
    retry: RetryPolicy
    shard: Shard = WHOLE
    lock: JobLock | _Unlocked = _Unlocked()

    def on_source(self, what: str, operation: Callable[[], T]) -> T:
        """`operation` on the source, retried on a transient fault; `what` names it in messages."""
        return retrying(self.retry, "source", self.job.source_url, what, operation)

    def on_target(self, what: str, operation: Callable[[], T]) -> T:
        """`operation` on the target, retried on a transient fault; `what` names it in messages."""
        return retrying(self.retry, "target", self.job.target_url, what, operation)


@contextmanager
def open_run(job: JobConfig, shard: Shard = WHOLE, worker: int | None = None) -> Iterator[RunContext]:
    """Open the job's databases, reflect what a run reads and writes, and hold the lock of the job's
    `shard` for the block.

    `worker` i: the i-th of the job's workers within the shard, which reads its share of the shard's
    keys and holds no lock (the coordinator holds it).
    """
    partition = shard.partition if worker is None else shard.split(worker, job.workers)
    with open_job(job, load_data=job.load_data) as opened:
        if worker is not None:
            yield replace(_reflect(opened, partition), shard=shard)
            return
        # The lock before the first read of the target: on SQLite a run stopped within a write holds the
        # database, and a second run reading first would wait out the busy timeout and fail, not exit 75.
        with opened.on_target(), job_lock(opened.target_engine, job.name, shard) as lock:
            yield replace(_reflect(opened, partition), shard=shard, lock=lock)


def _reflect(opened: JobContext, partition: tuple[int, int] | None) -> RunContext:
    """The target's tables and the source table as this version needs them, and whether LOAD DATA may serve."""
    job = opened.job
    kind = KINDS[job.kind]
    retry = RetryPolicy(job.name, job.retries, job.retry_wait_seconds)
    tables = opened.target_tables(Sink.table_names(kind))
    with opened.on_target(), opened.target_engine.connect() as connection:
        check_up_to_date(connection)
    target_engine = opened.target_engine
    source = opened.source.share(partition)
    sink = Sink(kind, tables, job.name, text_key=source.text_key, check_lengths=target_engine.dialect.name == "sqlite")
    extras = Extras(job.name, kind, job.extra_columns, job.keep_ext, tables)
    load_data = job.load_data and retrying(retry, "target", job.target_url,
                                           "asking whether the target allows LOAD DATA LOCAL",
                                           lambda: _load_data_allowed(target_engine))
    return RunContext(job, kind, opened.source_engine, target_engine, sink, source, extras, load_data, retry)


def _load_data_allowed(engine: Engine) -> bool:
    with engine.connect() as connection:
        return load_data_allowed(connection)
