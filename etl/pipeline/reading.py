"""What a run reads, each read retried on a transient fault: a window batch by batch, the rows
without a modified time, and the pushes of the open rejects."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence


from etl import stopping
from etl.database.tables import chunks
from etl.pipeline.context import RunContext
from etl.translate.push import Push
from etl.window import Position, Window, batches

# Rows without jdp_modified cannot be placed in keyset order; each run rejects up to this many.
_NULL_MODIFIED_LIMIT = 10_000


def window_batches(context: RunContext, window: Window, check: Callable[[], None]) -> Iterator[list[Push]]:
    """The window's pushes in keyset order, a batch at a time; `check` runs before each read, and
    raises to stop there (between batches, where stopping leaves nothing half-done)."""
    job = context.job

    def read(after: Position | None) -> list[Push]:
        check()
        return context.on_source("reading a batch",
                                 lambda: context.source.read_batch(window, after, job.batch_size, job.batch_bytes))

    return batches(read, window.start)


def unplaced(context: RunContext) -> list[Push]:
    """Rows without a modified time (up to a limit a run): keyset order cannot place them."""
    return context.on_source("reading rows without jdp_modified",
                             lambda: context.source.null_modified(_NULL_MODIFIED_LIMIT))


def rejected_batches(context: RunContext) -> Iterator[tuple[Sequence[int | str], list[Push]]]:
    """The open rejects' keys a batch at a time, each with the pushes the source still holds for them."""
    keys = context.on_target("reading open rejects", lambda: _open_reject_keys(context))
    for chunk in chunks(keys, context.job.batch_size):
        stopping.check_stop()
        yield chunk, context.on_source("reading rejected pushes", lambda: context.source.read_keys(chunk))


def _open_reject_keys(context: RunContext) -> list[int | str]:
    with context.target_engine.connect() as connection:
        return context.sink.rejects.open_keys(connection)
