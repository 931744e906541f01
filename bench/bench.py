"""Benchmark: `etl run` against the naive pandas job on the same pushes, on MySQL/MariaDB.

    python bench/bench.py --url mysql+pymysql://root@127.0.0.1:3306/ --pushes 200000

Builds a source database with N seeded, realistic pushes (etl.synth: 19-digit ids, bursty
seconds, emoji, ciphertexts, 1-5 lines, 0-3 promotions, ~6 KB each), then measures, each
in a child process of its own (so peak RSS is that process's alone, read with wait4):

  run          `etl run` over the fresh window into empty OMS tables
  catch-up     `etl run` again with a lookback over the whole window: nothing changed
  retranslate  `etl retranslate` of the whole window over the existing rows
  pandas       read_sql + json.loads + to_sql: the job users write first (bench/baseline.py)

and prints trades/s, MB/s of JSON, peak RSS (summed over the job's processes: with
`--workers` the coordinator and its workers), the CPU seconds of the job's processes and, for
a server on this machine, of the server, and the ratio to the baseline. Compare ratios
within one run: the machines here are shared and noisy. `--reuse-source` keeps a source of
the same size from an earlier run (building 1,000,000 pushes takes minutes).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from etl.database.engines import target_engine
from etl.database.load_data import load_rows
from etl.database.tables import reflect
from etl.schema import apply_sql, sql_file
from etl.synth import synth_rows

HERE = Path(__file__).resolve().parent
_COLUMNS = ("tid", "status", "type", "seller_nick", "buyer_nick", "created", "modified", "jdp_hashcode",
            "jdp_response", "jdp_created", "jdp_modified")


@dataclass(frozen=True)
class Measure:
    phase: str
    trades: int
    seconds: float
    peak_rss_mb: float
    json_mb: float
    job_cpu: float
    server_cpu: float | None

    def line(self, baseline: Measure | None) -> str:
        rate = self.trades / self.seconds if self.seconds else 0.0
        ratio = ""
        if baseline is not None and baseline.seconds:
            ratio = f"{rate / (baseline.trades / baseline.seconds):.1f}x"
        server = "-" if self.server_cpu is None else f"{self.server_cpu:.1f}"
        return (f"| {self.phase} | {self.trades:,} | {self.seconds:.1f} | {rate:,.0f} | "
                f"{self.json_mb / self.seconds:.1f} | {self.peak_rss_mb:.0f} | {self.job_cpu:.1f} | {server} | {ratio} |")


def _server_cpu() -> float | None:
    """CPU seconds the local MySQL/MariaDB server has used (None: no such process here).

    With the server on the same box the two share the cores: which of them a change saves is
    what a same-run comparison needs (the wall time of one run drifts with the machine)."""
    for name in ("mariadbd", "mysqld"):
        found = subprocess.run(["pidof", name], capture_output=True, text=True).stdout.split()
        if found:
            fields = Path(f"/proc/{found[0]}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def _children_cpu() -> float:
    """CPU seconds of the waited-for children (and, through them, their own children: workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _prefix(text: str) -> str:
    """Database names are written into the SQL: letters, digits and underscores only."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,50}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a database name prefix (letters, digits, _)")
    return text


def _database(server: sa.URL, name: str, *, keep: bool = False) -> str:
    admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not keep:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def build_source(url: str, pushes: int, seed: int, *, reuse: bool = False) -> float:
    """Fill jdp_tb_trade with `pushes` rows (or keep a table of that size); returns the MB of JSON."""
    engine = target_engine(sa.make_url(url), load_data=True)
    with engine.begin() as connection:
        apply_sql(connection, sql_file("source", "mysql.sql"))
        count, size = connection.exec_driver_sql("SELECT COUNT(*), SUM(LENGTH(jdp_response)) FROM jdp_tb_trade").one()
    if reuse and count == pushes:
        engine.dispose()
        return float(size) / 2**20
    table = reflect(engine, ["jdp_tb_trade"], role="source")["jdp_tb_trade"]
    total, chunk = 0, []
    with engine.connect() as connection:
        connection.exec_driver_sql("TRUNCATE TABLE jdp_tb_trade")
        for row in synth_rows(pushes, seed=seed):
            chunk.append({name: row[name] for name in _COLUMNS})
            total += len(row["jdp_response"].encode())
            if len(chunk) == 5000:
                load_rows(connection, table, chunk, replace=False)
                connection.commit()
                chunk = []
        load_rows(connection, table, chunk, replace=False)
        connection.commit()
    engine.dispose()
    return total / 2**20


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants, from /proc (Linux)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, AttributeError):
            continue  # gone meanwhile, or a zombie without VmRSS
    return total


def timed(phase: str, command: list[str], trades: int, json_mb: float) -> Measure:
    """Run `command` as a child; wall time and the peak of its process tree's summed RSS."""
    server_before, job_before = _server_cpu(), _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = (stream.decode() for stream in process.communicate())
    seconds = time.perf_counter() - started
    sampler.join()
    server_after = _server_cpu()
    server = None if server_before is None or server_after is None else server_after - server_before
    if process.returncode != 0:
        sys.exit(f"{phase} failed:\n{out}{err}")
    print(f"  {phase}: {out.strip() or err.strip()}", file=sys.stderr)
    reported = re.search(r"read (\d+)", out)
    return Measure(phase, int(reported.group(1)) if reported else trades, seconds, peak[0] / 2**20, json_mb,
                   _children_cpu() - job_before, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("ETL_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
                        help="a MySQL/MariaDB server URL; databases PREFIX_src, _oms, _pandas are (re)created there")
    parser.add_argument("--prefix", type=_prefix, default="etl_bench",
                        help="of the databases' names (default etl_bench); CI uses its own, so that its small run "
                             "never drops a large source kept for --reuse-source")
    parser.add_argument("--pushes", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="`etl run/retranslate --workers` (default 2)")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="leave out the pandas job (it needs ~30 KB of memory per push: 1M do not fit in 24 GB)")
    parser.add_argument("--no-ext", action="store_true",
                        help="run the job with keep_ext: false (to measure what oms_trade.ext costs)")
    parser.add_argument("--reuse-source", action="store_true",
                        help="keep PREFIX_src if it holds --pushes rows already")
    parser.add_argument("--local-sql", type=Path, metavar="FILE",
                        help="a file of DDL that `etl init` applies to the OMS tables after the job's own (as a "
                             "user's sql/local/ would): to measure a lever of the schema, such as a compression")
    arguments = parser.parse_args()

    server = sa.make_url(arguments.url)
    source = _database(server, f"{arguments.prefix}_src", keep=arguments.reuse_source)
    target = _database(server, f"{arguments.prefix}_oms")
    print(f"building {arguments.pushes:,} pushes ...", file=sys.stderr)
    json_mb = build_source(source, arguments.pushes, arguments.seed, reuse=arguments.reuse_source)
    print(f"  {json_mb:,.0f} MB of JSON, {json_mb * 1024 / arguments.pushes:.1f} KB per push", file=sys.stderr)

    with tempfile.TemporaryDirectory() as folder:
        configs = []
        for name, lookback in (("jobs.yaml", 300), ("catch-up.yaml", 30 * 86_400)):
            configs.append(Path(folder) / name)
            configs[-1].write_text(f"jobs:\n  bench:\n    source: {source}\n    target: {target}\n"
                                   f"    batch_size: {arguments.batch_size}\n    lookback_seconds: {lookback}\n"
                                   f"    keep_ext: {'false' if arguments.no_ext else 'true'}\n",
                                   encoding="utf-8")
        if arguments.local_sql is not None:
            local = Path(folder) / "sql" / "local"
            local.mkdir(parents=True)
            shutil.copy(arguments.local_sql, local)
        etl = [sys.executable, "-m", "etl", "--config", str(configs[0])]
        workers = ["--workers", str(arguments.workers)]
        subprocess.run([*etl, "init"], check=True, stdout=subprocess.DEVNULL)
        n = arguments.pushes
        results = [
            timed("etl run (fresh window)", [*etl, "run", *workers], n, json_mb),
            timed("etl run (catch-up: all re-read, nothing changed)",
                  [sys.executable, "-m", "etl", "--config", str(configs[1]), "run", *workers], n, json_mb),
            timed("etl retranslate (over existing rows)",
                  [*etl, "retranslate", "bench", "--since", "2000-01-01", "--until", "2100-01-01", *workers],
                  n, json_mb),
        ]
    baseline = None
    if not arguments.skip_baseline:
        pandas_target = _database(server, f"{arguments.prefix}_pandas")
        baseline = timed("pandas read_sql + json.loads + to_sql",
                         [sys.executable, str(HERE / "baseline.py"), source, pandas_target], n, json_mb)
        results.append(baseline)

    admin = sa.create_engine(server.set(database=None))
    with admin.connect() as connection:
        version, pool = connection.exec_driver_sql("SELECT VERSION(), @@innodb_buffer_pool_size").one()
    admin.dispose()
    local_sql = f"sql/local {arguments.local_sql.name}, " if arguments.local_sql else ""
    print(f"\n{arguments.pushes:,} pushes, {json_mb:,.0f} MB of JSON, batch_size {arguments.batch_size}, "
          f"--workers {arguments.workers}, keep_ext {not arguments.no_ext}, {local_sql}{os.cpu_count()} cores, "
          f"server {version} on {server.host} with a {pool / 2**20:,.0f} MB buffer pool")
    print("| phase | trades | seconds | trades/s | JSON MB/s | peak RSS MB | job CPU s | server CPU s | vs pandas |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for measure in results:
        print(measure.line(baseline))


if __name__ == "__main__":
    main()
