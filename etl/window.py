"""Keyset positions and windows: pure values and their arithmetic, no database.

A source is read in (modified, key) order. A `Position` is a point in that order, the watermark
is the position of the last row a job committed, and a `Window` is what one run reads: rows after
a position up to a modified time frozen when the run starts.

Ordering on the pair, never on the time alone, is what keeps the tens of thousands of rows that
share one second in a sale peak from being lost at a batch boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from etl.errors import ConfigError


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
    """Where a run starts reading: `lookback_seconds` before the watermark's second, to catch late commits.

    With no lookback the run still reads the watermark's own second again: a run reads up to the
    newest second while the platform may still be writing it, and a row it already passed in that
    second may be pushed again with the same jdp_modified (a trade paid within the second it was
    created). With no watermark yet the run starts at `start_from` (or the beginning of the table).
    """
    if watermark is None:
        return Position(start_from) if start_from is not None else None
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


@dataclass(frozen=True)
class Window:
    """Rows after `start` (all rows when None) up to `end`, inclusive or not, frozen when a run starts.

    `written_to`: the watermark the run started from, when it re-reads rows up to it (its lookback):
    the target likely holds those already, and a run reads their keys before their documents.
    """

    start: Position | None
    end: datetime
    end_inclusive: bool
    written_to: Position | None = None

    def likely_held(self, after: Position | None) -> bool:
        """Do the rows after `after` begin at or before `written_to`, where the target likely holds them?"""
        return self.written_to is not None and (after is None or after < self.written_to)


@dataclass(frozen=True)
class Period:
    """The modified times [since, until) an operator names (to re-translate, verify or export)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if not self.since < self.until:
            raise ConfigError(f"a period's start ({self.since}) must be before its end ({self.until})")

    def window(self, _watermark: Position | None = None, _newest: Callable[[], datetime | None] | None = None) -> Window:
        """The window of the period; it needs neither the watermark nor the source's newest push."""
        return Window(Position(self.since), self.until, end_inclusive=False)


def batches(read: Callable[[Position | None], Any], start: Position | None,
            end: Callable[[Any], Position] = lambda rows: rows[-1].position) -> Iterator[Any]:
    """Batches in keyset order: `read(after)` gives the rows after a position (nothing: none are
    left), each batch starting after the `end` of the one before (its last row's position)."""
    after = start
    while batch := read(after):
        yield batch
        after = end(batch)
