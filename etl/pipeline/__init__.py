"""run_job / retranslate_job / retry_rejects: window -> scan -> parse -> translate -> write + advance.

Each batch's writes, its rejects and the watermark move commit in one target
transaction, so at every instant every source row at or below the committed
watermark is in the target, translated or rejected: a run killed anywhere and run
again ends with the same tables as an uninterrupted run.

A transient database fault (connection dropped or killed, server restart, lock-wait
timeout, deadlock) rolls the batch back; it is read and written again after a
bounded, jittered exponential back-off, up to the job's `retries`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import queue
import signal
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.config import JobConfig
from etl.bookkeeping import REJECT, RUN, WATERMARK
from etl.clock import utcnow
from etl.database.engines import is_sqlite, open_source, open_target
from etl.database.faults import database_errors
from etl.database.load_data import LoadDisabled, LoadRefused, load_data_allowed
from etl.database.tables import chunks, reflect
from etl import logs, stopping
from etl.errors import ConfigError, EtlError, Interrupted, RejectBudgetExceeded, ValueRefused
from etl.lock import job_lock
from etl.pipeline.retry import RetryPolicy, retrying
from etl.runs import RunCounts, finish_run, start_run
from etl.schema import check_up_to_date
from etl.sink import Outcome, Rejected, Sink, Translated, reject_column
from etl.source import Push, SourceTable, Window
from etl.extra import Extras
from etl.kinds import KINDS
from etl.translate import Kind, TranslateError
from etl.watermark import Position, advance, committed_by_all, load_watermark, resume_point, save_watermark

log = logging.getLogger("etl")
T = TypeVar("T")

# Rows without jdp_modified cannot be placed in keyset order; each run rejects up to this many.
_NULL_MODIFIED_LIMIT = 10_000
_NULL_MODIFIED = (
    "{column} is NULL: the row cannot be placed in keyset order; "
    "fix the row in the source, then it translates on the next run"
)
# A share-of-rows reject budget is judged only once a run has read this many rows.
_BUDGET_MIN_ROWS = 100
# Parsed documents are trees of dicts without cycles, made and dropped by the thousand: with
# CPython's default first-generation threshold (700) the cycle collector ran so often that it
# cost a third of parse + translate (13,000 vs 20,000 trades/s on one core, measured).
_GC_THRESHOLD = 20_000


@contextmanager
def _few_collections() -> Iterator[None]:
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], _GC_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@dataclass(frozen=True)
class RunResult:
    job: str
    mode: str
    run_id: int
    window: Window | None
    counts: RunCounts
    watermark: Position | None
    seconds: float


class Progress(Protocol):
    """Someone watching a run: told the window's size once, then the counts after each commit."""

    def start(self, job: str, total: int) -> None: ...

    def advance(self, counts: RunCounts) -> None: ...


def translate_push(kind: Kind, push: Push, columns: tuple[str, str, str] = ("tid", "jdp_modified", "jdp_response"),
                   extras: Extras | None = None) -> Outcome:
    """Parse and translate one push, then add the job's `extras` to its rows; anything that cannot
    be translated becomes a reject with its reason, which names the source's `columns` (key,
    modified time, JSON) as the job's table has them."""
    _, modified_column, json_column = columns
    if push.modified is None:
        return Rejected(push, _NULL_MODIFIED.format(column=modified_column))
    if push.target_key is None:
        return Rejected(push, f"the row's key {push.key!r} is not a numeric id the target's {kind.key_column} can hold")
    if push.document is None or not push.document.strip():
        return Rejected(push, f"{json_column} is empty")
    try:
        document = orjson.loads(push.document)
    except orjson.JSONDecodeError as error:
        return Rejected(push, f"{json_column} is not valid JSON: {error}")
    try:
        rows = kind.translate(document)
        if extras is not None:
            extras.apply(rows)
    except TranslateError as error:
        return Rejected(push, str(error))
    except (RecursionError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        # A translator bug on odd input: quarantine the push and say so, rather than stop every seller's orders.
        log.warning("translator %s failed on %s %s: %s", kind.name, kind.key_column, push.key, type(error).__name__)
        return Rejected(push, f"translator error (please report it): {type(error).__name__}: {error}")
    if rows.key != push.target_key:
        return Rejected(
            push, f"the document's {kind.key_column} {rows.key} differs from the row's {kind.key_column} {push.key}"
        )
    # The parsed document is not needed past here: a batch holds its rows, not a thousand documents.
    return Translated(push, dataclasses.replace(rows, sources={}))


@dataclass(frozen=True)
class _Shared:
    """What the worker processes of one run share: the coordinator's stop flag and the run-wide
    tallies the reject budget is judged on."""

    stop: Any  # multiprocessing.Event
    lock: Any  # multiprocessing.Lock
    rows_read: Any  # multiprocessing.Value("q")
    rejects: Any


class _StopAsked(Exception):
    """The coordinator asked this worker to stop (another worker failed, or the run was stopped)."""


def _worker_main(job: JobConfig, mode: str, window: Window, part: int, shared: _Shared, channel: Any,
                 log_level: int, log_json: bool) -> None:
    """One worker process: read, translate and write the keys of share `part`, reporting each commit."""
    # Signals are the coordinator's to handle: it sets `shared.stop`, and this worker stops
    # after the batch in hand, which commits or rolls back whole.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(log_level, json=log_json, prefix=f"etl: [worker {part}]")
    logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
    run = _Run(job, mode, part=part, shared=shared)
    run.report = lambda position: channel.put((part, position, dataclasses.replace(run.counts), None))
    try:
        run.work(window)
    except _StopAsked:
        channel.put((part, _STOPPED, dataclasses.replace(run.counts), None))
    except BaseException as error:  # noqa: BLE001 -- whatever it is, the coordinator must hear of it
        failure = error if isinstance(error, EtlError) else EtlError(f"{type(error).__name__}: {error}")
        channel.put((part, None, dataclasses.replace(run.counts), failure))
    else:
        channel.put((part, _FINISHED, dataclasses.replace(run.counts), None))


_FINISHED = "finished"
_STOPPED = "stopped"
# A worker that died without a word (killed by the OOM killer, say) is noticed after this many
# empty polls of the channel, so that its last message, if any, has time to arrive.
_SILENT_POLLS = 5


class _Run:
    """One run of one job: engines, tables, lock, counters and the watermark in hand.

    With `part` it is one worker of a run split by key (see `_read_in_workers`): it writes its
    share and reports each commit, and holds neither the job lock nor the watermark.
    """

    def __init__(self, job: JobConfig, mode: str, *, part: int | None = None, shared: _Shared | None = None,
                 progress: Progress | None = None) -> None:
        self.job = job
        self.progress = progress
        self.mode = mode
        self.kind = KINDS[job.kind]
        self.counts = RunCounts()
        self.watermark: Position | None = None
        self.part = part
        self.shared = shared
        self.report: Callable[[Position | None], None] | None = None
        self.lock: Any = None
        # Closed when the run (or this worker's share) ends, in `execute` or `work`.
        self.engines = ExitStack()
        self.source_engine: Engine = self.engines.enter_context(open_source(job.source_url))
        self.target_engine: Engine = self.engines.enter_context(open_target(job.target_url, load_data=job.load_data))
        self.load_data = False
        self.retry = RetryPolicy(job.name, job.retries, job.retry_wait_seconds)

    def _source(self, what: str, operation: Callable[[], T]) -> T:
        return retrying(self.retry, "source", self.job.source_url, what, operation)

    def _target(self, what: str, operation: Callable[[], T]) -> T:
        return retrying(self.retry, "target", self.job.target_url, what, operation)

    # -- the run --------------------------------------------------------------------------

    def execute(
        self,
        plan: Callable[[Position | None, SourceTable], Window | None],
        body: Callable[[], None] | None = None,
    ) -> RunResult:
        started = time.monotonic()
        try:
            self._open()
            with database_errors("target", self.job.target_url), job_lock(self.target_engine, self.job.name) as lock:
                self.lock = lock
                self.watermark = self._target("reading the watermark", self._load_watermark)
                window = self._source("finding the newest push", lambda: plan(self.watermark, self.source))
                run_id = self._target("starting the run", lambda: self._start(window))
                if self.progress is not None and window is not None:
                    # Only for a watcher: counting a window of a million rows takes a moment.
                    self.progress.start(self.job.name, self._source("counting the window",
                                                                    lambda: self.source.count(window)))
                try:
                    with _few_collections():
                        (body or (lambda: self._read_window(window)))()
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
            return RunResult(self.job.name, self.mode, run_id, window, self.counts, self.watermark,
                             time.monotonic() - started)
        finally:
            self.engines.close()

    def _open(self) -> None:
        """Reflect the target's tables and the source table; ask the target about LOAD DATA."""
        with database_errors("target", self.job.target_url):
            tables = reflect(self.target_engine, Sink.table_names(self.kind))
            with self.target_engine.connect() as connection:
                check_up_to_date(connection)
        self.sink = Sink(self.kind, tables, self.job.name, check_lengths=self.target_engine.dialect.name == "sqlite")
        self.extras = Extras(self.job.name, self.kind, self.job.extra_columns, self.job.keep_ext, tables)
        if self.job.load_data:
            self.load_data = self._target("asking whether the target allows LOAD DATA LOCAL", self._load_data_allowed)
        partition = None if self.part is None else (self.part, self.job.workers)
        with database_errors("source", self.job.source_url):
            self.source = SourceTable(self.source_engine, self.job.table, self.job.source_columns, self.job.sellers,
                                      partition)

    def work(self, window: Window) -> None:
        """A worker's whole life: its share of `window`, on connections of its own."""
        try:
            self._open()
            with _few_collections():
                self._read(window)
        finally:
            self.engines.close()

    def _load_data_allowed(self) -> bool:
        with self.target_engine.connect() as connection:
            return load_data_allowed(connection)

    def _load_watermark(self) -> Position | None:
        with self.target_engine.begin() as connection:
            return load_watermark(connection, self.sink.tables[WATERMARK], self.job.name, text_key=self.source.text_key)

    def _start(self, window: Window | None) -> int:
        with self.target_engine.begin() as connection:
            return start_run(connection, self.sink.tables[RUN], self.job.name, self.mode, window)

    def _finish(self, run_id: int, outcome: str, error: BaseException | None) -> None:
        message = None if error is None else (str(error) or f"stopped by {type(error).__name__}")

        def record() -> None:
            with self.target_engine.begin() as connection:
                finish_run(connection, self.sink.tables[RUN], run_id, outcome, self.counts, message)

        try:
            self._target("recording the run's outcome", record)
        except EtlError:
            if error is None:
                raise
            # The run is failing already (often for this same reason); its own error is the one to report.
            log.warning("job %s: could not record the outcome of run %s", self.job.name, run_id)

    def _read_window(self, window: Window | None) -> None:
        if self.mode == "run":
            orphans = self._source("reading rows without jdp_modified",
                                   lambda: self.source.null_modified(_NULL_MODIFIED_LIMIT))
            if orphans:
                self._process(orphans, watermark=False)
        if window is None:
            return
        if self.job.workers > 1 and not is_sqlite(self.job.target_url):
            self._read_in_workers(window)
        else:
            self._read(window)

    def _read(self, window: Window) -> None:
        after = window.start
        while True:
            stopping.check_stop()
            if self.shared is not None and self.shared.stop.is_set():
                raise _StopAsked()
            batch = self._source(
                "reading a batch",
                lambda: self.source.read_batch(window, after, self.job.batch_size, self.job.batch_bytes),
            )
            if not batch:
                return
            self._process(batch, watermark=self.mode == "run")
            if self.progress is not None:
                self.progress.advance(self.counts)
            after = batch[-1].position

    def _read_in_workers(self, window: Window) -> None:
        """Split `window` across `workers` processes by key; advance the watermark as they commit.

        Each worker writes the keys whose remainder modulo `workers` is its number, so no two
        write the same trade. This process keeps the job lock, checks it before each watermark
        move, and moves the watermark only to where every worker has committed. A failing worker
        stops the others after their batch in hand; so does a stop of this process.
        """
        workers = self.job.workers
        # spawn, not fork: a forked child would share this process's pooled connections (the job
        # lock's among them) and could close them under it.
        context = multiprocessing.get_context("spawn")
        channel = context.Queue()
        shared = _Shared(context.Event(), context.Lock(), context.Value("q", self.counts.rows_read, lock=False),
                         context.Value("q", self.counts.rejects, lock=False))
        processes = [
            context.Process(target=_worker_main, name=f"etl-{self.job.name}-{part}", daemon=True,
                            args=(self.job, self.mode, window, part, shared, channel, log.getEffectiveLevel(),
                                  logs.json_enabled()))
            for part in range(workers)
        ]
        before = dataclasses.replace(self.counts)
        reported = [RunCounts() for _ in range(workers)]
        committed: list[Position | None] = [None] * workers
        finished = [False] * workers
        silent = [0] * workers
        for process in processes:
            process.start()
        try:
            while not all(finished):
                stopping.check_stop()
                try:
                    part, position, counts, failure = channel.get(timeout=0.2)
                except queue.Empty:
                    for part, process in enumerate(processes):
                        silent[part] += not finished[part] and not process.is_alive()
                        if silent[part] >= _SILENT_POLLS:
                            raise EtlError(f"job {self.job.name!r}: worker {part} died "
                                           f"(exit code {process.exitcode}) without a word") from None
                    continue
                reported[part] = counts
                self.counts = _sum_counts(before, reported)
                if self.progress is not None:
                    self.progress.advance(self.counts)
                if failure is not None:
                    raise failure
                if position == _STOPPED:
                    # Only a stop this process asked for ends a share early, so this cannot come
                    # before the loop is left; if it did, the share is not done: say so.
                    raise EtlError(f"job {self.job.name!r}: worker {part} stopped before its share was done")
                if position == _FINISHED:
                    finished[part] = True
                else:
                    committed[part] = position
                if self.mode == "run":
                    self._move_watermark(committed_by_all(committed, finished))
        except BaseException:
            shared.stop.set()
            raise
        finally:
            # Keep reading while they finish the batch in hand: a worker cannot exit while what
            # it put in the channel waits to be read, and its last commits belong in the counts.
            for process in processes:
                while process.is_alive():
                    process.join(0.1)
                    while True:
                        try:
                            part, _position, counts, _failure = channel.get_nowait()
                        except queue.Empty:
                            break
                        reported[part] = counts
            self.counts = _sum_counts(before, reported)
            channel.close()

    def _move_watermark(self, reached: Position | None) -> None:
        if reached is None or self.watermark == advance(self.watermark, reached):
            return
        position = advance(self.watermark, reached)

        def save() -> None:
            self.lock.ensure()
            with self.target_engine.begin() as connection:
                save_watermark(connection, self.sink.tables[WATERMARK], self.job.name, position, utcnow())

        self._target("moving the watermark", save)
        self.watermark = position

    def _process(self, batch: Sequence[Push], *, watermark: bool) -> None:
        self.counts.rows_read += len(batch)
        if self.shared is not None:
            with self.shared.lock:
                self.shared.rows_read.value += len(batch)
        present = None
        if self.mode == "run":
            # Re-read rows already written (the lookback) are skipped before parsing.
            def held() -> dict[int, tuple]:
                with self.target_engine.connect() as connection:
                    keys = [push.target_key for push in batch if push.target_key is not None]
                    return self.sink.held_versions(connection, keys, lock=False)

            present = self._target("checking what is written", held)
            done = Sink.already_written(batch, present)
            todo = [push for push in batch if push.key not in done]
        else:
            todo = list(batch)  # a retranslate rewrites what it reads: that is what it is for
        outcomes = self.sink.fitting(
            [translate_push(self.kind, push, self.job.source_columns, self.extras) for push in todo])
        for outcome in outcomes:
            if isinstance(outcome, Translated):
                for warning in outcome.rows.warnings:
                    self.counts.warnings += 1
                    log.info("job %s, %s %s: %s", self.job.name, self.kind.key_column, outcome.push.key, warning)
        self._check_budget(sum(isinstance(outcome, Rejected) for outcome in outcomes))
        self._write(outcomes, batch[-1].position if watermark else None, present)

    def _check_budget(self, new_rejects: int) -> None:
        """Stop before committing a batch that takes the run past its reject budget.

        Workers judge the run's tallies, so with N workers a run may end up to N - 1 batches'
        rejects past the budget (each judged before the others committed theirs).
        """
        rows_read, rejects = self.counts.rows_read, self.counts.rejects
        if self.shared is not None:
            with self.shared.lock:
                rows_read, rejects = self.shared.rows_read.value, self.shared.rejects.value
        rejects += new_rejects
        over_count = self.job.max_rejects is not None and rejects > self.job.max_rejects
        over_share = (
            self.job.max_reject_share is not None
            and rows_read >= _BUDGET_MIN_ROWS
            and rejects / rows_read > self.job.max_reject_share
        )
        if over_count or over_share:
            raise RejectBudgetExceeded(
                f"job {self.job.name!r}: {rejects} rejects in {rows_read} rows read exceeds its budget "
                f"(max_rejects {self.job.max_rejects}, max_reject_share {self.job.max_reject_share}); "
                "the watermark stops before this batch. So many rejects usually mean the translator is wrong: "
                "see `etl rejects`"
            )

    def _write(self, outcomes: Sequence[Outcome], position: Position | None,
               present: Collection[int] | None = None) -> None:
        """Commit one batch, and the watermark move to `position` (None: the watermark stays).

        `present`: the keys the target held when the batch was checked (see `Sink.write`).

        A batch the target refuses is split until the refused push is found and rejected alone.
        """
        now = utcnow()
        reached = self.watermark if position is None else advance(self.watermark, position)

        def commit(load_data: bool) -> int:
            if self.lock is not None:
                self.lock.ensure()
            with self.target_engine.begin() as connection:
                written = self.sink.write(
                    connection, outcomes, replace_equal=self.mode != "run", now=now, load_data=load_data,
                    present=present,
                )
                if reached != self.watermark and self.part is None:
                    save_watermark(connection, self.sink.tables[WATERMARK], self.job.name, reached, now)
                return written

        def write() -> int:
            if self.load_data:
                try:
                    return commit(load_data=True)
                except LoadRefused as refused:
                    log.debug("job %s: %s; writing the batch again with INSERT", self.job.name, refused)
                except LoadDisabled as disabled:
                    log.warning("job %s: the target refuses LOAD DATA LOCAL (%s); writing with INSERT from now on",
                                self.job.name, disabled)
                    self.load_data = False
            return commit(load_data=False)

        try:
            written = self._target("writing a batch", write)
        except ValueRefused as refused:
            # The target refused a value (too long, out of range, a CHECK): find the push and reject it alone.
            self._split(outcomes, refused, position, present)
            return
        self.watermark = reached
        rejects = sum(isinstance(item, Rejected) for item in outcomes)
        self.counts.trades_written += written
        self.counts.rejects += rejects
        if self.shared is not None:
            with self.shared.lock:
                self.shared.rejects.value += rejects
        if self.report is not None:
            self.report(reached)

    def _split(self, outcomes: Sequence[Outcome], cause: ValueRefused, position: Position | None,
               present: Collection[int] | None) -> None:
        if len(outcomes) > 1:
            middle = len(outcomes) // 2
            self._write(outcomes[:middle], None if position is None else outcomes[middle - 1].push.position, present)
            self._write(outcomes[middle:], position, present)
            return
        (item,) = outcomes
        if isinstance(item, Rejected):
            raise EtlError(f"target database refused even the reject of {item.push.key}: {cause.detail}")
        reason = f"the target refused the translated rows: {cause.detail}"
        self._write([Rejected(item.push, reason)], position, present)

    def retry_rejects(self) -> None:
        """Read the open rejects' keys again from the source and write what now translates."""
        reject = self.sink.tables[REJECT]

        key = reject_column(reject, text_key=self.source.text_key)

        def open_keys() -> list[int | str]:
            with self.target_engine.connect() as connection:
                query = sa.select(key).where(reject.c.job == self.job.name, reject.c.resolved_at.is_(None))
                return list(connection.execute(query.order_by(key)).scalars())

        keys = self._target("reading open rejects", open_keys)
        for chunk in chunks(keys, self.job.batch_size):
            stopping.check_stop()
            batch = self._source("reading rejected pushes", lambda: self.source.read_keys(chunk))
            self.counts.missing += len(chunk) - len(batch)
            if batch:
                self._process(batch, watermark=False)


def _sum_counts(before: RunCounts, parts: Sequence[RunCounts]) -> RunCounts:
    fields = [field.name for field in dataclasses.fields(RunCounts)]
    return RunCounts(**{name: getattr(before, name) + sum(getattr(part, name) for part in parts) for name in fields})


def run_job(job: JobConfig, progress: Progress | None = None) -> RunResult:
    """Incremental run: from `lookback_seconds` before the watermark up to the newest push at start."""

    def plan(watermark: Position | None, source: SourceTable) -> Window | None:
        newest = source.newest()
        if newest is None:
            return None
        return Window(resume_point(watermark, job.lookback_seconds, job.start_from), newest, end_inclusive=True)

    return _Run(job, "run", progress=progress).execute(plan)


def retranslate_job(job: JobConfig, since: datetime, until: datetime, progress: Progress | None = None) -> RunResult:
    """Re-translate rows with jdp_modified in [since, until); the watermark stays where it is."""
    if not since < until:
        raise ConfigError(f"--since ({since}) must be before --until ({until})")
    return _Run(job, "retranslate", progress=progress).execute(
        lambda _watermark, _source: Window(Position(since), until, False))


def retry_rejects(job: JobConfig) -> RunResult:
    """Translate the open rejects' pushes as the source holds them now; the watermark stays where it is."""
    run = _Run(job, "retry")
    return run.execute(lambda _watermark, _source: None, body=run.retry_rejects)


__all__ = ["Progress", "RunResult", "retranslate_job", "retry_rejects", "run_job", "translate_push"]
