"""`etl status`: per job, how far the OMS is behind the push table, and what the last run did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from etl.config import JobConfig
from etl.bookkeeping import REJECT, RUN, WATERMARK
from etl.database.engines import open_source, open_target
from etl.database.faults import database_errors
from etl.database.tables import reflect
from etl.source import SourceTable
from etl.watermark import Position, load_watermark


@dataclass(frozen=True)
class LastRun:
    run_id: int
    mode: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    trades_written: int
    rejects: int
    message: str | None


@dataclass(frozen=True)
class JobStatus:
    job: str
    watermark: Position | None
    newest_source: datetime | None
    lag_seconds: int | None
    last_run: LastRun | None
    open_rejects: int
    last_success: datetime | None = None  # UTC: when the last run that ended ok finished

    def lags_more_than(self, seconds: int) -> bool:
        """A job that never committed while its source has rows lags without bound."""
        return self.lag_seconds is None or self.lag_seconds > seconds

    def as_dict(self) -> dict:
        """Plain values for JSON: datetimes as ISO text, ids as integers."""
        last = self.last_run
        return {
            "job": self.job,
            "watermark": None
            if self.watermark is None
            # "tid" as the foundation issue named it; "key" says the same for every kind.
            else {"jdp_modified": self.watermark.modified.isoformat(sep=" "), "tid": self.watermark.key,
                  "key": self.watermark.key},
            "newest_source": None if self.newest_source is None else self.newest_source.isoformat(sep=" "),
            "lag_seconds": self.lag_seconds,
            "last_run": None
            if last is None
            else {
                **{key: value for key, value in last.__dict__.items() if not isinstance(value, datetime)},
                "started_at": last.started_at.isoformat(sep=" "),
                "finished_at": None if last.finished_at is None else last.finished_at.isoformat(sep=" "),
            },
            "open_rejects": self.open_rejects,
            "last_success": None if self.last_success is None else self.last_success.isoformat(sep=" "),
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
    with open_target(job.target_url) as target, database_errors("target", job.target_url):
        reject = reflect(target, [REJECT])[REJECT]
        is_open = (reject.c.job == job.name) & reject.c.resolved_at.is_(None)
        with target.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).select_from(reject).where(is_open)).scalar_one()
            rows = connection.execute(
                sa.select(*(reject.c[name] for name in OpenReject.__dataclass_fields__))
                .where(is_open)
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
    with open_target(job.target_url) as target, open_source(job.source_url) as source:
        with database_errors("source", job.source_url):
            table = SourceTable(source, job.table, job.source_columns, job.sellers)
            newest = table.newest()
        with database_errors("target", job.target_url):
            tables = reflect(target, (WATERMARK, RUN, REJECT))
            with target.connect() as connection:
                watermark = load_watermark(connection, tables[WATERMARK], job.name, text_key=table.text_key)
                last, last_success, open_rejects = _runs_and_rejects(connection, tables, job.name)
    last_run = None
    if last is not None:
        last_run = LastRun(
            **{name: getattr(last, name) for name in LastRun.__dataclass_fields__}  # same names as etl_run
        )
    return JobStatus(job.name, watermark, newest, lag(watermark, newest), last_run, open_rejects, last_success)


def _runs_and_rejects(connection: sa.Connection, tables: dict[str, sa.Table],
                      job: str) -> tuple[sa.Row | None, datetime | None, int]:
    """The job's last run, when its last run that ended ok finished, and how many rejects are open."""
    run, reject = tables[RUN], tables[REJECT]
    last = connection.execute(sa.select(run).where(run.c.job == job).order_by(run.c.run_id.desc()).limit(1)).first()
    # Newest first on (job, run_id): the scan stops at the first run that ended ok.
    last_success = connection.execute(
        sa.select(run.c.finished_at).where(run.c.job == job, run.c.outcome == "ok").order_by(run.c.run_id.desc()).limit(1)
    ).scalar()
    open_rejects = connection.execute(
        sa.select(sa.func.count()).select_from(reject).where(reject.c.job == job, reject.c.resolved_at.is_(None))
    ).scalar_one()
    return last, last_success, open_rejects
