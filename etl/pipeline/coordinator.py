"""One run of a job, start to end: read the watermark, take the window its plan says, read it (in
this process or in workers), and record the run in etl_run, whatever its outcome.

The run's batches are written by `BatchStep`; with workers, this process only folds what they
committed into the counts and the watermark.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from etl import stopping
from etl.bookkeeping import RUN, WATERMARK
from etl.clock import utcnow
from etl.config import JobConfig
from etl.database.engines import is_sqlite
from etl.errors import EtlError, Interrupted
from etl.pipeline.context import RunContext, open_run
from etl.pipeline.plan import Plan
from etl.pipeline.reading import Batch, rejected_batches, unplaced, window_batches
from etl.pipeline.budget import Tally
from etl.pipeline.memory import batch_memory
from etl.pipeline.step import BatchStep
from etl.pipeline.workers import WorkerPool
from etl.runs import RunCounts, finish_run, start_run
from etl.shard import WHOLE, Shard
from etl.watermark import load_watermark, save_watermark, take_watermark
from etl.window import Position, Window, advance

log = logging.getLogger("etl")
# `workers: auto`. A forked worker starts in milliseconds and opens its connections in a few hundredths
# of a second: on two cores two workers are even with one process at 2,000 rows and win from 5,000 on
# (bench/RESULTS.md). Below AUTO_MIN_ROWS (every cron tick of a seller's day) a run stays one process:
# a few hundredths of a second are not worth a second process.
# More than 4 processes share one target's locks and disk for little more.
AUTO_WORKERS = 4
AUTO_MIN_ROWS = 5_000
# With workers, the coordinator moves the watermark at most this often (the first time at once, and
# once they are done): each move is a transaction of its own (the lock checked, the row upserted, a
# commit the server writes to its log), and one after every worker's batch doubled the commits of a
# run. A run killed meanwhile reads those seconds again (newer-wins makes that harmless).
WATERMARK_SECONDS = 1.0
# A container's CPU limit, under cgroup v2: "QUOTA PERIOD" in microseconds, or "max PERIOD" for none.
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may keep busy: those it may run on, and no more than its cgroup's CPU limit
    gives (a fraction of a core left over does not count). os.cpu_count() is the host's: a pod limited to
    2 CPUs on a 64-core node would start 4 workers, each throttled, with their memory."""
    # sched_getaffinity is Linux's; elsewhere (macOS) every core counts.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()
        return max(1, min(cores, int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2 file here, or "max": no limit
        return cores


def auto_workers(cores: int, rows: int) -> int:
    """`workers: auto` for a window of (at least) `rows` rows on a machine of `cores` cores."""
    return min(cores, AUTO_WORKERS) if rows >= AUTO_MIN_ROWS else 1


@dataclass(frozen=True)
class RunResult:
    job: str
    plan: Plan
    run_id: int
    window: Window | None
    counts: RunCounts
    watermark: Position | None
    seconds: float
    shard: Shard = WHOLE

    @property
    def mode(self) -> str:
        return self.plan.mode


class Progress(Protocol):
    """Someone watching a run: told the window's size once, then the counts after each commit."""

    def start(self, job: str, total: int) -> None: ...

    def advance(self, counts: RunCounts) -> None: ...


def execute(job: JobConfig, plan: Plan, progress: Progress | None = None, shard: Shard = WHOLE) -> RunResult:
    """Run `plan` for `shard` of `job`, holding its lock; the run is recorded in etl_run whatever its outcome."""
    started = time.monotonic()
    with open_run(job, shard) as context:
        run = _Coordinator(context, plan, progress)
        run_id, window = run.start()
        run.read_and_record(run_id, window)
        return RunResult(job.name, plan, run_id, window, run.tally.counts, run.watermark, time.monotonic() - started,
                         shard)


class _Coordinator:
    """One run in the process that holds the job's lock: the watermark in hand and the run's counts."""

    def __init__(self, context: RunContext, plan: Plan, progress: Progress | None) -> None:
        self.context, self.plan, self.progress = context, plan, progress
        self.job = context.job
        self.tally = Tally(RunCounts())
        self.watermark: Position | None = None
        self.step = BatchStep(context, plan, self.tally, saves_watermark=True)

    def start(self) -> tuple[int, Window | None]:
        """Read the watermark, take the window, and record the run's start; returns the run's id and window."""
        context = self.context
        self.watermark = context.on_target("reading the watermark", self._load_watermark)
        window = context.on_source("finding the newest push",
                                   lambda: self.plan.window(self.watermark, context.source.newest))
        run_id = context.on_target("starting the run", lambda: self._start(window))
        if self.progress is not None and window is not None:
            # Only for a watcher: counting a window of a million rows takes a moment.
            self.progress.start(self.job.name, context.on_source("counting the window",
                                                                 lambda: context.source.count(window)))
        return run_id, window

    def read_and_record(self, run_id: int, window: Window | None) -> None:
        """Read what the plan says, then record the run's outcome: ok, failed or interrupted."""
        try:
            with batch_memory():
                self._read(window)
        except KeyboardInterrupt as stop:
            self._finish(run_id, "interrupted", stop)
            raise Interrupted(
                f"job {self.job.name!r} was interrupted; its current batch was rolled back",
                getattr(stop, "exit_code", 130),
            ) from None
        except BaseException as error:
            self._finish(run_id, "failed", error)
            raise
        self._finish(run_id, "ok", None)

    def _read(self, window: Window | None) -> None:
        """What the plan reads: rows without a modified time first, then the open rejects or the window."""
        if self.plan.rejects_null_modified:
            orphans = unplaced(self.context)
            if orphans.pushes:
                self._write(orphans, advances=False)
        if self.plan.reads_rejects:
            self._retry_rejects()
        elif window is not None and (workers := self._workers(window)) > 1:
            self._read_in_workers(window, workers)
        elif window is not None:
            for batch in window_batches(self.context, self.plan, window, stopping.check_stop):
                self._write(batch, advances=self.plan.moves_watermark)
                if self.progress is not None:
                    self.progress.advance(self.tally.counts)

    def _write(self, batch: Batch, *, advances: bool) -> None:
        self.watermark = self.step(batch, self.watermark, advances=advances)

    def _retry_rejects(self) -> None:
        """Read the open rejects' keys again from the source and write what now translates."""
        for keys, batch in rejected_batches(self.context):
            self.tally.counts.missing += len(keys) - batch.rows
            if batch.pushes:
                self._write(batch, advances=False)

    def _workers(self, window: Window) -> int:
        """How many processes read `window`: the job's number, or with `auto` the machine's cores (at most
        AUTO_WORKERS) once the window holds AUTO_MIN_ROWS rows; SQLite targets (one writer) always one."""
        if is_sqlite(self.job.target_url):
            return 1
        if self.job.workers != "auto":
            return self.job.workers
        cores = available_cores()
        if auto_workers(cores, AUTO_MIN_ROWS) == 1:
            return 1
        # Rows the target likely holds cost a look at their marks (etl.pipeline.reading): only those
        # past the watermark count, which are written.
        source = self.context.source
        after = window.written_to if self.plan.skip_written and source.hashed else None
        rows = self.context.on_source("sizing the window",
                                      lambda: source.count(window, at_most=AUTO_MIN_ROWS, after=after))
        return auto_workers(cores, rows)

    def _read_in_workers(self, window: Window, workers: int) -> None:
        """Split `window` across `workers` processes by key; move the watermark to where all have committed."""
        job = self.job.model_copy(update={"workers": workers})
        pool = WorkerPool(job, self.plan, window, self.tally.counts, self.context.shard, self.context.lock)
        reached, moved = None, float("-inf")  # the first commit of all workers moves it at once
        try:
            with pool:
                for reached in pool.committed():
                    self.tally.counts = pool.counts
                    if self.progress is not None:
                        self.progress.advance(self.tally.counts)
                    if self.plan.moves_watermark and time.monotonic() - moved >= WATERMARK_SECONDS \
                            and self._move_watermark(reached):
                        moved = time.monotonic()
        finally:
            # What the workers committed, to their last report: the pool waits for them as the block ends.
            self.tally.counts = pool.counts
        if self.plan.moves_watermark:
            self._move_watermark(reached)

    def _move_watermark(self, reached: Position | None) -> bool:
        """Save the watermark at `reached` when that moves it; returns whether it moved."""
        position = None if reached is None else advance(self.watermark, reached)
        if position is None or position == self.watermark:
            return False

        def save() -> None:
            self.context.lock.ensure()
            with self.context.target_engine.begin() as connection:
                save_watermark(connection, self.context.sink.tables[WATERMARK], self.job.name, position, utcnow(),
                               self.context.shard)

        self.context.on_target("moving the watermark", save)
        self.watermark = position
        return True

    def _load_watermark(self) -> Position | None:
        with self.context.target_engine.begin() as connection:
            table, text_key = self.context.sink.tables[WATERMARK], self.context.source.text_key
            if self.plan.moves_watermark:
                return take_watermark(connection, table, self.job.name, self.context.shard, utcnow(), text_key=text_key)
            return load_watermark(connection, table, self.job.name, shard=self.context.shard, text_key=text_key)

    def _start(self, window: Window | None) -> int:
        with self.context.target_engine.begin() as connection:
            return start_run(connection, self.context.sink.tables[RUN], self.job.name, self.plan.mode, window,
                             self.context.shard)

    def _finish(self, run_id: int, outcome: str, error: BaseException | None) -> None:
        message = None if error is None else (str(error) or f"stopped by {type(error).__name__}")

        def record() -> None:
            with self.context.target_engine.begin() as connection:
                finish_run(connection, self.context.sink.tables[RUN], run_id, outcome, self.tally.counts, message)

        try:
            self.context.on_target("recording the run's outcome", record)
        except EtlError:
            if error is None:
                raise
            # The run is failing already (often for this same reason); its own error is the one to report.
            log.warning("job %s: could not record the outcome of run %s", self.job.name, run_id)
