"""What a run, a re-translate and a retry of rejects differ in, as one frozen value each.

The loop reads these facts; nothing else asks which mode it is in. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from etl.config import JobConfig
from etl.window import Period, Position, Window, resume_point


@dataclass(frozen=True)
class CatchUp:
    """From `lookback_seconds` before the watermark (or `start_from`, with none yet) up to the
    newest push when the run starts: the upper bound is frozen then."""

    lookback_seconds: int
    start_from: datetime | None

    def window(self, watermark: Position | None, newest: Callable[[], datetime | None]) -> Window | None:
        """None: the source is empty."""
        end = newest()
        if end is None:
            return None
        start = resume_point(watermark, self.lookback_seconds, self.start_from)
        return Window(start, end, end_inclusive=True, written_to=watermark)


@dataclass(frozen=True)
class Plan:
    """What one kind of run reads, and how it writes what it read."""

    mode: str  # the name etl_run and the summary give it
    # Where the window comes from; None: there is no window, the open rejects' keys are read instead.
    scope: CatchUp | Period | None
    # A push the target holds already (same key, same modified time) is skipped before it is parsed.
    skip_written: bool
    # A push of the version the target holds is written again (after a translator fix, say).
    replace_equal: bool
    # Each batch moves the watermark to its last push, in the batch's transaction.
    moves_watermark: bool
    # Rows without a modified time, which keyset order cannot place, are read and rejected first.
    rejects_null_modified: bool

    @property
    def reads_rejects(self) -> bool:
        return self.scope is None

    def window(self, watermark: Position | None, newest: Callable[[], datetime | None]) -> Window | None:
        """The window to read, given the watermark and the source's newest modified time (asked only if needed)."""
        return None if self.scope is None else self.scope.window(watermark, newest)


def run_plan(job: JobConfig) -> Plan:
    """An incremental run: up to the newest push, from a lookback before the watermark, which it moves."""
    return Plan("run", CatchUp(job.lookback_seconds, job.start_from), skip_written=True, replace_equal=False,
                moves_watermark=True, rejects_null_modified=True)


def retranslate_plan(period: Period) -> Plan:
    """A re-translate of `period`: everything in it is written again; the watermark stays where it is."""
    return Plan("retranslate", period, skip_written=False, replace_equal=True, moves_watermark=False,
                rejects_null_modified=False)


# The open rejects' pushes as the source holds them now; the watermark stays where it is.
RETRY_PLAN = Plan("retry", None, skip_written=False, replace_equal=True, moves_watermark=False,
                  rejects_null_modified=False)
