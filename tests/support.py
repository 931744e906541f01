"""Helpers the tests share: pushes to write, what a target holds, and the `etl` command in process or as a
real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from etl.cli import main
from etl.lock import lock_key, lock_name
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


def wait_for_watermark(target_url: str, process: subprocess.Popen, timeout: float = 60) -> bool:
    """Until the run has committed its first batch: True, or False when it ended (or the time ran out) first."""
    engine = sa.create_engine(target_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as connection:
                if connection.exec_driver_sql("SELECT COUNT(*) FROM etl_watermark").scalar():
                    return True
            time.sleep(0.01)
        return False
    finally:
        engine.dispose()


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
_PG_HOLDER = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
              " AND classid::bigint = :key >> 32 AND objid::bigint = :key & 4294967295"
              " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
# The client's port of a session, and the server's own port.
_PEER = {"postgresql": "SELECT client_port, current_setting('port')::int FROM pg_stat_activity WHERE pid = :id",
         "mysql": "SELECT SUBSTRING_INDEX(HOST, ':', -1), @@port FROM information_schema.PROCESSLIST WHERE ID = :id"}


def lock_holder(connection: sa.Connection, job: str) -> int | None:
    """The server's id of the session holding `job`'s lock on the connection's database (MySQL's connection
    id, PostgreSQL's backend pid); None while nobody holds it."""
    name = lock_name(connection.engine.url.database, job)
    if connection.dialect.name == "postgresql":
        return connection.execute(sa.text(_PG_HOLDER), {"key": lock_key(name)}).scalar()
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
