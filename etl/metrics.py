"""Metrics for Prometheus: one text file per invocation, for node_exporter's textfile collector.

The file is written whole and renamed into place (prometheus_client's `write_to_textfile`), so
the collector never reads half of it. Every value comes from the target's own bookkeeping
(`etl status`), so a run and a later `etl status --metrics-file` write the same series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from etl.errors import EtlError
from etl.status import JobStatus


def _timestamp(moment: datetime) -> float:
    """The job writes its own times in UTC, naive."""
    return moment.replace(tzinfo=timezone.utc).timestamp()


def _write_shards(gauge: Callable[..., Gauge], statuses: Sequence[JobStatus]) -> None:
    """Each shard's own series, for the jobs that run as shards (declared only when one does): a sharded
    job's other series are the job as one (its lag: the worst shard's)."""
    sharded = [status for status in statuses if status.shards]
    if not sharded:
        return
    lag = gauge("shard_lag_seconds", "Newest source modified time of the shard's keys minus its watermark "
                "(NaN: never committed).", ("job", "shard"))
    last_success = gauge("shard_last_success_timestamp_seconds",
                         "When the shard's last successful run finished (Unix time).", ("job", "shard"))
    for status in sharded:
        for shard in status.shards:
            lag.labels(status.job, shard.shard).set(float("nan") if shard.lag_seconds is None else shard.lag_seconds)
            if shard.last_success is not None:
                last_success.labels(status.job, shard.shard).set(_timestamp(shard.last_success))


def write_metrics(path: Path, statuses: Sequence[JobStatus]) -> None:
    registry = CollectorRegistry()

    def gauge(name: str, documentation: str, labels: Sequence[str] = ("job",)) -> Gauge:
        return Gauge(f"etl_{name}", documentation, labels, registry=registry)

    rows_read = gauge("last_run_rows_read", "Source rows the job's last run read.")
    written = gauge("last_run_trades_written", "Target parents (trades, refunds) the job's last run changed.")
    rejects = gauge("last_run_rejects", "Pushes the job's last run quarantined.")
    duration = gauge("last_run_duration_seconds", "How long the job's last run took.")
    succeeded = gauge("last_run_success", "1 when the job's last run ended ok, 0 otherwise.")
    last_success = gauge("last_success_timestamp_seconds", "When the job's last successful run finished (Unix time).")
    lag = gauge("lag_seconds", "Newest source modified time minus the job's watermark (NaN: never ran).")
    open_rejects = gauge("open_rejects", "Quarantined pushes of the job still open.")
    _write_shards(gauge, statuses)
    for status in statuses:
        job = status.job
        lag.labels(job).set(float("nan") if status.lag_seconds is None else status.lag_seconds)
        open_rejects.labels(job).set(status.open_rejects)
        if status.last_success is not None:
            last_success.labels(job).set(_timestamp(status.last_success))
        last = status.last_run
        if last is not None:
            rows_read.labels(job).set(last.rows_read)
            written.labels(job).set(last.trades_written)
            rejects.labels(job).set(last.rejects)
            succeeded.labels(job).set(1 if last.outcome == "ok" else 0)
            if last.finished_at is not None:
                duration.labels(job).set((last.finished_at - last.started_at).total_seconds())
    try:
        write_to_textfile(str(path), registry)
    except OSError as error:
        raise EtlError(f"cannot write the metrics file {path}: {error.strerror or error}") from None
