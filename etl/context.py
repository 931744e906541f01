"""What a command has open for one job: its two databases, each opened when first used, the tables it
reads reflected once, and all of it closed together when the command is done.

Every command (run, retranslate, status, verify, export, rejects, init, the demo) reaches a job's
databases through `open_job`; nothing else makes or disposes of an engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import cached_property

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.config import JobConfig
from etl.database.engines import open_source, open_target
from etl.database.faults import database_errors
from etl.database.tables import reflect
from etl.source import SourceTable, reflect_source


class JobContext:
    """One job's databases for the length of a command (see `open_job`)."""

    def __init__(self, job: JobConfig, stack: ExitStack, *, create: bool, load_data: bool) -> None:
        self.job, self._stack = job, stack
        self._create, self._load_data = create, load_data
        self._tables: dict[str, sa.Table] = {}

    @cached_property
    def source_engine(self) -> Engine:
        return self._stack.enter_context(open_source(self.job.source_url))

    @cached_property
    def target_engine(self) -> Engine:
        return self._stack.enter_context(open_target(self.job.target_url, create=self._create,
                                                     load_data=self._load_data))

    def on_source(self) -> AbstractContextManager[None]:
        """A block whose driver errors are one line naming the source (password masked)."""
        return database_errors("source", self.job.source_url)

    def on_target(self) -> AbstractContextManager[None]:
        """A block whose driver errors are one line naming the target (password masked)."""
        return database_errors("target", self.job.target_url)

    def target_tables(self, names: Iterable[str]) -> dict[str, sa.Table]:
        """The named target tables as the DDL made them, each reflected once; a missing one means `etl init`."""
        missing = [name for name in dict.fromkeys(names) if name not in self._tables]
        if missing:
            with self.on_target():
                self._tables.update(reflect(self.target_engine, missing))
        return {name: self._tables[name] for name in names}

    @cached_property
    def source(self) -> SourceTable:
        """The job's push table, reflected and checked (every key; `SourceTable.share` gives a shard's)."""
        job = self.job
        with self.on_source():
            return reflect_source(self.source_engine, job.table, job.source_columns, job.sellers, job.hash_column)


@contextmanager
def open_job(job: JobConfig, *, create: bool = False, load_data: bool = False) -> Iterator[JobContext]:
    """`job`'s databases for the block. `create`: a target SQLite file may be made (`etl init`);
    `load_data`: the target's connections answer LOAD DATA LOCAL (a run of a job that asks for it)."""
    with ExitStack() as stack:
        yield JobContext(job, stack, create=create, load_data=load_data)
