"""A window split across worker processes by key gives the tables and the watermark of one process."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from alibaba_orders import AlibabaOrderFactory
from support import (alive, assert_equals_clean_run, descriptors, etl, lock_holder, lock_socket, paused_mid_window, rows_at,
                     snapshot, spawn)

from etl.cli import main
from etl.database.engines import target_engine
from etl.errors import (ConfigError, DatabaseUnavailable, EtlError, Interrupted, JobBusy, RejectBudgetExceeded,
                        Terminated, Transient, ValueRefused)
from etl.kinds import KINDS
from etl.lock import job_lock
from etl.pipeline import retranslate_job, run_job
from etl.synth import PushFactory
from etl.window import Position, committed_by_all

T0 = datetime(2026, 11, 11, 10, 0, 0)
P = [Position(T0 + timedelta(seconds=second), key) for second, key in ((1, 5), (2, 3), (3, 9))]


@pytest.mark.parametrize(
    "committed, finished, expected",
    [
        ([None, None], [False, False], None),
        ([P[1], None], [False, False], None),  # one worker has committed nothing yet
        ([P[1], P[0]], [False, False], P[0]),
        ([P[1], P[0]], [False, True], P[1]),  # a finished share does not hold the others back
        ([P[2], P[0]], [True, True], P[2]),  # all done: up to the last row read
        ([None, None], [True, True], None),  # an empty window
        ([None, P[0]], [False, True], None),
    ],
)
def test_the_watermark_goes_only_where_every_worker_has_committed(committed, finished, expected):
    assert committed_by_all(committed, finished) == expected


def _snapshot(dbs) -> list:
    runs = dbs.query("SELECT mode, rows_read, pushes_written, rejects, outcome FROM etl_run ORDER BY run_id")
    return snapshot(dbs) + [runs]


def test_workers_write_what_one_process_writes(dbs):
    factory = PushFactory(seed=21)
    trades = [factory.trade(T0) for _ in range(120)]
    single = dbs.other()
    windows = [
        [factory.row(trade, factory.status(), T0, T0 + timedelta(seconds=index // 25))
         for index, trade in enumerate(trades)],
        # Newer versions of some, an older one that must lose, and a push that cannot translate.
        [factory.row(trade, "WAIT_BUYER_CONFIRM_GOODS", T0 + timedelta(hours=1), T0 + timedelta(hours=1))
         for trade in trades[::4]]
        + [factory.row(trades[1], "WAIT_BUYER_PAY", T0 - timedelta(hours=1), T0 + timedelta(hours=1))]
        + [{**factory.row(trades[2], "TRADE_FINISHED", T0 + timedelta(hours=2), T0 + timedelta(hours=1)),
            "jdp_response": "{not json"}],
    ]
    for rows in windows:
        dbs.push(rows)
        run_job(dbs.job(workers=3, batch_size=7))
        run_job(single.job(batch_size=7))
    retranslate_job(dbs.job(workers=3, batch_size=7), T0, T0 + timedelta(days=1))
    retranslate_job(single.job(batch_size=7), T0, T0 + timedelta(days=1))
    assert _snapshot(dbs) == _snapshot(single)
    assert dbs.query("SELECT COUNT(*) FROM etl_reject WHERE resolved_at IS NULL") == [(1,)]


def test_a_worker_over_the_reject_budget_stops_the_run_behind_the_bad_push(mysql_dbs):
    factory = PushFactory(seed=22)
    rows = rows_at(factory, 60, T0, per_second=1)
    bad = rows[30] = {**rows[30], "jdp_response": "[]"}
    mysql_dbs.push(rows)
    with pytest.raises(RejectBudgetExceeded):
        run_job(mysql_dbs.job(workers=2, batch_size=5, max_rejects=0))
    watermark = mysql_dbs.select("etl_watermark", "jdp_modified")
    assert watermark == [] or watermark[0][0] < bad["jdp_modified"]
    assert mysql_dbs.query("SELECT outcome FROM etl_run") == [("failed",)]
    # Without the budget, the next run finishes the window.
    result = run_job(mysql_dbs.job(workers=2, batch_size=5))
    assert mysql_dbs.query("SELECT COUNT(*) FROM oms_trade") == [(59,)]
    assert result.watermark == Position(rows[-1]["jdp_modified"], rows[-1]["tid"])


def test_forked_workers_leave_the_coordinators_lock_connection_alone(server_dbs, tmp_path):
    # A forked worker holds copies of its parent's sockets, the lock's among them. Had one closed it,
    # the lock would have gone, and the coordinator's next check would take it on a new connection.
    server_dbs.push(rows_at(PushFactory(seed=23), 3000, T0))
    process = spawn(server_dbs.config_file(tmp_path, {"tb": {"workers": 2, "batch_size": 20}}), "run")
    engine = sa.create_engine(server_dbs.target_url)
    holders = set()
    try:
        while process.poll() is None:
            with engine.connect() as connection:
                holders.add(lock_holder(connection, "tb"))
            time.sleep(0.01)
    finally:
        engine.dispose()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert len(holders - {None}) == 1
    assert server_dbs.query("SELECT COUNT(*) FROM oms_trade") == [(3000,)]


def test_a_forked_process_that_closes_its_copy_of_the_job_lock_leaves_the_lock_to_its_holder(dbs):
    # As a forked worker starts. A connection (and a flock, which belongs to the open file) lasts until
    # its last descriptor closes: had the child kept its copy, the lock would outlive its holder.
    engine = target_engine(sa.make_url(dbs.target_url))
    ready, done = os.pipe(), os.pipe()
    with job_lock(engine, "tb") as lock:
        child = os.fork()
        if child == 0:
            try:
                lock.close_inherited()
                os.write(ready[1], b".")
                os.read(done[0], 1)  # lives on, as a worker does
            finally:
                os._exit(0)
        try:
            assert os.read(ready[0], 1) == b"."
            lock.close_inherited()  # the holder goes without a word, as a process killed by -9 does
            deadline = time.monotonic() + 2
            while True:
                try:
                    with job_lock(engine, "tb"):
                        break
                except JobBusy:
                    assert time.monotonic() < deadline, "the lock outlived its holder"
                    time.sleep(0.01)
        finally:
            os.write(done[1], b".")
            os.waitpid(child, 0)
            for descriptor in (*ready, *done):
                os.close(descriptor)
    engine.dispose()


def test_a_spawned_worker_watches_its_parent_and_ends_with_it():
    # Where workers are spawned (macOS) a thread waits for the parent's end: that wait, spawned here.
    parent = subprocess.Popen([sys.executable, "-c", (
        "import multiprocessing, time\n"
        "from etl.pipeline.workers import _exit_with_parent\n"
        "child = multiprocessing.get_context('spawn').Process(target=_exit_with_parent)\n"
        "child.start()\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )], stdout=subprocess.PIPE)
    try:
        child = int(parent.stdout.readline())
    finally:
        killed = time.monotonic()
        parent.kill()
        parent.wait()  # not for the end of its output: the child holds a copy of it
        parent.stdout.close()
    while alive(child):
        # A spawned child imports the job's modules first: its start is part of this.
        assert time.monotonic() - killed < 10, "the spawned child outlived its parent"
        time.sleep(0.01)


@pytest.mark.parametrize("shard", [(), ("tb", "--shard", "0/2")], ids=["whole-job", "one-shard"])
def test_kill_9_of_a_run_ends_its_workers_and_the_next_run_starts_at_once(server_dbs, tmp_path, shard):
    # What the OOM killer does: had the workers lived on, each with a copy of the job lock's connection,
    # the next run would have exited 75 (busy) until they had written their whole share.
    settings = {"workers": 2, "batch_size": 5, "lookback_seconds": 0}
    rows = rows_at(PushFactory(seed=24), 1200 if shard else 600, T0)
    if shard:  # only the shard's keys, so that its runs write what a clean run of the whole job writes
        rows = [row for row in rows if row["tid"] % 2 == 0]
    rows[100] = {**rows[100], "jdp_response": "{broken"}
    server_dbs.push(rows)
    config = server_dbs.config_file(tmp_path, {"tb": settings})
    process = spawn(config, "run", *shard)
    # Stopped mid-window, with both workers still writing, and killed there.
    with paused_mid_window(process, server_dbs.target_url, 1, len(rows) - 1) as (_, workers):
        assert len(workers) == 2, workers
        # Only the main process holds the lock's connection: its end frees the lock, whatever the workers do.
        lock = lock_socket(server_dbs.target_url, "tb#0of2" if shard else "tb")
        assert lock is None or lock in descriptors(process.pid) and not any(lock in descriptors(pid) for pid in workers)
        killed = time.monotonic()
        process.kill()
    process.wait()
    while any(map(alive, workers)):
        assert time.monotonic() - killed < 2, "a worker outlived its run by 2 s"
        time.sleep(0.01)
    code, _, err = etl("--config", str(config), "run", *shard)
    assert code == 0, err
    assert server_dbs.query("SELECT outcome FROM etl_run ORDER BY run_id") == [("abandoned",), ("ok",)]
    assert_equals_clean_run(server_dbs, tmp_path / "clean", {"tb": {}})


def _a_bug(_connection, _tables, _rows) -> None:
    raise ZeroDivisionError("a bug, say")


def test_a_workers_bug_is_one_line_and_its_traceback_shows_with_vv(mysql_dbs, tmp_path, monkeypatch):
    # Forked, the workers write with this process's kinds: the trade kind's write hook fails.
    monkeypatch.setitem(KINDS, "tb_trade", dataclasses.replace(KINDS["tb_trade"], after_write=_a_bug))
    mysql_dbs.push(rows_at(PushFactory(seed=25), 40, T0))
    config = str(mysql_dbs.config_file(tmp_path, {"tb": {"workers": 2, "batch_size": 10}}))
    code, out, err = etl("--config", config, "run")
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    assert line.startswith("etl: job 'tb': internal error in worker ") and "(ZeroDivisionError: a bug, say)" in line
    assert line.endswith("rerun with -vv for details")
    result = CliRunner().invoke(main, ["--config", config, "-vv", "run"])
    assert result.exit_code == 1
    # The worker's own frames, told to the coordinator, which logged them.
    assert "Traceback (most recent call last)" in result.stderr
    assert "in _worker_main" in result.stderr and "in _a_bug" in result.stderr


def test_workers_split_a_text_keyed_landing_table_and_write_what_one_process_writes(dbs):
    factory = AlibabaOrderFactory(seed=23)
    orders = [factory.order(T0) for _ in range(60)]
    rows = [factory.row(order, "waitsellersend", T0, T0 + timedelta(seconds=index // 20))
            for index, order in enumerate(orders)]
    rows[5] = {**rows[5], "order_id": "not-an-id"}  # a lander's mistake: rejected by its text key
    dbs.push(rows, "alibaba_order_landing")
    landing = {"kind": "alibaba_order", "table": "alibaba_order_landing", "key_column": "order_id",
               "modified_column": "landed_at", "json_column": "body", "batch_size": 7}
    single = dbs.other()
    result = run_job(dbs.job(workers=3, **landing))
    run_job(single.job(**landing))
    assert result.counts.rows_read == 60
    assert _snapshot(dbs) == _snapshot(single)
    # The last row in (landed_at, order_id) order, the order_id compared as text.
    assert dbs.select("etl_watermark", "tid, key_text") == [(0, max(row["order_id"] for row in rows[40:]))]
    assert dbs.query("SELECT tid, key_text FROM etl_reject WHERE resolved_at IS NULL") == [(0, "not-an-id")]


@pytest.mark.parametrize("error", [
    EtlError("plain"), ConfigError("bad"), ValueRefused("refused", "Data too long"),
    Transient(DatabaseUnavailable("gone"), "Lost connection"), Interrupted("stopped", 143), Terminated(130),
], ids=lambda error: type(error).__name__)
def test_every_error_a_worker_raises_reaches_the_coordinator_whole(error):
    # A worker's failure goes to the coordinator through a multiprocessing queue, pickled.
    def fields(value: BaseException) -> dict:
        return {name: (type(field), str(field)) if isinstance(field, BaseException) else field
                for name, field in vars(value).items()}

    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error) and fields(again) == fields(error)
