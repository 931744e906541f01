"""A run's counts, and its reject budget judged on them: a run that would pass `max_rejects` or
`max_reject_share` stops before it commits the batch that crosses the line."""

from __future__ import annotations

from etl.config import JobConfig
from etl.errors import RejectBudgetExceeded
from etl.runs import RunCounts

# A share-of-rows reject budget is judged only once a run has read this many rows.
_BUDGET_MIN_ROWS = 100


class Tally:
    """A run's counts in this process, and the run-wide figures its reject budget is judged on."""

    def __init__(self, counts: RunCounts) -> None:
        self.counts = counts

    def read(self, rows: int, documents: int) -> None:
        self.counts.rows_read += rows
        self.counts.documents_read += documents

    def committed(self, written: int, rejects: int) -> None:
        self.counts.pushes_written += written
        self.counts.rejects += rejects

    def run_totals(self) -> tuple[int, int]:
        """Rows read and rejects so far in the whole run."""
        return self.counts.rows_read, self.counts.rejects


def check_budget(job: JobConfig, rows_read: int, rejects: int) -> None:
    """Stop before committing a batch that takes the run to `rejects` in `rows_read`, past its reject budget."""
    over_count = job.max_rejects is not None and rejects > job.max_rejects
    over_share = (
        job.max_reject_share is not None
        and rows_read >= _BUDGET_MIN_ROWS
        and rejects / rows_read > job.max_reject_share
    )
    if over_count or over_share:
        raise RejectBudgetExceeded(
            f"job {job.name!r}: {rejects} rejects in {rows_read} rows read exceeds its budget "
            f"(max_rejects {job.max_rejects}, max_reject_share {job.max_reject_share}); "
            "the watermark stops before this batch. So many rejects usually mean the translator is wrong: "
            "see `etl rejects`"
        )
