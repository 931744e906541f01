"""One run per job at a time, `run` and `retranslate` alike.

MySQL/MariaDB: a named lock (GET_LOCK) held by a connection of its own for the whole
run. Its name includes the target database and the job, so two targets on one server
never collide, and it dies with its connection: a killed run leaves no stale lock.

SQLite: an exclusive flock() on a lock file beside the database file, one per job.
The database file's own locks cannot serve: SQLite takes them per transaction, and a
POSIX lock on the same file would be dropped whenever SQLite closes a descriptor.
The OS releases a flock when the process dies, as MySQL does with GET_LOCK.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.database import masked, sqlite_path
from etl.errors import JobBusy

# MySQL limits lock names to 64 characters.
_MAX_NAME = 64


def lock_name(database: str, job: str) -> str:
    name = f"jdp-etl:{database}:{job}"
    if len(name) <= _MAX_NAME:
        return name
    return "jdp-etl:" + hashlib.sha256(name.encode()).hexdigest()[: _MAX_NAME - 8]


def _busy(engine: Engine, job: str) -> JobBusy:
    return JobBusy(f"job {job!r} is busy: another run or retranslate holds its lock on {masked(engine.url)}")


@contextmanager
def _mysql_lock(engine: Engine, job: str) -> Iterator[None]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        database = connection.exec_driver_sql("SELECT DATABASE()").scalar() or ""
        name = lock_name(database, job)
        if connection.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar() != 1:
            raise _busy(engine, job)
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})


@contextmanager
def _file_lock(engine: Engine, job: str) -> Iterator[None]:
    path = sqlite_path(engine.url)
    if path is None:
        # An in-memory database lives in this process only: nothing else can run on it.
        yield
        return
    descriptor = os.open(f"{path}.{job}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(engine, job) from None
        yield
    finally:
        os.close(descriptor)


@contextmanager
def job_lock(engine: Engine, job: str) -> Iterator[None]:
    """Hold the job's lock on the target for the duration of the block, or raise JobBusy."""
    lock = _file_lock if engine.dialect.name == "sqlite" else _mysql_lock
    with lock(engine, job):
        yield
