"""One run per job at a time, `run` and `retranslate` alike.

MySQL/MariaDB: a named lock (GET_LOCK) held by a connection of its own for the whole
run. Its name includes the target database and the job, so two targets on one server
never collide, and it dies with its connection: a killed run leaves no stale lock.
Because it dies with its connection, a server restart or a KILL also takes it away
from a live run: `ensure()` is called before every commit, and takes the lock again
on a new connection, or stops the run if another run got it meanwhile.

PostgreSQL: a session-level advisory lock (pg_try_advisory_lock), keyed by a hash of the same
name, on a connection of its own in autocommit (an idle session holds no transaction). It dies
with its session as GET_LOCK does (pg_terminate_backend, a restart, the process killed), and
`ensure()` finds it gone in pg_locks and takes it again.

SQLite: an exclusive flock() on a lock file beside the database file, one per job.
The database file's own locks cannot serve: SQLite takes them per transaction, and a
POSIX lock on the same file would be dropped whenever SQLite closes a descriptor.
The OS releases a flock when the process dies, as MySQL does with GET_LOCK.

Either lock lasts until its last descriptor closes: a process forked from the holder (a run's
worker) closes its copy at its start (`close_inherited`), so that the lock goes with its holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.database.engines import masked, sqlite_path
from etl.errors import JobBusy
from etl.shard import WHOLE, Shard

log = logging.getLogger("etl")

# MySQL limits lock names to 64 characters.
_MAX_NAME = 64


def lock_name(database: str, job: str) -> str:
    name = f"jdp-etl:{database}:{job}"
    if len(name) <= _MAX_NAME:
        return name
    return "jdp-etl:" + hashlib.sha256(name.encode()).hexdigest()[: _MAX_NAME - 8]


def _busy(engine: Engine, job: str) -> JobBusy:
    return JobBusy(f"job {job!r} is busy: another run or retranslate holds its lock on {masked(engine.url)}")


def lock_key(name: str) -> int:
    """The advisory lock key of a lock name: 63 bits of its SHA-256 (a non-negative bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class _SessionSql:
    """How one kind of server names, takes, checks and frees a lock a session holds (`:lock` bound)."""

    database: str  # the connection's database, part of the lock's name
    identity: Callable[[str], str | int]  # what the statements bind as :lock, from the lock's name
    take: str  # 1 (true) when taken now, without waiting
    held: str  # 1 while this session holds it
    free: str
    # A plain connection for GET_LOCK: it works inside a transaction, and under the target's READ COMMITTED
    # an idle one holds no snapshot (setting AUTOCOMMIT would run a session statement whose driver error
    # SQLAlchemy does not wrap, on a connection that just died). PostgreSQL's session would sit "idle in
    # transaction" for the whole run, which a server may end (idle_in_transaction_session_timeout):
    # autocommit there, which psycopg sets without a statement.
    autocommit: bool
    socket: Callable[[Any], int]  # the descriptor of the driver's connection


_GET_LOCK = _SessionSql("SELECT DATABASE()", str, "SELECT GET_LOCK(:lock, 0)",
                        "SELECT IS_USED_LOCK(:lock) = CONNECTION_ID()", "SELECT RELEASE_LOCK(:lock)",
                        autocommit=False, socket=lambda connection: connection._sock.fileno())
# The rows of pg_locks for the advisory lock on one bigint key (:lock): it spells the key as two 32-bit
# halves, subid 1.
ADVISORY_KEY = ("locktype = 'advisory' AND objsubid = 1 AND classid::bigint = :lock >> 32"
                " AND objid::bigint = :lock & 4294967295")
_ADVISORY = _SessionSql(
    "SELECT current_database()", lock_key, "SELECT pg_try_advisory_lock(:lock)",
    f"SELECT count(*) FROM pg_locks WHERE {ADVISORY_KEY} AND pid = pg_backend_pid() AND granted",
    "SELECT pg_advisory_unlock(:lock)", autocommit=True, socket=lambda connection: connection.fileno())


class _SessionLock:
    """A lock a server session holds (MySQL's named lock, PostgreSQL's advisory lock), on a connection of
    its own for the whole run: it dies with that session."""

    def __init__(self, engine: Engine, job: str, sql: _SessionSql) -> None:
        self.engine, self.job, self.sql = engine, job, sql
        self.connection: sa.Connection | None = None
        self.lock: str | int = ""

    def acquire(self) -> None:
        connection = self.engine.connect()
        if self.sql.autocommit:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        self.lock = self.sql.identity(lock_name(connection.exec_driver_sql(self.sql.database).scalar() or "",
                                                self.job))
        if connection.execute(sa.text(self.sql.take), {"lock": self.lock}).scalar() != 1:
            connection.close()
            raise _busy(self.engine, self.job)
        self.connection = connection

    def ensure(self) -> None:
        """Still ours? If its session died, take it again; if another run took it, stop."""
        if self.connection is not None:
            try:
                held = self.connection.execute(sa.text(self.sql.held), {"lock": self.lock}).scalar()
            except sa.exc.DBAPIError:
                held = None
            if held == 1:
                return
            # Said, because a lock taken again means a lost session: a run that says so often at 3 a.m.
            # has a network or a server to look at.
            log.warning("job %s: the job lock's session on the target was lost; taking the lock again", self.job)
        self.release()
        self.acquire()

    def close_inherited(self) -> None:
        """In a process forked from the holder: close this process's copy of the lock connection's socket.

        Nothing is sent on it (a driver's close() says goodbye to the server, which would end the
        holder's session and its lock): /dev/null is put over its number, which closes the copy and keeps
        the number taken, so that nothing the driver here may still do with it reaches another socket.
        """
        if self.connection is None:
            return
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, self.sql.socket(self.connection.connection.driver_connection))
        finally:
            os.close(null)

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.execute(sa.text(self.sql.free), {"lock": self.lock})
            connection.close()
        except sa.exc.SQLAlchemyError:
            # The session is gone (killed, terminated, server restarted), and the lock went with it.
            connection.invalidate()


class _FileLock:
    def __init__(self, engine: Engine, job: str) -> None:
        self.engine, self.job = engine, job
        self.descriptor: int | None = None

    def acquire(self) -> None:
        path = sqlite_path(self.engine.url)
        if path is None:
            return  # an in-memory database lives in this process only: nothing else can run on it
        descriptor = os.open(f"{path}.{self.job}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise _busy(self.engine, self.job) from None
        self.descriptor = descriptor

    def ensure(self) -> None:
        """A flock lives as long as the process: nothing can take it away."""

    def close_inherited(self) -> None:
        """In a process forked from the holder: close this process's copy of the lock file (the flock
        belongs to the open file both share, and lasts until its last descriptor closes)."""
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


JobLock = _SessionLock | _FileLock


@contextmanager
def job_lock(engine: Engine, job: str, shard: Shard = WHOLE) -> Iterator[JobLock]:
    """Hold the job's lock on the target for the duration of the block, or raise JobBusy.

    Each shard of a job has a lock of its own ("job#3of8"): shards never share a key, so they run
    at once; two runs of one shard do not."""
    if not shard.whole:
        job = f"{job}#{shard.index}of{shard.count}"
    if engine.dialect.name == "sqlite":
        lock: JobLock = _FileLock(engine, job)
    else:
        lock = _SessionLock(engine, job, _ADVISORY if engine.dialect.name == "postgresql" else _GET_LOCK)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
