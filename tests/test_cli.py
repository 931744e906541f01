"""The `etl` command from the outside: exit codes, messages, and state after kills."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import random
import signal
from datetime import datetime, timedelta
from unicodedata import east_asian_width

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from alibaba_orders import AlibabaOrderFactory
from support import OMS_TABLES, assert_equals_clean_run, etl, paused_mid_window, rows_at, spawn

from etl import __version__
from etl.cli import main
from etl.lock import lock_key, lock_name
from etl.synth import PushFactory, RefundFactory, synth_rows

T0 = datetime(2026, 11, 11, 10, 0, 0)


def test_every_command_has_help():
    for name, command in main.commands.items():
        code, out, _ = etl(name, "--help")
        assert code == 0 and command.help, name


def test_version_is_the_package_version():
    code, out, _ = etl("--version")
    assert code == 0 and out.endswith(f", version {__version__}\n")  # after the program's name


def test_run_then_status_and_retranslate(dbs, tmp_path):
    dbs.push(list(synth_rows(40, seed=1, start=T0)))
    config = str(dbs.config_file(tmp_path, {"tb": {"batch_size": 9}}))
    code, out, err = etl("--config", config, "run")
    assert (code, err) == (0, "")
    assert "read 40, wrote 40, rejected 0" in out
    code, out, _ = etl("--config", config, "status", "--json")
    [status] = orjson.loads(out)
    assert code == 0 and status["lag_seconds"] == 0 and status["open_rejects"] == 0
    assert status["last_run"]["outcome"] == "ok" and isinstance(status["watermark"]["tid"], int)
    code, out, _ = etl("--config", config, "status")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["job", "watermark"]
    code, out, _ = etl("--config", config, "retranslate", "tb", "--since", "2026-11-11", "--until", "2026-11-12")
    assert code == 0 and "retranslate" in out and "read 40" in out
    # To the minute, as an operator types it.
    code, out, _ = etl("--config", config, "retranslate", "tb", "--since", "2026-11-11 00:00", "--until", "2026-11-12T00:00")
    assert code == 0 and "read 40" in out
    code, _, err = etl("--config", config, "retranslate", "tb", "--since", "2026-11-12", "--until", "2026-11-11")
    assert code == 2 and "--until" in err


def test_one_jobs_yaml_runs_jobs_of_every_kind(dbs, tmp_path):
    trades, refunds, orders = PushFactory(seed=31), RefundFactory(seed=32), AlibabaOrderFactory(seed=33)
    trade = trades.trade(T0)
    dbs.push([trades.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)])
    refund = refunds.refund(T0, tid=trade.tid, oid=trade.lines[0]["oid"])
    dbs.push([refunds.row(refund, "WAIT_SELLER_AGREE", T0, T0)], "jdp_tb_refund")
    order = orders.order(T0)
    dbs.push([orders.row(order, "waitsellersend", T0, T0), {"order_id": "A-17", "seller_nick": None, "landed_at": T0, "body": "{}"}],
             "alibaba_order_landing")
    config = str(dbs.config_file(tmp_path, {
        "trades": {},
        "refunds": {"kind": "tb_refund"},
        "wholesale": {"kind": "alibaba_order", "table": "alibaba_order_landing", "key_column": "order_id",
                      "modified_column": "landed_at", "json_column": "body"},
    }))
    code, out, err = etl("--config", config, "run")
    assert (code, err) == (0, "")
    assert [line.split(":")[0] for line in out.splitlines()] == ["trades", "refunds", "wholesale"]
    assert dbs.query("SELECT tid, platform FROM oms_trade ORDER BY platform") == [(order.tid, "1688"),
                                                                                  (trade.tid, "taobao")]
    assert dbs.query("SELECT refund_id, oid FROM oms_refund") == [(refund.refund_id, trade.lines[0]["oid"])]
    code, out, _ = etl("--config", config, "status", "--json")
    assert code == 0 and [status["job"] for status in orjson.loads(out)] == ["trades", "refunds", "wholesale"]
    assert orjson.loads(out)[2]["watermark"]["key"] == "A-17"
    code, out, _ = etl("--config", config, "rejects", "wholesale")
    assert code == 0 and "A-17" in out and "is not a numeric id" in out


def test_status_max_lag_is_a_probe_and_metrics_land_in_a_textfile(dbs, tmp_path):
    dbs.push(list(synth_rows(30, seed=4, start=T0)))
    config = str(dbs.config_file(tmp_path, {"tb": {}, "refunds": {"kind": "tb_refund"}}))
    # Nothing ran yet: the trade job has rows and no watermark; the refund job has an empty source.
    code, _, err = etl("--config", config, "status", "--max-lag", "60")
    assert code == 1 and "job 'tb' has no watermark yet (more than --max-lag 60)" in err and "refunds" not in err
    metrics = tmp_path / "textfile" / "etl.prom"
    metrics.parent.mkdir()
    code, out, _ = etl("--config", config, "run", "--metrics-file", str(metrics))
    assert code == 0
    text = metrics.read_text()
    assert 'etl_last_run_rows_read{job="tb"} 30.0' in text and 'etl_lag_seconds{job="tb"} 0.0' in text
    assert 'etl_last_run_success{job="refunds"} 1.0' in text and "etl_last_success_timestamp_seconds" in text
    assert [path.name for path in metrics.parent.iterdir()] == ["etl.prom"]  # no temporary file left
    code, _, err = etl("--config", config, "status", "--max-lag", "0", "--json")
    assert (code, err) == (0, "")
    # The platform pushes again an hour later and the job has not run: the probe fires.
    dbs.push(list(synth_rows(1, seed=5, start=T0 + timedelta(hours=1))))
    code, _, err = etl("--config", config, "status", "--max-lag", "600", "--metrics-file", str(metrics))
    assert code == 1 and "job 'tb' lags" in err
    assert 'etl_lag_seconds{job="tb"} ' in metrics.read_text()


def test_a_metrics_file_that_cannot_be_written_is_a_clear_error(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    code, _, err = etl("--config", config, "status", "--metrics-file", str(tmp_path / "missing" / "etl.prom"))
    assert code == 1 and "cannot write the metrics file" in err


def test_verify_proves_a_complete_window_and_names_what_is_missing_stale_or_different(dbs, tmp_path):
    factory = PushFactory(seed=41)
    trades = [factory.trade(T0) for _ in range(12)]
    dbs.push([factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0 + timedelta(minutes=index))
              for index, trade in enumerate(trades)])
    config = str(dbs.config_file(tmp_path, {"tb": {"batch_size": 5}}))
    window = ("--since", "2026-11-11", "--until", "2026-11-12")
    assert etl("--config", config, "run")[0] == 0
    csv = tmp_path / "verify.csv"
    code, out, err = etl("--config", config, "verify", "tb", *window, "--csv", str(csv))
    assert code == 0 and "holds every push" in err
    assert csv.read_text(encoding="utf-8").splitlines()[0] == (
        "seller_nick,day,source,target,missing,stale,rejected,source_amount,target_amount")
    # The OMS loses a trade, another's payment is edited by hand, and a newer push is not run yet.
    lost, edited, newer = trades[0], trades[1], trades[2]
    dbs.execute("DELETE FROM oms_order WHERE tid = :lost", "DELETE FROM oms_trade WHERE tid = :lost",
                "UPDATE oms_trade SET payment = payment + 0.01 WHERE tid = :edited", lost=lost.tid, edited=edited.tid)
    dbs.push([factory.row(newer, "WAIT_BUYER_CONFIRM_GOODS", T0 + timedelta(hours=1), T0 + timedelta(hours=1))])
    code, out, err = etl("--config", config, "verify", "tb", *window)
    # One missing, one stale, and one seller-day whose payments differ by a cent.
    assert code == 1 and "3 difference(s)" in err
    assert f"missing: {lost.tid}" in out and f"stale: {newer.tid}" in out
    # The table's columns line up on a terminal, where a Chinese seller nick is two columns a character.
    table = [line for line in out.splitlines() if not line.startswith(("missing:", "stale:", "rejected:"))]
    assert len({sum(2 if east_asian_width(c) in "WF" else 1 for c in line) for line in table}) == 1
    rows = csv.read_text(encoding="utf-8").splitlines()  # the earlier CSV is left as it was
    assert len(rows) > 1


def test_json_logs_are_one_object_per_event_without_personal_data(dbs, tmp_path):
    factory = PushFactory(seed=51)
    trades = [factory.trade(T0) for _ in range(5)]
    rows = [factory.row(trade, "SOME_NEW_STATUS", T0, T0) for trade in trades]  # warnings at -v
    rows[0] = {**rows[0], "jdp_response": "{broken"}
    dbs.push(rows)
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    code, out, err = etl("--config", config, "-v", "--log-format", "json", "run")
    assert code == 0
    (summary,) = [orjson.loads(line) for line in out.splitlines()]
    assert {key: summary[key] for key in ("event", "job", "outcome", "rows_read", "pushes_written", "rejects")} == {
        "event": "run", "job": "tb", "outcome": "ok", "rows_read": 5, "pushes_written": 4, "rejects": 1}
    assert isinstance(summary["run_id"], int) and summary["seconds"] >= 0 and summary["window"]["to"]
    logged = [orjson.loads(line) for line in err.splitlines()]
    assert logged and all(record["event"] == "log" and record["level"] for record in logged)
    assert any("SOME_NEW_STATUS" in record["message"] for record in logged)
    for trade in trades:  # receiver ciphertexts and buyer messages never reach a log
        for value in (trade.receiver["receiver_name"], trade.receiver["receiver_address"]):
            assert value not in out + err
    code, _, err = etl("--config", config, "--log-format", "json", "run", "missing")
    assert code == 2 and orjson.loads(err)["exit_code"] == 2


def test_a_terminal_gets_a_progress_bar_and_cron_gets_one_line(dbs, tmp_path):
    dbs.push(list(synth_rows(300, seed=6, start=T0)))
    config = dbs.config_file(tmp_path, {"tb": {"batch_size": 50}})
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal has a size
    process = subprocess.Popen([sys.executable, "-m", "etl", "--config", str(config), "run"],
                               stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        screen += chunk
    out, _ = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    assert b"tb:" in screen and b"rows" in screen and b"rejects=0" in screen
    assert out.decode().startswith("tb: run #1 ok, read 300")
    # Off a terminal (cron, a pipe): the summary line only.
    dbs.push(list(synth_rows(10, seed=7, start=T0 + timedelta(hours=1))))
    process = subprocess.run([sys.executable, "-m", "etl", "--config", str(config), "run"], capture_output=True,
                             timeout=60)
    assert process.returncode == 0 and process.stderr == b"" and len(process.stdout.splitlines()) == 1


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_export_writes_a_window_with_exact_ids_and_money(dbs, tmp_path, form):
    rows = list(synth_rows(40, seed=8, start=T0))
    later = list(synth_rows(5, seed=9, start=T0 + timedelta(days=1)))  # outside the window
    dbs.push(rows + later)
    config = str(dbs.config_file(tmp_path, {"tb": {"batch_size": 7}}))
    assert etl("--config", config, "run")[0] == 0
    out = tmp_path / "export"
    code, printed, err = etl("--config", config, "export", "tb", "--since", "2026-11-11", "--until", "2026-11-12",
                             "--format", form, "--out", str(out))
    assert (code, err) == (0, "") and f"oms_order: {out / f'oms_order.{form}'}" in printed
    expected = {table: dbs.dump(table, order) for table, order in OMS_TABLES}
    window = {row["tid"] for row in rows}
    expected["oms_trade"] = [row for row in expected["oms_trade"] if row[0] in window]
    expected["oms_order"] = [row for row in expected["oms_order"] if row[1] in window]
    expected["oms_promotion"] = [row for row in expected["oms_promotion"] if row[0] in window]
    for table, _order in OMS_TABLES:
        path = out / f"{table}.{form}"
        if form == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            key = "tid" if table != "oms_order" else "oid"
            exported = sorted(frame[key])
            assert exported == sorted(str(row[0]) for row in expected[table])  # exact, never 4.01e+18
            if table == "oms_trade":
                payments = dict(zip(frame["tid"], frame["payment"]))
                assert all(payments[str(row[0])] == f"{row[expected_columns(dbs, table).index('payment')]}"
                           for row in expected[table])
        else:
            data = pq.read_table(path)
            assert str(data.schema.field("tid").type) == "int64"
            if table == "oms_trade":
                assert str(data.schema.field("payment").type) == "decimal128(15, 2)"
            columns = expected_columns(dbs, table)
            as_rows = sorted(tuple(record[name] for name in columns) for record in data.to_pylist())
            assert as_rows == sorted(expected[table])


def expected_columns(dbs, table: str) -> list[str]:
    engine = sa.create_engine(dbs.target_url)
    columns = list(sa.Table(table, sa.MetaData(), autoload_with=engine).columns.keys())
    engine.dispose()
    return columns


def test_run_without_init_says_to_run_init(dbs, tmp_path):
    bare = dbs.other()
    config = str(bare.config_file(tmp_path, {"tb": {}}))
    bare.execute("DROP TABLE oms_trade")
    code, _, err = etl("--config", config, "run")
    assert code == 2 and "etl init" in err


def test_init_is_idempotent(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    code, out, _ = etl("--config", config, "init")
    assert code == 0 and "up to date" in out


def test_a_busy_job_exits_75_and_others_still_run(dbs, tmp_path):
    dbs.push(list(synth_rows(5, seed=2, start=T0)))
    config = str(dbs.config_file(tmp_path, {"tb": {}, "other": {}}))
    url = sa.make_url(dbs.target_url)
    if dbs.backend == "sqlite":
        holder = os.open(f"{url.database}.tb.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(holder, fcntl.LOCK_EX)
        release = lambda: os.close(holder)  # noqa: E731
    else:
        engine = sa.create_engine(url)
        connection = engine.connect()
        name = lock_name(url.database, "tb")
        if dbs.backend == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(name)})
        else:
            connection.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name})
        release = lambda: (connection.close(), engine.dispose())  # noqa: E731
    try:
        code, out, err = etl("--config", config, "run")
        assert code == 75 and "'tb' is busy" in err
        assert "other: run" in out
        code, _, err = etl("--config", config, "retranslate", "tb", "--since", "2026-11-11", "--until", "2026-11-12")
        assert code == 75
    finally:
        release()
    code, _, _ = etl("--config", config, "run", "tb")
    assert code == 0


def test_an_unreachable_database_exits_69_without_the_password(tmp_path):
    (tmp_path / "src.db").touch()
    config = tmp_path / "jobs.yaml"
    config.write_text(
        "jobs:\n  tb:\n"
        f"    source: sqlite:///{tmp_path / 'src.db'}\n"
        "    target: mysql://etl:s3cret@127.0.0.1:1/oms\n",
        encoding="utf-8",
    )
    code, out, err = etl("--config", str(config), "run")
    assert code == 69
    assert "s3cret" not in out + err and "***" in err and "target database" in err


@pytest.mark.parametrize(
    "yaml_text, words",
    [
        ("jobs:\n  tb:\n    source: sqlite://\n    target: sqlite://\n    batchsize: 5\n", ["'tb'", "'batchsize'"]),
        ("jobs:\n  tb:\n    target: sqlite://\n", ["'tb'", "'source'", "required"]),
        ("jobs:\n  tb:\n    source: ${ETL_TEST_UNSET_VAR}\n    target: sqlite://\n", ["'source'", "ETL_TEST_UNSET_VAR"]),
        ("jobs: [\n", ["not valid YAML"]),
    ],
    ids=["unknown-key", "missing-source", "unset-variable", "bad-yaml"],
)
def test_configuration_errors_exit_2_naming_job_and_key(tmp_path, yaml_text, words):
    config = tmp_path / "jobs.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    code, _, err = etl("--config", str(config), "run")
    assert code == 2
    for word in words:
        assert word in err


def test_an_unknown_job_exits_2(dbs, tmp_path):
    config = str(dbs.config_file(tmp_path, {"tb": {}}))
    code, _, err = etl("--config", config, "run", "nope")
    assert code == 2 and "unknown job 'nope'" in err


def test_demo_in_an_empty_folder(tmp_path):
    code, out, err = etl("demo", "--dir", str(tmp_path / "demo"), "--pushes", "300")
    assert code == 0, err
    assert "rejected 2" in out and (tmp_path / "demo" / "oms.db").exists()
    code, out, _ = etl("--config", str(tmp_path / "demo" / "jobs.yaml"), "status")
    assert code == 0 and "demo" in out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kill_9_mid_run_then_rerun_equals_a_clean_run(dbs, tmp_path, seed):
    if dbs.backend == "postgresql" and seed:
        pytest.skip("one seed into PostgreSQL, for CI's time: the others kill the same run at other instants")
    # Killed once the target holds `at` trades: seed 0 at the run's first commit, the others further on,
    # before the broken push or past it. Stopped there first, the run is certainly mid-window when killed.
    at = random.Random(seed).randrange(25, 2000) if seed else 1
    factory = PushFactory(seed=11 + seed)
    rows = rows_at(factory, 3000, T0)
    rows[700] = {**rows[700], "jdp_response": "{broken"}
    dbs.push(rows)
    settings = {"batch_size": 25, "lookback_seconds": 0}
    config = dbs.config_file(tmp_path, {"tb": settings})
    process = spawn(config, "run")
    with paused_mid_window(process, dbs.target_url, at, len(rows) - 1):
        process.kill()
    process.wait()
    code, _, err = etl("--config", str(config), "run")
    assert code == 0, err
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": settings})


def _sigterm_mid_run(dbs, tmp_path, workers: int) -> None:
    factory = PushFactory(seed=12)
    dbs.push(rows_at(factory, 3000, T0))
    config = dbs.config_file(tmp_path, {"tb": {"batch_size": 25, "workers": workers}})
    process = spawn(config, "run")
    # Sent while the run is stopped, the signal lands mid-window, with a batch still to write after the one
    # each process has in hand (a stop is taken before the next batch).
    with paused_mid_window(process, dbs.target_url, 1, 3000, left=(workers + 1) * 25) as (_, running):
        assert len(running) == (workers if workers > 1 else 0)
        process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert dbs.query("SELECT outcome FROM etl_run") == [("interrupted",)]
    # Nothing half-written: every trade below the watermark has all of its lines.
    assert dbs.query("SELECT COUNT(*) FROM oms_trade t WHERE NOT EXISTS "
                     "(SELECT 1 FROM oms_order o WHERE o.tid = t.tid)") == [(0,)]
    assert etl("--config", str(config), "run")[0] == 0
    assert len(dbs.query("SELECT tid FROM oms_trade")) == 3000


def test_sigterm_rolls_back_the_batch_and_records_the_run_as_interrupted(dbs, tmp_path):
    _sigterm_mid_run(dbs, tmp_path, workers=1)


def test_sigterm_stops_the_workers_after_their_batch_and_records_the_run_as_interrupted(mysql_dbs, tmp_path):
    # Workers on a server target only: an SQLite target is always written by one process.
    _sigterm_mid_run(mysql_dbs, tmp_path, workers=2)
