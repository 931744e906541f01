"""Metrics for Prometheus: a text file for node_exporter's textfile collector, or a push to a Pushgateway.

The file is written whole and renamed into place (prometheus_client's `write_to_textfile`), so
the collector never reads half of it. Every value comes from the target's own bookkeeping
(`etl status`), so a run and a later `etl status --metrics-file` write the same series, and a push
holds what the file would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

from etl.errors import EtlError, MetricsNotPushed
from etl.shard import Shard
from etl.status import JobStatus

# Seconds a push may take: a gateway that does not answer by then is down for this run (the next
# run pushes again), and a pod must not spend its termination grace period waiting on it.
PUSH_TIMEOUT = 5.0


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


def _registry(statuses: Sequence[JobStatus]) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, documentation: str, labels: Sequence[str] = ("job",)) -> Gauge:
        return Gauge(f"etl_{name}", documentation, labels, registry=registry)

    rows_read = gauge("last_run_rows_read", "Source rows the job's last run read.")
    written = gauge("last_run_pushes_written", "Pushes the job's last run wrote: trades or refunds it changed in the target.")
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
            written.labels(job).set(last.pushes_written)
            rejects.labels(job).set(last.rejects)
            succeeded.labels(job).set(1 if last.outcome == "ok" else 0)
            if last.finished_at is not None:
                duration.labels(job).set((last.finished_at - last.started_at).total_seconds())
    return registry


def write_metrics(path: Path, statuses: Sequence[JobStatus]) -> None:
    try:
        write_to_textfile(str(path), _registry(statuses))
    except OSError as error:
        raise EtlError(f"cannot write the metrics file {path}: {error.strerror or error}") from None


def push_metrics(gateway: str, jobs: Sequence[str], statuses: Sequence[JobStatus], shard: Shard) -> None:
    """PUT each job's series to the Pushgateway at `gateway` as a group of its own, {job, instance: the
    shard}: a push replaces its group's last one and no other. A whole job's group has no instance (an
    empty one would make another group, whose series clash with it on the gateway's page).

    A group holds the whole job as the target's bookkeeping has it, every shard included: a shard whose
    pod stopped still shows in the other pods' pushes (its watermark falls behind), so the alerts can
    leave out a group nobody pushes any more (an ended retranslate, an old shard count). The shard is
    `instance`, not `shard`, because the gateway gives a group's labels to every series in it, and the
    `etl_shard_*` series carry a `shard` of their own; not the pod's name either, which a CronJob
    changes every tick. A job whose status cannot be read is pushed empty: its series leave the
    gateway as they leave the file. The first push that fails stops the rest (the gateway is likely
    down for all of them, and each would wait out its timeout).
    """
    read = {status.job: status for status in statuses}
    grouping = {} if shard.whole else {"instance": shard.label}
    for job in jobs:
        registry = _registry([read[job]] if job in read else [])
        try:
            push_to_gateway(gateway, job=job, registry=registry, grouping_key=grouping, timeout=PUSH_TIMEOUT)
        except (OSError, ValueError, HTTPException) as error:
            raise MetricsNotPushed(
                f"could not push the metrics of job {job!r} to {_masked(gateway)}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    if isinstance(error, HTTPError):  # the gateway answered, and refused
        return f"HTTP {error.code} {error.reason}"
    return str(getattr(error, "reason", error)) or type(error).__name__


def _masked(url: str) -> str:
    """The gateway's URL as a user may see it: a password in it replaced by ***, as the databases' are."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    credentials, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{credentials.split(':', 1)[0]}:***@{host}").geturl()
