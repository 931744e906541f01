"""Faults from outside the process and hostile input: nothing lost, nothing duplicated, no hand repair."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from decimal import Decimal

import orjson
import pytest
import sqlalchemy as sa
from support import (Relay, assert_equals_clean_run, etl, paused_mid_window, rows_at, spawn, wait_for,
                     wait_for_watermark)

from etl.pipeline import run_job
from etl.synth import PushFactory

T0 = datetime(2026, 11, 11, 10, 0, 0)


def with_document(row: dict, change) -> dict:
    document = orjson.loads(row["jdp_response"])
    change(document["trade_fullinfo_get_response"]["trade"])
    return {**row, "jdp_response": orjson.dumps(document).decode()}


# -- faults from outside --------------------------------------------------------------------


@pytest.fixture
def relay(mysql_dbs):
    relay = Relay(mysql_dbs.target_url)
    yield relay
    relay.close()


def _run_through(relay: Relay, dbs, folder, rows: list[dict], settings: dict):
    """Push `rows`, and start a run of job `tb` whose source and target are reached through `relay`; returns
    its jobs.yaml and its process."""
    dbs.push(rows)
    relayed = type(dbs)(dbs.backend, relay.url(dbs.source_url), relay.url(dbs.target_url), dbs.make_target)
    config = relayed.config_file(folder, {"tb": settings})
    return config, spawn(config, "run")


def test_a_connection_killed_inside_a_batch_is_retried_and_the_run_completes(mysql_dbs, tmp_path):
    # The server's own KILL CONNECTION (its error, its rollback), of a connection certainly inside a batch:
    # the test holds the watermark's row, which the run's next batch moves in its transaction, so that
    # the batch waits for it until the test kills its connection.
    dbs = mysql_dbs
    dbs.push(rows_at(PushFactory(seed=21), 600, T0))
    settings = {"batch_size": 20, "retry_wait_seconds": 0.05, "retries": 10}
    process = spawn(dbs.config_file(tmp_path, {"tb": settings}), "run")
    wait_for_watermark(dbs.target_url, process)
    # A statement of the run's on the watermark's table cannot end while the test holds its row (no
    # information_schema.INNODB_TRX here: the server refreshes it only when unread for 0.1 s).
    waiting = ("FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID() "
               "AND COMMAND = 'Query' AND LOCATE('etl_watermark', INFO) > 0")
    engine = sa.create_engine(dbs.target_url)
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql("SELECT * FROM etl_watermark FOR UPDATE")
            wait_for(process, dbs.target_url, f"SELECT COUNT(*) {waiting}", 1, "a batch waiting for the watermark's row")
            [batch] = holder.exec_driver_sql(f"SELECT ID {waiting}").scalars().all()
            holder.exec_driver_sql(f"KILL CONNECTION {int(batch)}")
            holder.rollback()
    finally:
        engine.dispose()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert re.search(rb"failed while writing a batch \(.*\); retry 1 of 10", err), err
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": settings})


def test_connections_lost_mid_window_are_retried_and_the_run_completes(mysql_dbs, relay, tmp_path):
    # Twice, the run stopped mid-window loses every connection and its next new one is refused: whatever
    # it does next (a query on a lost connection, or a new one), it fails once, and is retried.
    dbs = mysql_dbs
    rows = rows_at(PushFactory(seed=21), 800, T0)
    settings = {"batch_size": 20, "retry_wait_seconds": 0.05, "retries": 10}
    _, process = _run_through(relay, dbs, tmp_path, rows, settings)
    for at_least in (1, 300):
        with paused_mid_window(process, dbs.target_url, at_least, len(rows)):
            relay.cut(refuse=1)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert relay.refused == 2 and err.count(b"retry 1 of 10") >= 2, err
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": settings})


def test_when_retries_are_spent_the_run_says_so_and_the_next_resumes(mysql_dbs, relay, tmp_path):
    # The server gone mid-window for longer than the retries last: every connection cut, every new one refused.
    dbs = mysql_dbs
    rows = rows_at(PushFactory(seed=20), 600, T0)
    settings = {"batch_size": 20, "retry_wait_seconds": 0.01, "retries": 1}
    config, process = _run_through(relay, dbs, tmp_path, rows, settings)
    with paused_mid_window(process, dbs.target_url, 1, len(rows)) as (held, _):
        relay.cut(refuse=math.inf)
    _, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 69, err  # unavailable
    assert b"Traceback" not in err and b"internal error" not in err
    assert lines[-1].startswith("etl: job 'tb': ") and "gave up after 2 attempts" in lines[-1], err
    assert sa.make_url(dbs.target_url).database in lines[-1] or sa.make_url(dbs.source_url).database in lines[-1]
    relay.admit()
    code, out, err = etl("--config", str(config), "run")
    assert code == 0, err
    assert int(re.search(r"wrote (\d+)", out)[1]) <= len(rows) - held, out  # not what the first run committed
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": settings})


def _terminate_backends(target_url: str) -> int:
    """PostgreSQL's pg_terminate_backend of every other connection to the target's database; how many."""
    engine = sa.create_engine(target_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            return len(connection.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


def test_terminated_backends_are_survived_and_the_run_completes(postgresql_dbs, tmp_path):
    # Twice, every connection of a run stopped mid-window is ended by the server (its lock's included):
    # the run carries on (a reconnect, or a retry of the batch) and ends as a clean run.
    dbs = postgresql_dbs
    rows = rows_at(PushFactory(seed=21), 800, T0)
    dbs.push(rows)
    settings = {"batch_size": 20, "retry_wait_seconds": 0.05, "retries": 10}
    process = spawn(dbs.config_file(tmp_path, {"tb": settings}), "run")
    for at_least in (1, 300):
        with paused_mid_window(process, dbs.target_url, at_least, len(rows)):
            assert _terminate_backends(dbs.target_url) >= 1
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert_equals_clean_run(dbs, tmp_path / "clean", {"tb": settings})


def test_a_second_run_of_a_busy_job_exits_75(dbs, tmp_path):
    rows = rows_at(PushFactory(seed=22), 600, T0)
    dbs.push(rows)
    config = dbs.config_file(tmp_path, {"tb": {"batch_size": 10}})
    first = spawn(config, "run")
    # The first run, stopped mid-window, holds the job's lock all the while the second runs; stopped
    # anywhere, within a write too (on SQLite that holds the database): the second asks for the job's lock
    # before it reads the target, and says busy at once.
    with paused_mid_window(first, dbs.target_url, 1, len(rows)):
        code, _, err = etl("--config", str(config), "run")
    _, first_err = first.communicate(timeout=120)
    assert (first.returncode, code) == (0, 75), first_err
    assert "busy" in err
    assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(len(rows),)]


def test_two_jobs_into_one_target_run_side_by_side(dbs, tmp_path):
    factory = PushFactory(seed=23, sellers=("店A", "店B", "店C"))
    rows = rows_at(factory, 1200, T0)
    dbs.push(rows)
    # The jobs overlap on 店B: both write its trades into the same tables.
    jobs = {"ab": {"sellers": ["店A", "店B"], "batch_size": 25, "retry_wait_seconds": 0.05},
            "bc": {"sellers": ["店B", "店C"], "batch_size": 25, "retry_wait_seconds": 0.05}}
    config = dbs.config_file(tmp_path, jobs)
    ab = spawn(config, "run", "ab")
    # bc starts and commits while ab is stopped mid-window (between two of its transactions, or bc would
    # wait for it): the runs certainly overlap. Then both write on at once, for as long as both last.
    ab_rows = sum(row["seller_nick"] != "店C" for row in rows)
    with paused_mid_window(ab, dbs.target_url, 1, ab_rows, between_transactions=True):
        bc = spawn(config, "run", "bc")
        wait_for_watermark(dbs.target_url, bc, job="bc")
    errors = [process.communicate(timeout=180)[1] for process in (ab, bc)]
    assert [ab.returncode, bc.returncode] == [0, 0], errors
    assert_equals_clean_run(dbs, tmp_path / "clean", {"all": {}})


# -- hostile input --------------------------------------------------------------------------


def _duplicate_status(row: dict) -> dict:
    # orjson keeps the last of duplicate keys, as most JSON parsers do.
    text = row["jdp_response"].replace('"status":', '"status":"TRADE_CLOSED","status":', 1)
    return {**row, "jdp_response": text}


def _swap_types(trade: dict) -> None:
    trade["orders"]["order"][0]["num"] = "2"
    trade["payment"] = 200.07
    trade["orders"]["order"][0]["outer_iid"] = 12345


def _no_oid(trade: dict) -> None:
    order = trade["orders"]["order"][0]
    order.pop("oid_str")
    order["oid"] = "12x"


def _huge(trade: dict) -> None:
    # Several MB: hundreds of lines, and bulky fields the OMS does not map.
    line = trade["orders"]["order"][0]
    trade["orders"]["order"] = [
        {**line, "oid": 10**18 + index, "oid_str": str(10**18 + index), "customization": "定制" * 3000}
        for index in range(400)
    ]


HOSTILE = [
    ("duplicate-keys", _duplicate_status, None),
    ("numbers-and-strings-swapped", lambda row: with_document(row, _swap_types), None),
    ("several-mb", lambda row: with_document(row, _huge), None),
    ("orders-empty", lambda row: with_document(row, lambda t: t.update(orders={"order": []})), "no orders"),
    ("orders-missing", lambda row: with_document(row, lambda t: t.pop("orders")), "no orders"),
    ("id-does-not-parse", lambda row: with_document(row, _no_oid), "not a numeric id"),
    ("truncated", lambda row: {**row, "jdp_response": row["jdp_response"][:300]}, "not valid JSON"),
    ("error-response", lambda row: {**row, "jdp_response": '{"error_response":{"code":7,"msg":"App Call Limited"}}'},
     "App Call Limited"),
    ("tid-disagrees", lambda row: {**row, "tid": row["tid"] + 1}, "differs"),
    ("null-jdp-modified", lambda row: {**row, "jdp_modified": None}, "jdp_modified is NULL"),
]


@pytest.mark.parametrize("mutate, reason", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_pushes_translate_or_are_rejected_with_a_reason(dbs, mutate, reason):
    factory = PushFactory(seed=24)
    rows = rows_at(factory, 6, T0)
    rows[2] = mutate(rows[2])
    dbs.push(rows)
    result = run_job(dbs.job(batch_size=4, batch_bytes=2**20))
    assert result.counts.rows_read == 6
    rejects = dbs.query("SELECT tid, error FROM etl_reject")
    if reason is None:
        assert rejects == [] and result.counts.pushes_written == 6
    else:
        assert [tid for tid, _ in rejects] == [rows[2]["tid"]] and reason in rejects[0][1]
        assert result.counts.pushes_written == 5
        # No partial trade: the rejected tid has no lines either.
        assert dbs.query(f"SELECT COUNT(*) FROM oms_order WHERE tid = {int(rows[2]['tid'])}") == [(0,)]


def test_swapped_types_translate_exactly(dbs):
    row = with_document(rows_at(PushFactory(seed=25), 1, T0)[0], _swap_types)
    dbs.push([row])
    run_job(dbs.job())
    assert dbs.select("oms_trade", "payment") == [(Decimal("200.07"),)]
    assert (2, "12345") in dbs.select("oms_order", "num, outer_iid")


def test_non_utf8_bytes_are_rejected(dbs):
    row = rows_at(PushFactory(seed=26), 1, T0)[0]
    bad = row["jdp_response"].encode().replace("买家".encode(), b"\xff\xfe", 1)
    engine = sa.create_engine(dbs.source_url)
    with engine.begin() as connection:
        if dbs.source_backend == "mysql":
            # A utf8mb4 column cannot hold these bytes; a landing table with a blob column can.
            connection.exec_driver_sql("ALTER TABLE jdp_tb_trade MODIFY jdp_response MEDIUMBLOB")
        connection.execute(
            sa.text("INSERT INTO jdp_tb_trade (tid, seller_nick, jdp_response, jdp_modified) VALUES (:t, :s, :d, :m)"),
            {"t": row["tid"], "s": row["seller_nick"], "d": bad, "m": T0},
        )
    engine.dispose()
    run_job(dbs.job())
    [(error,)] = dbs.query("SELECT error FROM etl_reject")
    assert "UTF-8" in error


# -- reject budget and retry ----------------------------------------------------------------


@pytest.mark.parametrize("budget", [{"max_rejects": 3}, {"max_reject_share": 0.2}], ids=["count", "share"])
def test_a_flood_of_rejects_stops_the_run_before_the_bad_stretch(dbs, tmp_path, budget):
    factory = PushFactory(seed=27)
    good = rows_at(factory, 150, T0, per_second=1)
    bad = [{**row, "jdp_response": "{}"} for row in rows_at(factory, 50, T0 + timedelta(hours=1), per_second=1)]
    dbs.push(good + bad)
    config = dbs.config_file(tmp_path, {"tb": {"batch_size": 50, **budget}})
    code, _, err = etl("--config", str(config), "run")
    assert code == 65 and "budget" in err
    last_good = max((row["jdp_modified"], row["tid"]) for row in good)
    assert dbs.select("etl_watermark", "jdp_modified, tid") == [last_good]
    assert dbs.query("SELECT outcome FROM etl_run") == [("failed",)]
    assert dbs.query("SELECT COUNT(*) FROM etl_reject") == [(0,)]


def test_rejects_retry_translates_what_the_source_now_holds(dbs, tmp_path):
    factory = PushFactory(seed=28)
    trade, gone = factory.trade(T0), factory.trade(T0)
    fixed = factory.row(trade, "WAIT_SELLER_SEND_GOODS", T0, T0)
    dbs.push([{**fixed, "jdp_response": "{broken"}, {**factory.row(gone, "WAIT_SELLER_SEND_GOODS", T0, T0),
                                                     "jdp_response": "{}"}])
    dbs.push(rows_at(factory, 20, T0 + timedelta(hours=2)))
    config = dbs.config_file(tmp_path, {"tb": {}})
    assert etl("--config", str(config), "run")[0] == 0
    code, out, _ = etl("--config", str(config), "rejects")
    assert code == 0 and out.startswith("tb: 2 open rejects")
    # The source row is repaired in place (same jdp_modified, far behind the lookback), another deleted.
    dbs.push([fixed])
    engine = sa.create_engine(dbs.source_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM jdp_tb_trade WHERE tid = :t"), {"t": gone.tid})
    engine.dispose()
    assert etl("--config", str(config), "run")[0] == 0
    assert dbs.query(f"SELECT COUNT(*) FROM oms_trade WHERE tid = {trade.tid}") == [(0,)]
    code, out, _ = etl("--config", str(config), "rejects", "tb", "--retry")
    assert code == 0 and "no longer in the source 1" in out and "tb: 1 open reject" in out
    assert dbs.query(f"SELECT COUNT(*) FROM oms_trade WHERE tid = {trade.tid}") == [(1,)]
    code, out, _ = etl("--config", str(config), "rejects", "--json")
    assert orjson.loads(out)["tb"]["open"] == 1


# -- least privilege -------------------------------------------------------------------------


def _users(url: sa.URL, *, reader: str | None = None, writer: str | None = None) -> tuple[list[str], list[str]]:
    """The statements that make the README's least-privilege users on `url`'s server, and those that drop them:
    a `reader` of the source (MySQL) and a `writer` of the target."""
    if url.get_backend_name() == "postgresql":
        # USAGE on the schema and TEMPORARY on the database are PUBLIC's by default; the identity columns'
        # sequences (etl_run, etl_reject) need USAGE.
        return ([f"CREATE ROLE {writer} LOGIN PASSWORD 'write-pw'",
                 f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {writer}",
                 f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {writer}"],
                [f"DROP OWNED BY {writer}", f"DROP ROLE IF EXISTS {writer}"])
    make, drop = [], []
    if writer is not None:
        make += [f"CREATE USER '{writer}'@'%%' IDENTIFIED BY 'write-pw'",
                 f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{url.database}`.* TO '{writer}'@'%%'"]
        drop += [f"DROP USER IF EXISTS '{writer}'@'%%'"]
    if reader is not None:
        make += [f"CREATE USER '{reader}'@'%%' IDENTIFIED BY 'read-pw'", f"GRANT SELECT ON `{url.database}`.* TO '{reader}'@'%%'"]
        drop += [f"DROP USER IF EXISTS '{reader}'@'%%'"]
    return make, drop


def _on(url: sa.URL, statements: list[str]) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    admin.dispose()


def test_the_job_runs_with_least_privilege_users(server_dbs, tmp_path):
    dbs = server_dbs
    source, target = sa.make_url(dbs.source_url), sa.make_url(dbs.target_url)
    suffix = target.database[-14:]
    reader, writer = f"r{suffix}", f"w{suffix}"
    source_users, target_users = _users(source, reader=reader), _users(target, writer=writer)
    _on(source, source_users[0])
    _on(target, target_users[0])
    try:
        factory = PushFactory(seed=29)
        rows = rows_at(factory, 30, T0)
        rows[5] = {**rows[5], "jdp_response": "{}"}
        dbs.push(rows)
        limited = type(dbs)(
            dbs.backend,
            source.set(username=reader, password="read-pw").render_as_string(hide_password=False),
            target.set(username=writer, password="write-pw").render_as_string(hide_password=False),
            dbs.make_target,
        )
        config = str(limited.config_file(tmp_path, {"tb": {}}))
        for command in (["run"], ["retranslate", "tb", "--since", "2026-11-11", "--until", "2026-11-12"],
                        ["rejects", "--retry"], ["status"]):
            code, out, err = etl("--config", config, *command)
            assert code == 0, (command, err)
            assert "read-pw" not in out + err and "write-pw" not in out + err
        assert dbs.query("SELECT COUNT(*) FROM oms_trade") == [(29,)]
    finally:
        _on(source, source_users[1])
        _on(target, target_users[1])
