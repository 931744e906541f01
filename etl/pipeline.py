"""run_job / retranslate_job: window -> scan -> parse -> translate -> write + advance, batch by batch.

Each batch's writes, its rejects and the watermark move commit in one target
transaction, so at every instant every source row at or below the committed
watermark is in the target, translated or rejected: a run killed anywhere and run
again ends with the same tables as an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from etl.config import JobConfig
from etl.database import database_errors, reflect, source_engine, target_engine
from etl.errors import ConfigError, EtlError, Interrupted
from etl.lock import job_lock
from etl.runs import RunCounts, finish_run, start_run, utcnow
from etl.sink import REJECT, RUN, WATERMARK, Outcome, Rejected, Sink, Translated
from etl.source import Push, SourceTable, Window
from etl.translate import KINDS, Kind, TranslateError
from etl.watermark import Position, advance, load_watermark, resume_point, save_watermark

log = logging.getLogger("etl")

# Rows without jdp_modified cannot be placed in keyset order; each run rejects up to this many.
_NULL_MODIFIED_LIMIT = 10_000


@dataclass(frozen=True)
class RunResult:
    job: str
    mode: str
    run_id: int
    window: Window | None
    counts: RunCounts
    watermark: Position | None


@dataclass(frozen=True)
class Progress:
    """Handed to an observer after every committed batch."""

    job: str
    counts: RunCounts
    position: Position


Observer = Callable[[Progress], None]


def translate_push(kind: Kind, push: Push) -> Outcome:
    """Parse and translate one push; anything that cannot be translated becomes a reject with its reason."""
    if push.document is None or not push.document.strip():
        return Rejected(push, "jdp_response is empty")
    try:
        document = orjson.loads(push.document)
    except orjson.JSONDecodeError as error:
        return Rejected(push, f"jdp_response is not valid JSON: {error}")
    try:
        rows = kind.translate(document)
    except TranslateError as error:
        return Rejected(push, str(error))
    except (RecursionError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        # A translator bug on odd input: quarantine the push and say so, rather than stop every seller's orders.
        log.warning("translator %s failed on %s %s: %r", kind.name, kind.key_column, push.key, error)
        return Rejected(push, f"translator error (please report it): {type(error).__name__}: {error}")
    if rows.key != push.key:
        return Rejected(
            push, f"the document's {kind.key_column} {rows.key} differs from the row's {kind.key_column} {push.key}"
        )
    return Translated(push, rows)


class _Run:
    """The state of one run of one job: engines, tables, counters and the watermark in hand."""

    def __init__(self, job: JobConfig, mode: str, observer: Observer | None) -> None:
        self.job = job
        self.mode = mode
        self.kind = KINDS[job.kind]
        self.observer = observer
        self.counts = RunCounts()
        self.watermark: Position | None = None
        self.moves_watermark = mode == "run"
        self.source_engine: Engine = source_engine(job.source_url)
        self.target_engine: Engine = target_engine(job.target_url)

    def target_errors(self) -> AbstractContextManager[None]:
        return database_errors("target", self.job.target_url)

    def source_errors(self) -> AbstractContextManager[None]:
        return database_errors("source", self.job.source_url)

    def execute(self, plan: Callable[[Position | None, SourceTable], Window | None]) -> RunResult:
        try:
            with self.target_errors():
                tables = reflect(self.target_engine, Sink.table_names(self.kind))
            self.sink = Sink(self.kind, tables, self.job.name)
            with self.source_errors():
                source = SourceTable(self.source_engine, self.job.table, self.kind.key_column, self.job.sellers)
            with self.target_errors(), job_lock(self.target_engine, self.job.name):
                with self.target_engine.begin() as connection:
                    self.watermark = load_watermark(connection, tables[WATERMARK], self.job.name)
                with self.source_errors():
                    window = plan(self.watermark, source)
                with self.target_engine.begin() as connection:
                    run_id = start_run(connection, tables[RUN], self.job.name, self.mode, window)
                try:
                    self._read(source, window)
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
            return RunResult(self.job.name, self.mode, run_id, window, self.counts, self.watermark)
        finally:
            self.source_engine.dispose()
            self.target_engine.dispose()

    def _finish(self, run_id: int, outcome: str, error: BaseException | None) -> None:
        message = None if error is None else (str(error) or f"stopped by {type(error).__name__}")
        try:
            with self.target_engine.begin() as connection:
                finish_run(connection, self.sink.tables[RUN], run_id, outcome, self.counts, message)
        except DBAPIError as failure:
            if error is None:
                raise
            # The run is failing already (often for this same reason); its own error is the one to report.
            log.warning("could not record the outcome of run %s: %s", run_id, failure.orig)

    def _read(self, source: SourceTable, window: Window | None) -> None:
        if self.mode == "run":
            with self.source_errors():
                orphans = source.null_modified(_NULL_MODIFIED_LIMIT)
            if orphans:
                self._write([Rejected(push, "jdp_modified is NULL: the row cannot be placed in keyset order; "
                                       "fix the row in the source, then it translates on the next run")
                             for push in orphans], watermark=False)
        if window is None:
            return
        batches = source.scan(window, self.job.batch_size)
        while True:
            with self.source_errors():
                batch = next(batches, None)
            if batch is None:
                return
            self.counts.rows_read += len(batch)
            outcomes = [translate_push(self.kind, push) for push in batch]
            for outcome in outcomes:
                if isinstance(outcome, Translated):
                    for warning in outcome.rows.warnings:
                        self.counts.warnings += 1
                        log.info("job %s, %s %s: %s", self.job.name, self.kind.key_column, outcome.push.key, warning)
            self._write(outcomes, watermark=self.moves_watermark)
            if self.observer is not None:
                self.observer(Progress(self.job.name, self.counts, batch[-1].position))

    def _write(self, outcomes: Sequence[Outcome], *, watermark: bool) -> None:
        """Commit one batch with the watermark move; a batch the target refuses is split to find the bad push."""
        now = utcnow()
        reached = advance(self.watermark, outcomes[-1].push.position) if watermark else self.watermark
        with self.target_errors():
            try:
                with self.target_engine.begin() as connection:
                    written = self.sink.write(connection, outcomes, replace_equal=self.mode == "retranslate", now=now)
                    if watermark:
                        save_watermark(connection, self.sink.tables[WATERMARK], self.job.name, reached, now)
            except (DataError, IntegrityError) as refused:
                refusal = refused
            else:
                refusal = None
        if refusal is not None:
            self._split(outcomes, refusal, watermark=watermark)
            return
        self.watermark = reached
        self.counts.trades_written += written
        self.counts.rejects += sum(isinstance(item, Rejected) for item in outcomes)

    def _split(self, outcomes: Sequence[Outcome], cause: DBAPIError, *, watermark: bool) -> None:
        if len(outcomes) > 1:
            middle = len(outcomes) // 2
            self._write(outcomes[:middle], watermark=watermark)
            self._write(outcomes[middle:], watermark=watermark)
            return
        (item,) = outcomes
        if isinstance(item, Rejected):
            raise EtlError(f"target database refused even the reject of {item.push.key}: {cause.orig}")
        reason = f"the target refused the translated rows: {cause.orig}"
        self._write([Rejected(item.push, reason)], watermark=watermark)


def run_job(job: JobConfig, observer: Observer | None = None) -> RunResult:
    """Incremental run: from `lookback_seconds` before the watermark up to the newest push at start."""

    def plan(watermark: Position | None, source: SourceTable) -> Window | None:
        newest = source.newest()
        if newest is None:
            return None
        return Window(resume_point(watermark, job.lookback_seconds, job.start_from), newest, end_inclusive=True)

    return _Run(job, "run", observer).execute(plan)


def retranslate_job(job: JobConfig, since: datetime, until: datetime, observer: Observer | None = None) -> RunResult:
    """Re-translate rows with jdp_modified in [since, until); the watermark stays where it is."""
    if not since < until:
        raise ConfigError(f"--since ({since}) must be before --until ({until})")
    return _Run(job, "retranslate", observer).execute(lambda _watermark, _source: Window(Position(since), until, False))


__all__ = ["Progress", "RunResult", "retranslate_job", "run_job", "translate_push"]
