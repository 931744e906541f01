"""Helpers the tests share: pushes to write, what a target holds, and the `etl` command in process or as a
real subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from etl.cli import main
from etl.lock import ADVISORY_KEY, lock_key, lock_name
from etl.synth import PushFactory

OMS_TABLES = [("oms_trade", "tid"), ("oms_order", "oid"), ("oms_promotion", "tid, seq")]


def rows_at(factory: PushFactory, count: int, start: datetime, per_second: int = 40) -> list[dict]:
    """`count` new trades waiting to ship, pushed from `start` on, `per_second` of them in each second."""
    return [
        factory.row(factory.trade(start), "WAIT_SELLER_SEND_GOODS", start, start + timedelta(seconds=i // per_second))
        for i in range(count)
    ]


def snapshot(dbs) -> list:
    """What a run leaves in a target: its OMS tables and the watermark (to compare two targets)."""
    return [dbs.dump(table, order) for table, order in OMS_TABLES] + [dbs.select("etl_watermark", "jdp_modified, tid")]


def etl(*args: str) -> tuple[int, str, str]:
    """`etl ARGS` in process: exit code, stdout, stderr; a traceback anywhere fails the test."""
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def spawn(config: Path, *args: str) -> subprocess.Popen:
    """`etl --config CONFIG ARGS` as a separate process (for signals and concurrency)."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def count(url: str, sql: str, **params: object) -> int:
    """The number a `SELECT COUNT(*) ...` on the database at `url` gives."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _fail_run(process: subprocess.Popen, what: str, timeout: float) -> NoReturn:
    """Fail the test: `process` ended, or the time ran out, before `what`; with its exit code and the tail of
    its stderr. A run still going is killed first: the test has failed, and nothing may wait for it."""
    ended = process.poll() is not None
    if not ended:
        process.kill()
    _, err = process.communicate(timeout=60)
    tail = "\n".join(err.decode(errors="replace").splitlines()[-15:])
    happened = f"the run ended (exit code {process.returncode})" if ended else f"{timeout:g} s passed"
    pytest.fail(f"{happened} before {what}; its stderr ends:\n{tail}", pytrace=False)


def wait_for(process: subprocess.Popen, url: str, sql: str, at_least: int, what: str, timeout: float = 60,
             **params: object) -> int:
    """Until `sql` (a count on the database at `url`) gives at least `at_least` while `process` runs; returns
    that count. A test waits on this for what it needs of the run (its first commit, a number of trades
    written) and fails naming `what` when the run ends, or the time runs out, first: it never goes on
    without its precondition."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            with engine.connect() as connection:
                found = connection.execute(sa.text(sql), params).scalar()
            if found >= at_least:
                return found
            time.sleep(0.01)
    finally:
        engine.dispose()
    _fail_run(process, what, timeout)


def wait_for_watermark(target_url: str, process: subprocess.Popen, timeout: float = 60, job: str | None = None) -> None:
    """Until the run (of `job`, or of any job) has committed its first batch; fails the test if it ends first."""
    where, params = ("", {}) if job is None else (" WHERE job = :job", {"job": job})
    wait_for(process, target_url, f"SELECT COUNT(*) FROM etl_watermark{where}", 1, "its first commit", timeout,
             **params)


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command (state, parent, ...); None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command stands in parentheses and may hold anything, spaces and parentheses included.
    return text[text.rindex(")") + 2:].split()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux)."""
    return [int(name) for name in os.listdir("/proc")
            if name.isdigit() and (stat := _stat(name)) is not None and int(stat[1]) == pid]


def alive(pid: int) -> bool:
    """Whether process `pid` runs: a zombie (ended, not yet reaped by its new parent) does not."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # gone (and reaped) meanwhile


def _stop(pid: int) -> None:
    """SIGSTOP `pid`, and wait until it has stopped: the signal is delivered when the kernel next schedules it."""
    _signal(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while (stat := _stat(pid)) is not None and stat[0] not in ("T", "t", "Z", "X"):
        assert time.monotonic() < deadline, f"process {pid} did not stop within 10 s of SIGSTOP"
        time.sleep(0.001)


@contextmanager
def paused(process: subprocess.Popen) -> Iterator[list[int]]:
    """`process` and its workers stopped (SIGSTOP) for the block, continued (SIGCONT) after it; yields the
    workers' pids. Stopped, a run does nothing: what the test sees of the target stays so until the block
    ends, and a signal sent or a connection cut meanwhile reaches the run exactly there."""
    stopped = [process.pid]
    try:
        _stop(process.pid)
        workers = children(process.pid)  # stopped, the run starts no other
        stopped += workers
        for pid in workers:
            _stop(pid)
        yield workers
    finally:
        for pid in reversed(stopped):
            _signal(pid, signal.SIGCONT)


def writing(target_url: str) -> bool:
    """Whether a transaction that writes the target is open (a run's, which another writer would wait for):
    SQLite's write lock is taken, a row of the OMS tables is locked, or (PostgreSQL) a transaction has
    written. (Not information_schema.INNODB_TRX: the server refreshes it only when it has gone unread
    for 0.1 s, which on a shared server may be never.)"""
    url = sa.make_url(target_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:  # database is locked
            return True
        finally:
            connection.close()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if url.get_backend_name() == "postgresql":
                # Rows another transaction inserted are invisible to FOR UPDATE, which passes them by, yet a
                # writer of the same keys waits for that transaction; one that wrote anything holds the lock
                # of its own transaction id.
                return connection.exec_driver_sql(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = "
                    "'transactionid' AND mode = 'ExclusiveLock' AND datname = current_database() "
                    "AND pid <> pg_backend_pid())").scalar()
            for table in [table for table, _ in OMS_TABLES] + ["etl_reject"]:
                # Every row, not COUNT(*): PostgreSQL locks no rows for an aggregate.
                connection.exec_driver_sql(f"SELECT 1 FROM {table} FOR UPDATE NOWAIT").all()
            connection.rollback()
        return False
    except sa.exc.OperationalError:  # a lock another transaction holds (MariaDB 1205, MySQL 3572, PostgreSQL 55P03)
        return True
    finally:
        engine.dispose()


@contextmanager
def paused_mid_window(process: subprocess.Popen, target_url: str, at_least: int, total: int, *, left: int = 1,
                      sql: str = "SELECT COUNT(*) FROM oms_trade", between_transactions: bool = False,
                      **params: object) -> Iterator[tuple[int, list[int]]]:
    """Once the target holds `at_least` of the run's `total` rows (counted by `sql`): the run stopped, as
    `paused`, with at least `left` rows still to write, and alive; yields the rows held then and the run's
    workers. The test fails when the run ends first or is past that point when stopped: what it does in
    the block certainly lands mid-window. `between_transactions`: stopped holding no write transaction,
    so that other runs can write meanwhile (stopped within one, it would hold them up)."""
    wait_for(process, target_url, sql, at_least, f"the target held {at_least} rows", **params)
    while True:
        with paused(process) as workers:
            busy = between_transactions and writing(target_url)
            if not busy:
                held = count(target_url, sql, **params)
                assert alive(process.pid) and held <= total - left, (
                    f"not mid-window when stopped: alive {alive(process.pid)}, {held} of {total} rows written")
                yield held, workers
                return
        time.sleep(0.01)  # on for a moment, to end its transaction, and stopped anew


class Relay:
    """A TCP relay from a port of this machine to the server of `server_url`, for a job's URLs to go through:
    `cut` ends every connection through it at the instant the test chooses (as a server restart or a lost
    network does), where a KILL would race the run; new connections are then refused, the next `refuse`
    of them (math.inf: until `admit`), each accepted and closed at once, as a server going down does."""

    def __init__(self, server_url: str) -> None:
        url = sa.make_url(server_url)
        self.server = (url.host or "127.0.0.1", url.port or 3306)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.guard = threading.Lock()
        self.open: set[socket.socket] = set()
        self.refuse: float = 0
        self.refused = 0
        threading.Thread(target=self._accept, name="relay", daemon=True).start()

    def url(self, url: str) -> str:
        """`url` through this relay."""
        return sa.make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def cut(self, refuse: float = 1) -> None:
        """End every connection through the relay now, and refuse the next `refuse` connections."""
        with self.guard:
            self.refuse = refuse
            for end in self.open:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # its other end closed it meanwhile
            self.open.clear()

    def admit(self) -> None:
        """Take new connections again."""
        with self.guard:
            self.refuse = 0

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread, which close alone does not
        except OSError:
            pass
        self.listener.close()
        self.cut(0)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = None if self.refuse else socket.create_connection(self.server)
            # One decision under the guard: a connection is either refused or open (and cut by a cut after).
            with self.guard:
                if self.refuse or upstream is None:
                    self.refuse -= bool(self.refuse)
                    self.refused += 1
                    for end in (client, upstream):
                        if end is not None:
                            end.close()
                    continue
                self.open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # cut
        finally:
            with self.guard:
                self.open -= {source, sink}
            for end in (source, sink):  # the other direction's recv returns at once
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()  # each end is the source of one pump


def descriptors(pid: int) -> set[str]:
    """What process `pid`'s descriptors point at (a file's path, "socket:[INODE]", ...)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    return found


# The session holding an advisory lock of this database, by its key (etl.lock.lock_key).
_PG_HOLDER = (f"SELECT pid FROM pg_locks WHERE {ADVISORY_KEY} AND granted"
              " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
# The client's port of a session, and the server's own port.
_PEER = {"postgresql": "SELECT client_port, current_setting('port')::int FROM pg_stat_activity WHERE pid = :id",
         "mysql": "SELECT SUBSTRING_INDEX(HOST, ':', -1), @@port FROM information_schema.PROCESSLIST WHERE ID = :id"}


def lock_holder(connection: sa.Connection, job: str) -> int | None:
    """The server's id of the session holding `job`'s lock on the connection's database (MySQL's connection
    id, PostgreSQL's backend pid); None while nobody holds it."""
    name = lock_name(connection.engine.url.database, job)
    if connection.dialect.name == "postgresql":
        return connection.execute(sa.text(_PG_HOLDER), {"lock": lock_key(name)}).scalar()
    return connection.execute(sa.text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()


def lock_socket(target_url: str, job: str) -> str | None:
    """The client's end ("socket:[INODE]") of the connection that holds `job`'s lock, a TCP connection over
    IPv4 to a server on this machine; None for a server behind a proxy (Docker's), whose view of the client
    names none of this machine's sockets."""
    url = sa.make_url(target_url)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        holder = lock_holder(connection, job)
        port, server_port = connection.execute(sa.text(_PEER[connection.dialect.name]), {"id": holder}).one()
    engine.dispose()
    if server_port != (url.port or {"postgresql": 5432}.get(url.get_backend_name(), 3306)):
        return None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()  # sl, local address, remote address (hex ports), ..., inode
        if int(fields[1].split(":")[1], 16) == int(port) and int(fields[2].split(":")[1], 16) == server_port:
            return f"socket:[{fields[9]}]"
    raise AssertionError(f"no socket of this machine has the lock's port {port}")


def assert_equals_clean_run(dbs, folder: Path, jobs: dict[str, dict]) -> None:
    """The target holds what one uninterrupted run of `jobs` into a fresh target gives."""
    clean = dbs.other()
    folder.mkdir()
    code, _, err = etl("--config", str(clean.config_file(folder, jobs)), "run")
    assert code == 0, err
    for table, order in OMS_TABLES:
        assert dbs.dump(table, order) == clean.dump(table, order), table
    open_rejects = "SELECT tid, error FROM etl_reject WHERE resolved_at IS NULL ORDER BY tid"
    assert dbs.query(open_rejects) == clean.query(open_rejects)


def program(name: str, package: str) -> str:
    """The path of a program a test runs: without it the test skips, or fails with CI=true (.ci/run
    installs Debian's `package`)."""
    path = shutil.which(name)
    if path is None:
        reason = f"no {name} on PATH (Debian: apt-get install {package}; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return path
