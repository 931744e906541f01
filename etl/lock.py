"""One run per job at a time, `run` and `retranslate` alike.

MySQL/MariaDB: a named lock (GET_LOCK) held by a connection of its own for the whole
run. Its name includes the target database and the job, so two targets on one server
never collide, and it dies with its connection: a killed run leaves no stale lock.
Because it dies with its connection, a server restart or a KILL also takes it away
from a live run: `ensure()` is called before every commit, and takes the lock again
on a new connection, or stops the run if another run got it meanwhile.

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
import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from etl.database.engines import masked, sqlite_path
from etl.errors import JobBusy
from etl.shard import WHOLE, Shard

# MySQL limits lock names to 64 characters.
_MAX_NAME = 64


def lock_name(database: str, job: str) -> str:
    name = f"jdp-etl:{database}:{job}"
    if len(name) <= _MAX_NAME:
        return name
    return "jdp-etl:" + hashlib.sha256(name.encode()).hexdigest()[: _MAX_NAME - 8]


def _busy(engine: Engine, job: str) -> JobBusy:
    return JobBusy(f"job {job!r} is busy: another run or retranslate holds its lock on {masked(engine.url)}")


class _NamedLock:
    def __init__(self, engine: Engine, job: str) -> None:
        self.engine, self.job = engine, job
        self.connection: sa.Connection | None = None
        self.name = ""

    def acquire(self) -> None:
        # A plain connection: GET_LOCK works inside a transaction, and under the target's READ
        # COMMITTED an idle one holds no snapshot. (Setting AUTOCOMMIT here would run a session
        # statement whose driver error SQLAlchemy does not wrap, on a connection that just died.)
        connection = self.engine.connect()
        self.name = lock_name(connection.exec_driver_sql("SELECT DATABASE()").scalar() or "", self.job)
        if connection.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": self.name}).scalar() != 1:
            connection.close()
            raise _busy(self.engine, self.job)
        self.connection = connection

    def ensure(self) -> None:
        """Still ours? If its connection died, take it again; if another run took it, stop."""
        if self.connection is not None:
            try:
                held = self.connection.execute(
                    sa.text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"), {"name": self.name}
                ).scalar()
            except sa.exc.DBAPIError:
                held = None
            if held == 1:
                return
        self.release()
        self.acquire()

    def close_inherited(self) -> None:
        """In a process forked from the holder: close this process's copy of the lock connection's socket.

        Nothing is sent on it (a driver's close() says goodbye to the server, which would end the
        holder's session and its lock), and the socket object lets go of the descriptor first, so
        that nothing here closes or writes to that number again once another connection takes it.
        """
        if self.connection is None:
            return
        # PyMySQL's socket, the job's driver. Another driver's is out of reach: the worker's death with
        # its parent then frees the lock.
        sock = getattr(self.connection.connection.driver_connection, "_sock", None)
        if sock is not None:
            os.close(sock.detach())

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
            connection.close()
        except sa.exc.SQLAlchemyError:
            # The connection is gone (killed, server restarted), and the lock went with it.
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


JobLock = _NamedLock | _FileLock


@contextmanager
def job_lock(engine: Engine, job: str, shard: Shard = WHOLE) -> Iterator[JobLock]:
    """Hold the job's lock on the target for the duration of the block, or raise JobBusy.

    Each shard of a job has a lock of its own ("job#3of8"): shards never share a key, so they run
    at once; two runs of one shard do not."""
    if not shard.whole:
        job = f"{job}#{shard.index}of{shard.count}"
    lock = _FileLock(engine, job) if engine.dialect.name == "sqlite" else _NamedLock(engine, job)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
