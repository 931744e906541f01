"""`etl status`: per job, how far the OMS is behind the push table, and what the last run did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from etl.bookkeeping import REJECT, RUN, WATERMARK
from etl.config import JobConfig
from etl.context import open_job
from etl.shard import WHOLE, Shard
from etl.rejects import count_open, is_open_reject
from etl.watermark import load_watermarks
from etl.window import Position


@dataclass(frozen=True)
class LastRun:
    run_id: int
    mode: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    pushes_written: int
    rejects: int
    message: str | None


@dataclass(frozen=True)
class ShardStatus:
    """One shard of a sharded job ("3/8"; "" the whole job's row, while a job moves to or from shards)."""

    shard: str
    watermark: Position | None
    newest_source: datetime | None  # of this shard's keys
    lag_seconds: int | None
    last_run: LastRun | None
    last_success: datetime | None

    def as_dict(self) -> dict:
        return {"shard": self.shard, **_plain(self.watermark, self.newest_source, self.lag_seconds, self.last_run,
                                              self.last_success)}


@dataclass(frozen=True)
class JobStatus:
    """A job as one: with shards, its watermark is the earliest shard's, its lag the worst shard's, its
    last run the newest run of any shard unless one's last run did not end ok, its last success the
    stalest shard's; `shards` holds each of them (empty for a job that runs whole)."""

    job: str
    watermark: Position | None
    newest_source: datetime | None
    lag_seconds: int | None
    last_run: LastRun | None
    open_rejects: int
    last_success: datetime | None = None  # UTC: when the last run that ended ok finished
    shards: tuple[ShardStatus, ...] = ()

    def lags_more_than(self, seconds: int) -> bool:
        """A job that never committed while its source has rows lags without bound."""
        return self.lag_seconds is None or self.lag_seconds > seconds

    def as_dict(self) -> dict:
        """Plain values for JSON: datetimes as ISO text, ids as integers."""
        plain = _plain(self.watermark, self.newest_source, self.lag_seconds, self.last_run, self.last_success)
        return {"job": self.job, **plain, "open_rejects": self.open_rejects,
                "shards": [shard.as_dict() for shard in self.shards]}


def _plain(watermark: Position | None, newest: datetime | None, lag_seconds: int | None, last: LastRun | None,
           last_success: datetime | None) -> dict:
    return {
        "watermark": None
        if watermark is None
        # "tid" for the scripts that read it before other kinds came; "key" says the same for every kind.
        else {"jdp_modified": watermark.modified.isoformat(sep=" "), "tid": watermark.key, "key": watermark.key},
        "newest_source": None if newest is None else newest.isoformat(sep=" "),
        "lag_seconds": lag_seconds,
        "last_run": None
        if last is None
        else {
            **{key: value for key, value in last.__dict__.items() if not isinstance(value, datetime)},
            "started_at": last.started_at.isoformat(sep=" "),
            "finished_at": None if last.finished_at is None else last.finished_at.isoformat(sep=" "),
        },
        "last_success": None if last_success is None else last_success.isoformat(sep=" "),
    }


@dataclass(frozen=True)
class OpenReject:
    job: str
    tid: int
    key_text: str
    jdp_modified: datetime | None
    error: str
    first_seen: datetime
    last_seen: datetime

    def as_dict(self) -> dict:
        return {
            name: value.isoformat(sep=" ") if isinstance(value, datetime) else value
            for name, value in self.__dict__.items()
        }


def open_rejects(job: JobConfig, limit: int) -> tuple[int, list[OpenReject]]:
    """How many rejects of `job` are open, and the oldest `limit` of them."""
    with open_job(job) as opened:
        reject = opened.target_tables([REJECT])[REJECT]
        with opened.on_target(), opened.target_engine.connect() as connection:
            total = count_open(connection, reject, job.name)
            rows = connection.execute(
                sa.select(*(reject.c[name] for name in OpenReject.__dataclass_fields__))
                .where(is_open_reject(reject, job.name))
                .order_by(reject.c.first_seen, reject.c.tid)
                .limit(limit)
            ).all()
    return total, [OpenReject(*row) for row in rows]


def lag(watermark: Position | None, newest: datetime | None) -> int | None:
    """Newest source jdp_modified minus the watermark, in seconds; 0 when caught up."""
    if newest is None:
        return 0
    if watermark is None:
        return None
    return max(0, int((newest - watermark.modified).total_seconds()))


def job_status(job: JobConfig) -> JobStatus:
    with open_job(job) as opened:
        tables = opened.target_tables((WATERMARK, RUN, REJECT))
        with opened.on_target(), opened.target_engine.connect() as connection:
            watermark = tables[WATERMARK]
            labels = {row.shard for row in connection.execute(
                sa.select(watermark.c.shard).where(watermark.c.job == job.name))}
        source = opened.source
        shards = _layout(labels)
        with opened.on_source():
            newest = source.newest()
            # Each shard's lag is against the newest of its own keys.
            newest_of = {shard: newest if shard.whole else source.share(shard.partition).newest() for shard in shards}
        with opened.on_target(), opened.target_engine.connect() as connection:
            watermarks = load_watermarks(connection, tables[WATERMARK], job.name, text_key=source.text_key)
            each = [_shard_status(connection, tables[RUN], job.name, shard, watermarks.get(shard.label),
                                  newest_of[shard]) for shard in shards]
            open_rejects = count_open(connection, tables[REJECT], job.name)
    if len(each) == 1:
        whole = each[0]
        return JobStatus(job.name, whole.watermark, newest, whole.lag_seconds, whole.last_run, open_rejects,
                         whole.last_success)
    lags = [shard.lag_seconds for shard in each]
    last_runs = [shard.last_run for shard in each if shard.last_run is not None]
    failing = [run for run in last_runs if run.outcome != "ok"]
    successes = [shard.last_success for shard in each]
    return JobStatus(
        job.name,
        None if any(shard.watermark is None for shard in each) else min(shard.watermark for shard in each),
        newest,
        None if None in lags else max(lags),
        max(failing or last_runs, key=lambda run: run.run_id, default=None),
        open_rejects,
        None if None in successes else min(successes),
        tuple(each),
    )


def _layout(labels: set[str]) -> list[Shard]:
    """The shards a job runs as: every shard of each count its watermark rows name (a shard that never
    committed has no row, and lags without bound), and the whole job while it has a row or nothing does."""
    counts = sorted({Shard.parse(label).count for label in labels if label})
    shards = [Shard(index, count) for count in counts for index in range(count)]
    return ([WHOLE] if "" in labels or not shards else []) + shards


def _shard_status(connection: sa.Connection, run: sa.Table, job: str, shard: Shard, watermark: Position | None,
                  newest: datetime | None) -> ShardStatus:
    mine = (run.c.job == job) & (run.c.shard == shard.label)
    last = connection.execute(sa.select(run).where(mine).order_by(run.c.run_id.desc()).limit(1)).first()
    # Newest first on (job, shard, run_id): the scan stops at the first run that ended ok.
    last_success = connection.execute(
        sa.select(run.c.finished_at).where(mine, run.c.outcome == "ok").order_by(run.c.run_id.desc()).limit(1)
    ).scalar()
    last_run = None if last is None else LastRun(
        **{name: getattr(last, name) for name in LastRun.__dataclass_fields__}  # same names as etl_run
    )
    return ShardStatus(shard.label, watermark, newest, lag(watermark, newest), last_run, last_success)
