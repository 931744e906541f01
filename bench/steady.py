"""The job as it is lived: cron ticks over pushes that arrive over time, and a seller list on a push table
shared by several sellers, on MySQL/MariaDB.

    python bench/steady.py [--url mysql+pymysql://root@127.0.0.1:3306/] [--history 30000] [--ticks 10]
    python bench/steady.py --shared [--pushes 100000]

steady (the default):
  fresh        `etl run` (defaults) over `--history` pushes into empty OMS tables: the cost of a fresh write
  held         `etl run` again, its lookback over the whole history, which the target holds unchanged:
               seconds and bytes from the server against the fresh write (the target: <= 5% of both)
  ticks        `--ticks` cron ticks: before each, `--tick-seconds` of the platform's clock pass, in which
               `--new` new trades and `--updates` updates of recent ones (within the lookback) are pushed;
               each tick is `etl run` with the defaults (lookback 300 s). Per tick: rows read, documents
               read, rows the server read from the push table, bytes it sent, seconds, and seconds per
               pushed row against the fresh write's

shared (`--shared`): a push table of four sellers (two of 40% of `--pushes`, two of 10%), pushes
  interleaved second by second; a job of the two small sellers against the two sellers' own jobs: the
  rows the server read from the push table per row returned (the target: the list <= 1.2x the two jobs)

The server's own counts come from MariaDB's user statistics (`userstat`, switched on for the run and
back off after): rows read per table (TABLE_STATISTICS) and bytes sent per user (USER_STATISTICS; the
job reads the push table as a user of its own, so that the target's traffic is not counted). A server
without them (MySQL) gets the global status instead, which counts the target's reads and bytes too.
Every run is a child process, as cron starts it; the source shares the OMS server's CPU here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import sqlalchemy as sa

from etl.database.engines import target_engine
from etl.database.load_data import load_rows
from etl.database.tables import reflect
from etl.schema import apply_sql, sql_file
from etl.synth import PushFactory, Trade

T0 = datetime(2026, 11, 11, 0, 0, 0)
READER = "etl_bench_reader"


@dataclass(frozen=True)
class Counts:
    """What the server did meanwhile: rows read from the push table, bytes sent to the job's reader."""

    rows: int
    bytes: int

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.rows - other.rows, self.bytes - other.bytes)


class Server:
    """The MySQL/MariaDB server the benchmark runs on, and its counts of the push table's reads."""

    def __init__(self, url: sa.URL, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.admin = sa.create_engine(url.set(database=None), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            self.userstat = connection.exec_driver_sql("SHOW GLOBAL VARIABLES LIKE 'userstat'").first() is not None
            if self.userstat:
                connection.exec_driver_sql("SET GLOBAL userstat = 1")

    def close(self) -> None:
        if self.userstat:
            with self.admin.connect() as connection:
                connection.exec_driver_sql("SET GLOBAL userstat = 0")
        self.admin.dispose()

    def database(self, name: str) -> str:
        """A new, empty database `PREFIX_name`; its URL (as the administrator)."""
        full = f"{self.prefix}_{name}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {full}")
            connection.exec_driver_sql(f"CREATE DATABASE {full} CHARACTER SET utf8mb4")
        return self.url.set(database=full).render_as_string(hide_password=False)

    def reader(self, source: str) -> str:
        """The source's URL as a user who may only read it: its bytes are counted apart."""
        database = sa.make_url(source).database
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{READER}'@'%%' IDENTIFIED BY 'bench'")
            connection.exec_driver_sql(f"GRANT SELECT ON {database}.* TO '{READER}'@'%%'")
        return sa.make_url(source).set(username=READER, password="bench").render_as_string(hide_password=False)

    def counts(self, source: str) -> Counts:
        database = sa.make_url(source).database
        with self.admin.connect() as connection:
            if not self.userstat:
                status = dict(connection.exec_driver_sql(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_rows_read', 'Bytes_sent')").all())
                return Counts(int(status["Innodb_rows_read"]), int(status["Bytes_sent"]))
            rows = connection.exec_driver_sql(
                "SELECT COALESCE(SUM(ROWS_READ), 0) FROM information_schema.TABLE_STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'jdp_tb_trade'", (database,)).scalar()
            sent = connection.exec_driver_sql(
                "SELECT COALESCE(SUM(BYTES_SENT), 0) FROM information_schema.USER_STATISTICS WHERE USER = %s",
                (READER,)).scalar()
        return Counts(int(rows), int(sent))


def push(source: str, rows: list[dict]) -> None:
    """Insert or replace rows of jdp_tb_trade, as the platform updates its table in place."""
    engine = target_engine(sa.make_url(source), load_data=True)
    table = reflect(engine, ["jdp_tb_trade"], role="source")["jdp_tb_trade"]
    with engine.connect() as connection:
        for start in range(0, len(rows), 5000):
            load_rows(connection, table, rows[start:start + 5000], replace=True)
            connection.commit()
    engine.dispose()


def new_source(server: Server, name: str, marks_index: bool = False) -> str:
    source = server.database(name)
    engine = sa.create_engine(source)
    with engine.begin() as connection:
        apply_sql(connection, sql_file("source", "mysql.sql"))
        if marks_index:
            apply_sql(connection, sql_file("source", "mysql_marks_index.sql"))
    engine.dispose()
    return source


@dataclass(frozen=True)
class Run:
    seconds: float
    summary: dict
    server: Counts


def run(server: Server, folder: Path, name: str, source: str, target: str, settings: str = "",
        extra: tuple[str, ...] = ()) -> Run:
    """`etl run` of a job `bench` (defaults, and `settings`) as a child process; its summary and the server's counts."""
    config = folder / f"{name}.yaml"
    config.write_text(f"jobs:\n  bench:\n    source: {server.reader(source)}\n    target: {target}\n{settings}",
                      encoding="utf-8")
    etl = [sys.executable, "-m", "etl", "--config", str(config)]
    subprocess.run([*etl, "init"], check=True, stdout=subprocess.DEVNULL)
    before = server.counts(source)
    started = time.perf_counter()
    done = subprocess.run([*etl, "--log-format", "json", "run", *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stdout}{done.stderr}")
    return Run(seconds, orjson.loads(done.stdout.splitlines()[-1]), server.counts(source) - before)


def steady(server: Server, arguments: argparse.Namespace, folder: Path) -> None:
    factory = PushFactory(arguments.seed)
    source, target = new_source(server, "steady_src", arguments.marks_index), server.database("steady_oms")
    clock = T0
    recent: list[tuple[Trade, datetime]] = []
    history = []
    for index in range(arguments.history):
        clock = T0 + timedelta(seconds=index * arguments.tick_seconds // max(1, arguments.new))
        trade = factory.trade(clock - timedelta(minutes=5))
        history.append(factory.row(trade, "WAIT_BUYER_PAY", clock, clock))
        recent.append((trade, clock))
    push(source, history)
    json_bytes = sum(len(row["jdp_response"].encode()) for row in history)
    fresh = run(server, folder, "fresh", source, target)
    span = int((clock - T0).total_seconds()) + 1
    held = run(server, folder, "held", source, target, f"    lookback_seconds: {span}\n")
    print(f"\n{arguments.history:,} pushes of history ({json_bytes / 2**20:,.0f} MB of JSON), "
          f"{'with' if arguments.marks_index else 'without'} the marks index, "
          f"{server.url.host}, user statistics {'on' if server.userstat else 'unavailable (global status)'}")
    print("| run | rows read | documents read | pushes written | server rows read | bytes sent | seconds "
          "| vs fresh: seconds | vs fresh: bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, measured in (("fresh", fresh), ("held (lookback over it all)", held)):
        summary = measured.summary
        print(f"| {name} | {summary['rows_read']:,} | {summary['documents_read']:,} | {summary['pushes_written']:,} "
              f"| {measured.server.rows:,} | {measured.server.bytes:,} | {measured.seconds:.2f} "
              f"| {measured.seconds / fresh.seconds:.3f} | {measured.server.bytes / fresh.server.bytes:.3f} |")
    fresh_per_push = fresh.seconds / arguments.history
    print(f"\n{arguments.ticks} ticks of {arguments.tick_seconds} s of the platform's clock, {arguments.new} new "
          f"trades and {arguments.updates} updates a tick, the defaults (lookback 300 s); the fresh write: "
          f"{fresh_per_push * 1e3:.3f} ms a push")
    print("| tick | pushed | rows read | documents read | server rows read | bytes sent | seconds "
          "| ms a pushed row | vs fresh |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tick in range(1, arguments.ticks + 1):
        start = clock
        rows = []
        for index in range(arguments.new):
            moment = start + timedelta(seconds=1 + index * arguments.tick_seconds // arguments.new)
            trade = factory.trade(moment - timedelta(minutes=1))
            rows.append(factory.row(trade, "WAIT_BUYER_PAY", moment, moment))
            recent.append((trade, moment))
        lookback_start = start - timedelta(seconds=300)
        candidates = [trade for trade, moment in recent if moment > lookback_start]
        for index, trade in enumerate(factory.rng.sample(candidates, min(arguments.updates, len(candidates)))):
            moment = start + timedelta(seconds=1 + index * arguments.tick_seconds // max(1, arguments.updates))
            rows.append(factory.row(trade, "WAIT_SELLER_SEND_GOODS", moment, moment))
        clock = start + timedelta(seconds=arguments.tick_seconds)
        push(source, rows)
        measured = run(server, folder, f"tick{tick}", source, target)
        summary = measured.summary
        per_row = measured.seconds / len(rows)
        print(f"| {tick} | {len(rows):,} | {summary['rows_read']:,} | {summary['documents_read']:,} "
              f"| {measured.server.rows:,} | {measured.server.bytes:,} | {measured.seconds:.2f} | {per_row * 1e3:.2f} "
              f"| {per_row / fresh_per_push:.1f}x |")


def shared(server: Server, arguments: argparse.Namespace, folder: Path) -> None:
    sizes = {"大店一": 0.4, "大店二": 0.4, "小店三": 0.1, "小店四": 0.1}
    factories = {seller: PushFactory(arguments.seed + index, sellers=(seller,)) for index, seller in enumerate(sizes)}
    source = new_source(server, "shared_src")
    rows, per_second = [], 40
    for index in range(arguments.pushes):
        seller = factories[list(sizes)[0]].rng.choices(list(sizes), list(sizes.values()))[0]
        factory = factories[seller]
        moment = T0 + timedelta(seconds=index // per_second)
        rows.append(factory.row(factory.trade(moment), "WAIT_SELLER_SEND_GOODS", moment, moment))
    push(source, rows)
    small = [seller for seller, share in sizes.items() if share < 0.2]
    listed = run(server, folder, "listed", source, server.database("shared_list"),
                 f"    sellers: [{', '.join(small)}]\n")
    apart = [run(server, folder, f"apart{index}", source, server.database(f"shared_apart{index}"),
                 f"    sellers: [{seller}]\n") for index, seller in enumerate(small)]
    returned = sum(1 for row in rows if row["seller_nick"] in small)
    apart_rows = sum(measured.server.rows for measured in apart)
    print(f"\n{arguments.pushes:,} pushes of four sellers ({', '.join(f'{s} {v:.0%}' for s, v in sizes.items())}), "
          f"{server.url.host}, user statistics {'on' if server.userstat else 'unavailable (global status)'}")
    print("| jobs | rows returned | server rows read | read per returned | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| one job, sellers: [{', '.join(small)}] | {listed.summary['rows_read']:,} | {listed.server.rows:,} "
          f"| {listed.server.rows / returned:.2f} | {listed.seconds:.2f} |")
    print(f"| a job per seller | {sum(m.summary['rows_read'] for m in apart):,} | {apart_rows:,} "
          f"| {apart_rows / returned:.2f} | {sum(m.seconds for m in apart):.2f} |")
    print(f"\nthe list against the sellers' own jobs: {listed.server.rows / apart_rows:.2f}x the rows read")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("ETL_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/"))
    parser.add_argument("--prefix", default="etl_bench")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--shared", action="store_true", help="the shared push table instead of the ticks")
    parser.add_argument("--pushes", type=int, default=100_000, help="--shared: pushes in the table")
    parser.add_argument("--history", type=int, default=30_000, help="pushes before the first tick")
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--tick-seconds", type=int, default=60, help="of the platform's clock between ticks")
    parser.add_argument("--new", type=int, default=600, help="new trades a tick")
    parser.add_argument("--updates", type=int, default=300, help="updates of recent trades a tick")
    parser.add_argument("--marks-index", action="store_true",
                        help="add sql/source/mysql_marks_index.sql's index to the push table first")
    arguments = parser.parse_args()
    server = Server(sa.make_url(arguments.url), arguments.prefix)
    try:
        with tempfile.TemporaryDirectory() as name:
            (shared if arguments.shared else steady)(server, arguments, Path(name))
    finally:
        server.close()


if __name__ == "__main__":
    main()
