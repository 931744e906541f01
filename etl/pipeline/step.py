"""One batch of pushes, from read (etl.pipeline.reading: what the target holds is skipped there) to
committed: parse and translate, judge the reject budget, write (with LOAD DATA where the target
allows it), and when the target refuses a value, find the push that holds it by bisection and
reject it alone.

Each write commits the batch's rows, its rejects and (for a run) the watermark's move in one
target transaction: at every instant every source row at or below the committed watermark is in
the target, translated or rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from etl.bookkeeping import WATERMARK
from etl.clock import utcnow
from etl.database.load_data import LoadDisabled, LoadRefused
from etl.errors import EtlError, ValueRefused
from etl.pipeline.budget import Tally, check_budget
from etl.pipeline.context import RunContext
from etl.pipeline.plan import Plan
from etl.pipeline.reading import Batch
from etl.translate.push import Outcome, Rejected, Translated, translate_push
from etl.watermark import save_watermark
from etl.window import Position, advance

log = logging.getLogger("etl")


@dataclass(frozen=True)
class _Commit:
    """One transaction's worth of a batch: its outcomes, and the watermark it moves to (when `saves`)."""

    outcomes: Sequence[Outcome]
    reached: Position | None
    saves: bool
    present: Collection[int] | None  # the keys the target held when the batch was checked (see `Sink.write`)
    now: datetime


class BatchStep:
    """Writes the batches of one run in one process, as its plan says."""

    def __init__(self, context: RunContext, plan: Plan, tally: Tally, *, saves_watermark: bool) -> None:
        """`saves_watermark`: commit the watermark's move with each batch (a worker only reports it)."""
        self.context, self.plan, self.tally = context, plan, tally
        self.job, self.kind, self.sink, self.extras = context.job, context.kind, context.sink, context.extras
        self.saves_watermark = saves_watermark
        self.load_data = context.load_data

    def __call__(self, batch: Batch, watermark: Position | None, *, advances: bool) -> Position | None:
        """Write `batch`; returns the watermark after it: moved to its end when `advances`."""
        self.tally.read(batch.rows, batch.documents)
        kind, columns, extend = self.kind, self.job.source_columns, self.extras.apply
        outcomes = self.sink.refuse_overlong([translate_push(kind, push, columns, extend) for push in batch.pushes])
        self._count_warnings(outcomes)
        rows_read, rejects = self.tally.run_totals()
        # With workers the tallies are the run's, each judged before the others committed theirs: a run
        # may end up to (workers - 1) batches' rejects past its budget.
        check_budget(self.job, rows_read, rejects + sum(isinstance(outcome, Rejected) for outcome in outcomes))
        return self._write(outcomes, batch.end if advances else None, watermark, batch.held)

    def _count_warnings(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Translated):
                for warning in outcome.rows.warnings:
                    self.tally.counts.warnings += 1
                    log.info("job %s, %s %s: %s", self.job.name, self.kind.key_column, outcome.push.key, warning)
            elif outcome.bug:
                log.warning("translator %s failed on %s %s", self.kind.name, self.kind.key_column, outcome.push.key)

    def _write(self, outcomes: Sequence[Outcome], position: Position | None, watermark: Position | None,
               present: Collection[int] | None) -> Position | None:
        """Commit `outcomes`, and the watermark's move to `position` (None: it stays); returns the watermark."""
        reached = watermark if position is None else advance(watermark, position)
        commit = _Commit(outcomes, reached, self.saves_watermark and reached != watermark, present, utcnow())
        if not outcomes and not commit.saves:
            return reached  # a batch the target held whole, behind the watermark: nothing to commit
        try:
            written = self.context.on_target("writing a batch", lambda: self._commit(commit))
        except ValueRefused as refused:
            return self._bisect(outcomes, refused, position, watermark, present)
        self.tally.committed(written, sum(isinstance(item, Rejected) for item in outcomes))
        return reached

    def _commit(self, commit: _Commit) -> int:
        """One transaction, with LOAD DATA while the target takes it; returns how many parents it changed."""
        if self.load_data:
            try:
                return self._transaction(commit, load_data=True)
            except LoadRefused as refused:
                log.debug("job %s: %s; writing the batch again with INSERT", self.job.name, refused)
            except LoadDisabled as disabled:
                log.warning("job %s: the target refuses LOAD DATA LOCAL (%s); writing with INSERT from now on",
                            self.job.name, disabled)
                self.load_data = False
        return self._transaction(commit, load_data=False)

    def _transaction(self, commit: _Commit, *, load_data: bool) -> int:
        self.context.lock.ensure()
        with self.context.target_engine.begin() as connection:
            written = self.sink.write(connection, commit.outcomes, replace_equal=self.plan.replace_equal,
                                      now=commit.now, load_data=load_data, present=commit.present)
            if commit.saves:
                save_watermark(connection, self.sink.tables[WATERMARK], self.job.name, commit.reached, commit.now,
                               self.context.shard)
            return written

    def _bisect(self, outcomes: Sequence[Outcome], refused: ValueRefused, position: Position | None,
                watermark: Position | None, present: Collection[int] | None) -> Position | None:
        """Write the halves apart until the push whose value the target refused is alone; reject it."""
        if len(outcomes) > 1:
            middle = len(outcomes) // 2
            watermark = self._write(outcomes[:middle], None if position is None else outcomes[middle - 1].push.position,
                                    watermark, present)
            return self._write(outcomes[middle:], position, watermark, present)
        (item,) = outcomes
        if isinstance(item, Rejected):
            raise EtlError(f"target database refused even the reject of {item.push.key}: {refused.detail}")
        reason = f"the target refused the translated rows: {refused.detail}"
        return self._write([Rejected(item.push, reason)], position, watermark, present)
