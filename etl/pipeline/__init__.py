"""run_job / retranslate_job / retry_rejects: window -> scan -> parse -> translate -> write + advance.

Each batch's writes, its rejects and the watermark move commit in one target
transaction, so at every instant every source row at or below the committed
watermark is in the target, translated or rejected: a run killed anywhere and run
again ends with the same tables as an uninterrupted run.

A transient database fault (connection dropped or killed, server restart, lock-wait
timeout, deadlock) rolls the batch back; it is read and written again after a
bounded, jittered exponential back-off, up to the job's `retries`.

One module a responsibility:
    plan         what a run, a re-translate and a retry of rejects differ in (pure, frozen)
    context      what a run has open: engines, reflected tables, the job lock; opened and closed once
    retry        the retry policy: Transient waits and runs again, the rest go up
    reading      what a run reads: a window's batches, rows without a modified time, open rejects
    step         one batch: skip written, translate, reject budget, write, bisect a refused value
    workers      a window split across processes by key: start, messages, death, drain
    coordinator  one run: watermark, window, reading here or in workers, the run log
"""

from __future__ import annotations

from datetime import datetime

from etl.config import JobConfig
from etl.pipeline.coordinator import Progress, RunResult, execute
from etl.pipeline.plan import RETRY_PLAN, retranslate_plan, run_plan
from etl.shard import WHOLE, Shard
from etl.window import Period


def run_job(job: JobConfig, progress: Progress | None = None, shard: Shard = WHOLE) -> RunResult:
    """Incremental run of `shard`'s keys: from `lookback_seconds` before its watermark up to the newest push at start."""
    return execute(job, run_plan(job), progress, shard)


def retranslate_job(job: JobConfig, since: datetime, until: datetime, progress: Progress | None = None,
                    shard: Shard = WHOLE) -> RunResult:
    """Re-translate `shard`'s rows with jdp_modified in [since, until); the watermark stays where it is."""
    return execute(job, retranslate_plan(Period(since, until)), progress, shard)


def retry_rejects(job: JobConfig) -> RunResult:
    """Translate the open rejects' pushes as the source holds them now; the watermark stays where it is."""
    return execute(job, RETRY_PLAN)


__all__ = ["Progress", "RunResult", "retranslate_job", "retry_rejects", "run_job"]
