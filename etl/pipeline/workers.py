"""A window split across worker processes by key: starting them, what they tell the coordinator,
noticing one that died, and draining the rest.

Each worker writes the keys whose remainder modulo `workers` is its number, so no two write the
same trade, and reports after each batch how far it has committed. The pool yields, after each
report, how far every worker has committed: the coordinator (which holds the job lock) moves the
watermark there. A failing worker stops the others after their batch in hand; so does a stop of
the coordinator. A worker dies with the coordinator, however that ends, and holds no copy of its
job lock: killed by -9, a run leaves nothing running and its job free.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from etl import logs, stopping
from etl.config import JobConfig
from etl.errors import EtlError
from etl.lock import JobLock
from etl.pipeline.context import open_run
from etl.pipeline.plan import Plan
from etl.pipeline.reading import window_batches
from etl.pipeline.budget import Tally
from etl.pipeline.memory import batch_memory
from etl.pipeline.step import BatchStep
from etl.runs import RunCounts
from etl.shard import Shard
from etl.window import Position, Window, committed_by_all

log = logging.getLogger("etl")

# Fork where it is safe (Linux): a forked worker has this process's modules and starts in
# milliseconds, where a spawned one imports them again (a few tenths of a second of CPU a worker).
# The child holds copies of this process's sockets and sends nothing on them: it opens engines of
# its own and leaves by os._exit. It closes its copy of the job lock's at its start (a connection
# ends when its last descriptor closes): the lock is then free the moment this process is gone.
# macOS forks unsafely (its system libraries are not fork-safe): spawn there.
_START_METHOD = "fork" if sys.platform == "linux" else "spawn"
# prctl(2): the signal a process gets when the thread that forked it ends.
_PR_SET_PDEATHSIG = 1
# What a worker's last message says instead of a position.
_FINISHED = "finished"
_STOPPED = "stopped"
# A worker that died without a word (killed by the OOM killer, say) is noticed after this many
# empty polls of the channel, so that its last message, if any, has time to arrive.
_SILENT_POLLS = 5


@dataclass(frozen=True)
class _Shared:
    """What the worker processes of one run share: the coordinator's stop flag and the run-wide
    tallies the reject budget is judged on."""

    stop: Any  # multiprocessing.Event
    lock: Any  # multiprocessing.Lock
    rows_read: Any  # multiprocessing.Value("q")
    rejects: Any


class _SharedTally(Tally):
    """A worker's counts, also added to the run-wide tallies that every worker judges its budget on."""

    def __init__(self, counts: RunCounts, shared: _Shared) -> None:
        super().__init__(counts)
        self.shared = shared

    def read(self, rows: int, documents: int) -> None:
        super().read(rows, documents)
        with self.shared.lock:
            self.shared.rows_read.value += rows

    def committed(self, written: int, rejects: int) -> None:
        super().committed(written, rejects)
        with self.shared.lock:
            self.shared.rejects.value += rejects

    def run_totals(self) -> tuple[int, int]:
        with self.shared.lock:
            return self.shared.rows_read.value, self.shared.rejects.value


class _StopAsked(Exception):
    """The coordinator asked this worker to stop (another worker failed, or the run was stopped)."""


def _die_with_parent() -> None:
    """End this process the moment the process that started it ends, however that ends (kill -9, the
    OOM killer): an orphan would write its share on, unwatched, for as long as the share lasts.

    A batch in hand is left uncommitted, and the server rolls it back with the connection: the next
    run reads again from the committed watermark.
    """
    # Linux: the kernel sends SIGKILL when the thread that forked this process ends (the coordinator's,
    # which outlives its workers). Set after the fork, it misses a parent that ended before: this
    # process has another parent then.
    if sys.platform == "linux" and ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL)) == 0:
        if os.getppid() != multiprocessing.parent_process().pid:
            os._exit(1)
        return
    # Elsewhere (or where the kernel refuses the signal), a thread watches the parent.
    threading.Thread(target=_exit_with_parent, name="etl-parent-watch", daemon=True).start()


def _exit_with_parent() -> None:
    """Wait for the parent's end (its sentinel is ready then) and end this process at once, where no
    parent-death signal serves."""
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    os._exit(1)


def _worker_main(job: JobConfig, plan: Plan, window: Window, shard: Shard, part: int, shared: _Shared, channel: Any,
                 logging_as: logs.LogSettings, inherited: JobLock | None) -> None:
    """One worker process: read, translate and write the keys of share `part`, reporting each commit.

    `inherited`: the coordinator's job lock, as a forked worker finds it (a spawned one has none).
    """
    _die_with_parent()
    if inherited is not None:
        inherited.close_inherited()
    # Signals are the coordinator's to handle: it sets `shared.stop`, and this worker stops
    # after the batch in hand, which commits or rolls back whole.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(logging_as, prefix=f"etl: [worker {part}]")
    logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
    tally = _SharedTally(RunCounts(), shared)

    def say(position: Position | str | None, failure: EtlError | None = None, trace: str | None = None) -> None:
        channel.put((part, position, dataclasses.replace(tally.counts), failure, trace))

    try:
        _write_share(job, plan, window, shard, part, tally, say)
    except _StopAsked:
        say(_STOPPED)
    except EtlError as error:
        say(None, error)
    except BaseException as error:  # noqa: BLE001 -- whatever it is, the coordinator must hear of it
        # A bug: one line for the user, and where it happened (as text: a traceback does not pickle)
        # for the coordinator's debug log.
        say(None, EtlError(f"internal error in worker {part} ({type(error).__name__}: {error}); "
                           "rerun with -vv for details"), traceback.format_exc())
    else:
        say(_FINISHED)


def _write_share(job: JobConfig, plan: Plan, window: Window, shard: Shard, part: int, tally: _SharedTally,
                 say: Callable[[Position | None], None]) -> None:
    def check() -> None:
        stopping.check_stop()
        if tally.shared.stop.is_set():
            raise _StopAsked()

    # The watermark a worker reports is its own: how far it has committed its share.
    reached = None
    with open_run(job, shard, worker=part) as context, batch_memory():
        step = BatchStep(context, plan, tally, saves_watermark=False)
        for batch in window_batches(context, plan, window, check):
            reached = step(batch, reached, advances=plan.moves_watermark)
            say(reached)


class WorkerPool:
    """The job's `workers` processes, each writing its share of `window`'s keys.

    Used as a context manager: leaving the block early (a failure, a stop) asks the workers to stop
    after their batch in hand, and leaving it at all waits for them, reading what they still say.
    """

    def __init__(self, job: JobConfig, plan: Plan, window: Window, before: RunCounts, shard: Shard,
                 lock: JobLock) -> None:
        """`before`: the run's counts so far, to which the workers' are added; `shard`: whose keys they share;
        `lock`: the job lock this process holds, whose descriptor a forked worker closes."""
        self.job, self.before = job, dataclasses.replace(before)
        context = multiprocessing.get_context(_START_METHOD)
        # A spawned worker inherits no descriptor (and the lock would not pickle).
        inherited = lock if _START_METHOD == "fork" else None
        self.channel = context.Queue()
        self.shared = _Shared(context.Event(), context.Lock(), context.Value("q", before.rows_read, lock=False),
                              context.Value("q", before.rejects, lock=False))
        self.processes = [
            context.Process(target=_worker_main, name=f"etl-{job.name}-{part}", daemon=True,
                            args=(job, plan, window, shard, part, self.shared, self.channel, logs.configured(),
                                  inherited))
            for part in range(job.workers)
        ]
        self.reported = [RunCounts() for _ in range(job.workers)]

    @property
    def counts(self) -> RunCounts:
        """The run's counts: those before the workers, and each worker's as it last reported them."""
        return _sum_counts(self.before, self.reported)

    def __enter__(self) -> WorkerPool:
        for process in self.processes:
            process.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _traceback: Any) -> None:
        if error is not None:
            self.shared.stop.set()
        # Keep reading while they finish the batch in hand: a worker cannot exit while what it put
        # in the channel waits to be read, and its last commits belong in the counts.
        for process in self.processes:
            while process.is_alive():
                process.join(0.1)
                while (message := self._receive(wait=False)) is not None:
                    self.reported[message[0]] = message[2]
        self.channel.close()

    def committed(self) -> Iterator[Position | None]:
        """After each report: how far every worker has committed (None: not yet anywhere). Raises a
        worker's failure, and says so when one died without a word."""
        committed: list[Position | None] = [None] * len(self.processes)
        finished = [False] * len(self.processes)
        silent = [0] * len(self.processes)
        while not all(finished):
            stopping.check_stop()
            message = self._receive(wait=True)
            if message is None:
                self._check_alive(finished, silent)
                continue
            part, position, counts, failure, trace = message
            self.reported[part] = counts
            if failure is not None:
                if trace is not None:
                    log.debug("job %s: worker %d's internal error:\n%s", self.job.name, part, trace.rstrip())
                raise failure
            if position == _STOPPED:
                # Only a stop this process asked for ends a share early, so this cannot come before
                # the loop is left; if it did, the share is not done: say so.
                raise EtlError(f"job {self.job.name!r}: worker {part} stopped before its share was done")
            if position == _FINISHED:
                finished[part] = True
            else:
                committed[part] = position
            yield committed_by_all(committed, finished)

    def _receive(self, *, wait: bool) -> tuple | None:
        try:
            return self.channel.get(timeout=0.2) if wait else self.channel.get_nowait()
        except queue.Empty:
            return None

    def _check_alive(self, finished: Sequence[bool], silent: list[int]) -> None:
        for part, process in enumerate(self.processes):
            silent[part] += not finished[part] and not process.is_alive()
            if silent[part] >= _SILENT_POLLS:
                raise EtlError(f"job {self.job.name!r}: worker {part} died "
                               f"(exit code {process.exitcode}) without a word")


def _sum_counts(before: RunCounts, parts: Sequence[RunCounts]) -> RunCounts:
    fields = [field.name for field in dataclasses.fields(RunCounts)]
    return RunCounts(**{name: getattr(before, name) + sum(getattr(part, name) for part in parts) for name in fields})
