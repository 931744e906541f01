"""What a run reads, each read retried on a transient fault: a window batch by batch, the rows
without a modified time, and the pushes of the open rejects.

A run that skips what the target holds (`Plan.skip_written`) decides here which documents to read at
all: where the window re-reads rows up to the run's starting watermark (its lookback), a batch is
read as its rows' marks (keys, modified times, content hashes) first, the target is asked which of
those pushes it holds, and only the documents of the others are read; past the watermark, where the
target rarely holds anything, the documents come with the keys in one read. A source without a hash
column has no mark to compare: its documents are read with the keys, and compared once hashed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from etl import stopping
from etl.database.tables import IDS_CHUNK, chunks
from etl.pipeline.context import RunContext
from etl.pipeline.plan import Plan
from etl.sink import Held, already_written
from etl.source import SellerMerge
from etl.translate.push import Push
from etl.window import Position, Window, batches

# Rows without jdp_modified cannot be placed in keyset order; each run rejects up to this many.
_NULL_MODIFIED_LIMIT = 10_000
# Marks are read this many at a time (or a batch's size, if larger): the target is asked about them in
# one range of its version index, the keys to write among them in one id list (etl.database.tables.IDS_CHUNK),
# and a window the target holds costs few round trips.
_MARKS_PAGE = IDS_CHUNK


@dataclass(frozen=True)
class Batch:
    """What one transaction writes: `pushes` to translate (their documents read), covering `rows` source
    rows (those skipped as written included) up to `end` in keyset order (None: not a window's batch),
    for which `documents` documents were read; `held`, the versions the target held for their keys when
    asked (see `Sink.write`)."""

    pushes: Sequence[Push]
    rows: int
    documents: int
    end: Position | None = None
    held: Mapping[int, Held] | None = None

    @classmethod
    def of(cls, pushes: Sequence[Push]) -> Batch:
        """Pushes read by key (rejected ones, rows without a modified time): all to write, no position."""
        return cls(pushes, len(pushes), len(pushes))


def window_batches(context: RunContext, plan: Plan, window: Window, check: Callable[[], None]) -> Iterator[Batch]:
    """The window's batches in keyset order; `check` runs before each read, and raises to stop there
    (between batches, where stopping leaves nothing half-done)."""
    job, source = context.job, context.source
    marks_page = max(job.batch_size, _MARKS_PAGE)
    # A seller list's rows are merged a batch's size at a time: a larger page of marks would be asked
    # about again with every batch written from it.
    merge = SellerMerge(source, window, job.batch_size, job.batch_bytes) if source.by_seller else None

    def read(after: Position | None) -> Batch | None:
        check()
        marks_first = plan.skip_written and source.hashed and window.likely_held(after)
        if merge is not None:
            found = context.on_source("reading a batch", lambda: merge.read(after, documents=not marks_first))
        else:
            found = context.on_source("reading a batch", lambda: source.read_batch(
                window, after, marks_page if marks_first else job.batch_size, job.batch_bytes,
                documents=not marks_first))
        if not found:
            return None
        if not plan.skip_written:
            return Batch(found, len(found), len(found), found[-1].position)
        if not marks_first:
            held = context.on_target("checking what is written", lambda: _held(context, found))
            done = already_written(found, held)
            return Batch([push for push in found if push.key not in done], len(found), len(found),
                         found[-1].position, held)
        same = context.on_target("checking what is written", lambda: _holding_same(context, found))
        todo = [push for push in found if push.key not in same]
        covered = len(found)
        if len(todo) > job.batch_size:
            # One transaction writes a batch's size of pushes: the batch ends before the next to write.
            covered = next(index for index, push in enumerate(found) if push.key == todo[job.batch_size].key)
            todo = todo[:job.batch_size]
        if not todo:
            return Batch(todo, covered, 0, found[covered - 1].position, {})
        # The keys to write, looked up one by one: what the target holds of them, at any version, is what
        # the write's locking read covers (Sink.write's `present`).
        held = context.on_target("checking what is written", lambda: _held(context, todo))
        pushes, complete = context.on_source("reading documents",
                                             lambda: source.read_documents(todo, job.batch_bytes))
        if not complete:
            covered = _covered(found[:covered], {push.key for push in todo}, pushes)
        keys = {push.key for push in found[:covered]}
        return Batch([push for push in pushes if push.key in keys], covered, len(pushes), found[covered - 1].position,
                     held)

    return batches(read, window.start, end=lambda batch: batch.end)


def _holding_same(context: RunContext, marks: Sequence[Push]) -> set[int | str]:
    with context.target_engine.connect() as connection:
        return context.sink.holding_same(connection, marks)


def _held(context: RunContext, found: Sequence[Push]) -> dict[int, Held]:
    with context.target_engine.connect() as connection:
        keys = [push.target_key for push in found if push.target_key is not None]
        return context.sink.held_versions(connection, keys, lock=False)


def _covered(marks: Sequence[Push], todo: set, fetched: Sequence[Push]) -> int:
    """How many of `marks` a read of their documents cut short by its byte bound covers: every mark up to
    the first to be read whose document was not. The read is in keyset order as the rows are now: one
    not found before the last read is gone or was pushed again later (it comes again at its new place)."""
    got = {push.key for push in fetched}
    last = fetched[-1].position
    return next((index for index, mark in enumerate(marks)
                 if mark.key in todo and mark.key not in got and mark.position > last), len(marks))


def unplaced(context: RunContext) -> Batch:
    """Rows without a modified time (up to a limit a run): keyset order cannot place them."""
    return Batch.of(context.on_source("reading rows without jdp_modified",
                                      lambda: context.source.null_modified(_NULL_MODIFIED_LIMIT)))


def rejected_batches(context: RunContext) -> Iterator[tuple[Sequence[int | str], Batch]]:
    """The open rejects' keys a batch at a time, each with the pushes the source still holds for them."""
    keys = context.on_target("reading open rejects", lambda: _open_reject_keys(context))
    for chunk in chunks(keys, context.job.batch_size):
        stopping.check_stop()
        yield chunk, Batch.of(context.on_source("reading rejected pushes", lambda: context.source.read_keys(chunk)))


def _open_reject_keys(context: RunContext) -> list[int | str]:
    with context.target_engine.connect() as connection:
        return context.sink.rejects.open_keys(connection)
