"""The watermark: the (jdp_modified, key) pair of the last source row committed for a job.

The pair is stored as etl_watermark (jdp_modified, tid) for the integer keys of Jushita's
tables, and (jdp_modified, key_text) with tid 0 for a text key column (a 1688 landing table).

Ordering on the pair, never on the time alone, is what keeps the tens of thousands of
rows that share one second in a sale peak from being lost at a batch boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from etl.clock import to_second
from etl.database.tables import upsert


@dataclass(frozen=True)
class Position:
    """A point in keyset order. `key=None` stands before every key of that second."""

    modified: datetime
    key: int | str | None = None

    def _order(self) -> tuple:
        # The keys of one job are all ints or all strs (a text key column); None sorts before both.
        return (self.modified, self.key is not None, 0 if self.key is None else self.key)

    def __lt__(self, other: Position) -> bool:
        return self._order() < other._order()

    def __le__(self, other: Position) -> bool:
        return self._order() <= other._order()

    def __gt__(self, other: Position) -> bool:
        return self._order() > other._order()

    def __ge__(self, other: Position) -> bool:
        return self._order() >= other._order()


def resume_point(watermark: Position | None, lookback_seconds: int, start_from: datetime | None) -> Position | None:
    """Where a run starts reading: `lookback_seconds` before the watermark, to catch late commits.

    With no watermark yet the run starts at `start_from` (or the beginning of the table).
    """
    if watermark is None:
        return Position(start_from) if start_from is not None else None
    if lookback_seconds == 0:
        return watermark
    return Position(watermark.modified - timedelta(seconds=lookback_seconds))


def advance(current: Position | None, reached: Position) -> Position:
    """The watermark never moves backwards: re-reading the lookback leaves it where it was."""
    return reached if current is None or reached > current else current


def committed_by_all(committed: Sequence[Position | None], finished: Sequence[bool]) -> Position | None:
    """How far the watermark may go when a window is split across workers by key.

    Worker i has committed every row of its share up to `committed[i]`, and all of its share
    once `finished[i]`. Every row up to the smallest position of a worker still running is
    committed in every share; when all have finished, everything up to the last row any of them
    read is. None: not yet anywhere.
    """
    running = [position for position, done in zip(committed, finished) if not done]
    if running:
        return None if None in running else min(running)
    reached = [position for position in committed if position is not None]
    return max(reached) if reached else None


def load_watermark(connection: sa.Connection, table: sa.Table, job: str, *, text_key: bool = False) -> Position | None:
    """The job's watermark; `text_key`: the source's key column is text, kept in key_text."""
    row = connection.execute(
        sa.select(table.c.jdp_modified, table.c.tid, table.c.key_text).where(table.c.job == job)
    ).first()
    if row is None:
        return None
    return Position(row.jdp_modified, row.key_text if text_key else row.tid)


def save_watermark(connection: sa.Connection, table: sa.Table, job: str, position: Position, now: datetime) -> None:
    if position.key is None:
        raise ValueError("a watermark is the position of a row read, with its key")
    text = isinstance(position.key, str)
    # (to_second(t), key) sorts before (t, key): a run resuming there only re-reads.
    upsert(
        connection,
        table,
        [{"job": job, "jdp_modified": to_second(position.modified), "tid": 0 if text else position.key,
          "key_text": position.key if text else None, "updated_at": now}],
    )
