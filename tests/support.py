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


def wait_for_watermark(target_url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until the run has committed its first batch (or ended)."""
    engine = sa.create_engine(target_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with engine.connect() as connection:
                if connection.exec_driver_sql("SELECT COUNT(*) FROM etl_watermark").scalar():
                    return
            time.sleep(0.01)
    finally:
        engine.dispose()


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
