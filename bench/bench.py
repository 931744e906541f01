"""Benchmark: `etl run` against the naive pandas job on the same pushes, on MySQL/MariaDB (or into PostgreSQL).

    python bench/bench.py --url mysql+pymysql://root@127.0.0.1:3306/ --pushes 200000
    python bench/bench.py --target postgresql://postgres@127.0.0.1:5432/postgres --defaults --reference

With `--target` the OMS databases are made on that PostgreSQL server (the pushes stay on --url's
MySQL/MariaDB, as Jushita's do), the reference writes with COPY, and `--defaults` also runs the
defaults into MariaDB, alternately with the others: the same job into either kind of target, in one run.

Builds a source database with N seeded, realistic pushes (etl.synth: 19-digit ids, bursty
seconds, emoji, ciphertexts, 1-5 lines, 0-3 promotions, ~6 KB each), then measures, each
in a child process of its own (so peak RSS is that process's alone, read with wait4):

  run          `etl run` over the fresh window into empty OMS tables
  catch-up     `etl run` again with a lookback over the whole window: nothing changed
  retranslate  `etl retranslate` of the whole window over the existing rows
  pandas       read_sql + json.loads + to_sql: the job users write first (bench/baseline.py)

and, when asked:

  defaults     (`--defaults`) `etl run` over the fresh window with a jobs.yaml of nothing but
               source and target (and keep_ext with `--no-ext`): what a user gets untuned;
               before the phases above, which run with the tuned settings of the options
  reference    (`--reference`) the same rows written by the fastest simple pipeline
               (bench/reference.py: keyset reads, orjson, the job's translator, LOAD DATA),
               with as many processes as the job's run it is compared with, run before it;
               its tables are checked to hold the same rows as the job's (counts and checksums)
  shards       (`--shards N`) `etl run --shard I/N --workers 1` over the fresh window as N processes
               at once, as N pods would run, into empty OMS tables of their own (checked as above)

With `--rounds N` the reference and the defaults run alternately N times each, every time into
new databases, and each is reported by its median run: one run of each is at the mercy of this
machine's noise (a ratio moved by 5-10% between identical runs), N alternate runs are not.

Prints trades/s, MB/s of JSON, peak RSS (summed over the job's processes: with
`--workers` the coordinator and its workers), the CPU seconds of the job's processes and, for
a server on this machine, of the server, and the ratios to the baseline and to the reference
(each fresh run against the reference of its own number of processes). Compare ratios
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
from etl.config import database_url, load_config
from etl.pipeline.coordinator import auto_workers, available_cores
from etl.schema import apply_sql, sql_file
from etl.synth import synth_rows
from reference import checksums  # bench/reference.py, beside this file

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

    @property
    def rate(self) -> float:
        return self.trades / self.seconds if self.seconds else 0.0

    def ratio(self, other: Measure | None, digits: int = 1) -> str:
        """This phase's trades/s over `other`'s ("" without one)."""
        return f"{self.rate / other.rate:.{digits}f}x" if other is not None and other.rate else ""

    def line(self, baseline: Measure | None) -> str:
        server = "-" if self.server_cpu is None else f"{self.server_cpu:.1f}"
        return (f"| {self.phase} | {self.trades:,} | {self.seconds:.1f} | {self.rate:,.0f} | "
                f"{self.json_mb / self.seconds:.1f} | {self.peak_rss_mb:.0f} | {self.job_cpu:.1f} | {server} | "
                f"{self.ratio(baseline)} |")


# A server's version, buffer pool (bytes) and pid file.
_FACTS = {"mysql": "SELECT VERSION(), @@innodb_buffer_pool_size, @@pid_file",
          "postgresql": "SELECT split_part(version(), ' ', 2), pg_size_bytes(current_setting('shared_buffers')), "
                        "current_setting('data_directory') || '/postmaster.pid'"}


def server_facts(server: sa.URL) -> tuple[str, int, int | None]:
    """The server's version, buffer pool bytes and, when it runs on this machine (its pid file is
    here), its process id."""
    backend = server.get_backend_name()
    admin = sa.create_engine(server.set(database=None) if backend == "mysql" else server)
    with admin.connect() as connection:
        version, pool, pid_file = connection.exec_driver_sql(_FACTS[backend]).one()
    admin.dispose()
    try:
        return version, pool, int(Path(pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return version, pool, None


# The servers' processes (empty: none on this machine), set once by main(): every phase reads their CPU.
SERVER_PIDS: list[int] = []


def _cpu_ticks(pid: int, *, reaped: bool) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime; with `reaped`, also the children's it has waited for (a PostgreSQL backend that ended).
    return sum(int(field) for field in fields[11:15 if reaped else 13])


def _server_cpu() -> float | None:
    """CPU seconds the servers have used (None: not on this machine): MySQL/MariaDB's one process, and
    PostgreSQL's postmaster with its backends, live and ended.

    With the server on the same box the two share the cores: which of them a change saves is
    what a same-run comparison needs (the wall time of one run drifts with the machine)."""
    if not SERVER_PIDS:
        return None
    try:
        ticks = sum(_cpu_ticks(pid, reaped=True) for pid in SERVER_PIDS)
        for pid in SERVER_PIDS:
            for task in Path(f"/proc/{pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    try:
                        ticks += _cpu_ticks(int(child), reaped=False)
                    except OSError:
                        continue  # ended meanwhile: its time is in the parent's reaped count
    except OSError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


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
    if server.get_backend_name() == "postgresql":
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        return server.set(database=name).render_as_string(hide_password=False)
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


def timed(phase: str, command: list[str], trades: int, json_mb: float, *, alongside: int = 1) -> Measure:
    """Run `command` as a child; wall time and the peak of its process tree's summed RSS.

    With `alongside` N, N copies run at once, `{i}` in the command replaced by each one's number
    (shards): the wall time is the last one's, the RSS and CPU all of theirs, the trades their sum."""
    server_before, job_before = _server_cpu(), _children_cpu()
    started = time.perf_counter()
    processes = [subprocess.Popen([part.replace("{i}", str(i)) for part in command], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for i in range(alongside)]
    peak = [0]

    def sample() -> None:
        while any(process.poll() is None for process in processes):
            peak[0] = max(peak[0], sum(_tree_rss(process.pid) for process in processes))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outputs = [[stream.decode() for stream in process.communicate()] for process in processes]
    seconds = time.perf_counter() - started
    sampler.join()
    server_after = _server_cpu()
    server = None if server_before is None or server_after is None else server_after - server_before
    read = 0
    for process, (out, err) in zip(processes, outputs):
        if process.returncode != 0:
            sys.exit(f"{phase} failed:\n{out}{err}")
        server_text = "" if server is None else f", the server's CPU {server:.1f} s"
        print(f"  {phase}: {out.strip() or err.strip()} ({seconds:.1f} s{server_text})", file=sys.stderr)
        reported = re.search(r"read (\d+)", out)
        read += int(reported.group(1)) if reported else trades // alongside
    return Measure(phase, read, seconds, peak[0] / 2**20, json_mb, _children_cpu() - job_before, server)


def _write_job(path: Path, source: str, target: str, settings: str = "") -> list[str]:
    """A jobs.yaml of one job, `bench`, with `settings` (YAML lines under it); the `etl` command reading it."""
    path.write_text(f"jobs:\n  bench:\n    source: {source}\n    target: {target}\n{settings}", encoding="utf-8")
    return [sys.executable, "-m", "etl", "--config", str(path)]


def _fresh_target(server: sa.URL, name: str, folder: Path, source: str, settings: str = "") -> tuple[str, list[str]]:
    """A new database `name` with the OMS tables of `etl init`; its URL and the `etl` command of its job."""
    target = _database(server, name)
    etl = _write_job(folder / f"{name}.yaml", source, target, settings)
    subprocess.run([*etl, "init"], check=True, stdout=subprocess.DEVNULL)
    return target, etl


def median_run(measures: list[Measure]) -> Measure:
    """The run of median wall time (of an even number, the slower of the middle two)."""
    return sorted(measures, key=lambda measure: measure.seconds)[len(measures) // 2]


def reference_phase(server: sa.URL, prefix: str, folder: Path, source: str, processes: int, *, keep_ext: bool,
                    pushes: int, json_mb: float) -> tuple[Measure, str]:
    """bench/reference.py with `processes` into empty OMS tables of its own; the measure and their URL."""
    target, _ = _fresh_target(server, f"{prefix}_ref{processes}", folder, source)
    command = [sys.executable, str(HERE / "reference.py"), source, target, "--processes", str(processes)]
    phase = f"reference, {processes} process{'es' if processes > 1 else ''} (bench/reference.py)"
    return timed(phase, command if keep_ext else [*command, "--no-ext"], pushes, json_mb), target


def check_same_rows(expected: str, others: dict[str, str]) -> None:
    """Exit unless the database of every phase in `others` holds the rows `expected` holds (see checksums)."""
    want = checksums(expected)
    for phase, url in others.items():
        got = checksums(url)
        if got != want:
            differ = ", ".join(f"{table} {got[table]} against {want[table]}"
                               for table in want if got[table] != want[table])
            sys.exit(f"{phase} wrote other rows than etl run (rows, checksum): {differ}")
    counts = ", ".join(f"{count:,} {table}" for table, (count, _) in want.items())
    print(f"  same rows (counts and checksums) in etl run's tables and {', '.join(others)}'s: {counts}",
          file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("ETL_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
                        help="a MySQL/MariaDB server URL; databases PREFIX_src, _oms, _pandas (and _defaults, _ref1, "
                             "_refN) are (re)created there")
    parser.add_argument("--target", metavar="URL",
                        help="a PostgreSQL server URL (postgresql://...): the OMS databases are made there, the "
                             "pushes stay on --url's server")
    parser.add_argument("--prefix", type=_prefix, default="etl_bench",
                        help="of the databases' names (default etl_bench); CI uses its own, so that its small run "
                             "never drops a large source kept for --reuse-source")
    parser.add_argument("--pushes", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="`etl run/retranslate --workers` (default 2)")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="leave out the pandas job (it needs ~30 KB of memory per push: 1M do not fit in 24 GB)")
    parser.add_argument("--no-ext", action="store_true",
                        help="run the job with keep_ext: false (to measure what oms_trade.ext costs)")
    parser.add_argument("--reuse-source", action="store_true",
                        help="keep PREFIX_src if it holds --pushes rows already")
    parser.add_argument("--defaults", action="store_true",
                        help="also run the job with a jobs.yaml of nothing but source and target (keep_ext: false "
                             "with --no-ext) over the fresh window, into PREFIX_defaults")
    parser.add_argument("--reference", action="store_true",
                        help="also write the same rows with bench/reference.py (as many processes as each fresh "
                             "run compared: --workers, and the defaults' workers) and report each fresh run's "
                             "ratio to it")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="run the reference and the defaults alternately N times each (into new databases each "
                             "time) and report each by its median run (default 1)")
    parser.add_argument("--shards", type=int, default=0, metavar="N",
                        help="also run the fresh window as N shards at once (`etl run --shard I/N --workers 1`, N "
                             "processes as N pods would be, on this machine) into PREFIX_shards")
    parser.add_argument("--local-sql", type=Path, metavar="FILE",
                        help="a file of DDL that `etl init` applies to the OMS tables after the job's own (as a "
                             "user's sql/local/ would): to measure a lever of the schema, such as a compression")
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")

    server = sa.make_url(arguments.url)
    # Where the OMS tables go: --target's PostgreSQL (written with psycopg 3, as the job's config says), else --url's.
    oms = server if arguments.target is None else database_url(arguments.target)
    version, pool, pid = server_facts(server)
    SERVER_PIDS.extend([pid] if pid is not None else [])
    facts = f"server {version} on {server.host} with a {pool / 2**20:,.0f} MB buffer pool"
    if oms is not server:
        version, pool, pid = server_facts(oms)
        SERVER_PIDS.extend([pid] if pid is not None else [])
        facts += f", target PostgreSQL {version} on {oms.host} with {pool / 2**20:,.0f} MB shared_buffers"
    source = _database(server, f"{arguments.prefix}_src", keep=arguments.reuse_source)
    target = _database(oms, f"{arguments.prefix}_oms")
    print(f"building {arguments.pushes:,} pushes ...", file=sys.stderr)
    json_mb = build_source(source, arguments.pushes, arguments.seed, reuse=arguments.reuse_source)
    print(f"  {json_mb:,.0f} MB of JSON, {json_mb * 1024 / arguments.pushes:.1f} KB per push", file=sys.stderr)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        ext = f"    keep_ext: {'false' if arguments.no_ext else 'true'}\n"
        tuned = f"    batch_size: {arguments.batch_size}\n{ext}"
        etl = _write_job(folder / "jobs.yaml", source, target, f"{tuned}    lookback_seconds: 300\n")
        catch_up = _write_job(folder / "catch-up.yaml", source, target, f"{tuned}    lookback_seconds: {30 * 86_400}\n")
        if arguments.local_sql is not None:
            local = folder / "sql" / "local"
            local.mkdir(parents=True)
            shutil.copy(arguments.local_sql, local)
        workers = ["--workers", str(arguments.workers)]
        subprocess.run([*etl, "init"], check=True, stdout=subprocess.DEVNULL)
        n = arguments.pushes
        results: list[Measure] = []
        references: dict[int, Measure] = {}  # the reference's phase, by its number of processes
        compared: dict[str, int] = {}  # a fresh run's phase: the number of processes it ran with
        written: dict[str, str] = {}  # a phase: the database it wrote, checked against etl run's
        defaults_line = ""

        def reference(processes: int) -> Measure | None:
            if not arguments.reference:
                return None
            measure, database = reference_phase(oms, arguments.prefix, folder, source, processes,
                                                keep_ext=not arguments.no_ext, pushes=n, json_mb=json_mb)
            written[measure.phase] = database
            return measure

        def reference_once(processes: int) -> None:
            if arguments.reference and processes not in references:
                references[processes] = reference(processes)
                results.append(references[processes])

        if arguments.defaults:
            # Nothing but source and target: what `etl run` does for a user who tunes nothing.
            defaults_settings = "    keep_ext: false\n" if arguments.no_ext else ""
            defaults_target, defaults_etl = _fresh_target(oms, f"{arguments.prefix}_defaults", folder, source,
                                                          defaults_settings)
            job = load_config(defaults_etl[-1]).job("bench")
            # What the run will start: `auto` decides by the machine's cores and the window's size, as here.
            processes = auto_workers(available_cores(), n) if job.workers == "auto" else job.workers
            defaults_line = (f"; defaults: batch_size {job.batch_size}, workers {job.workers} ({processes} here), "
                             f"load_data {job.load_data}")
            # The reference first: the first run meets the quietest server (the writes of the runs before it
            # not yet flushed or purged), which put the defaults 5-9% ahead of the same job run after the
            # reference on an 18 GB pool (bench/RESULTS.md, 2026-12-05 17:10): that advantage is the
            # yardstick's, not the job's.
            yardsticks, runs, on_mariadb = [], [], []
            for _ in range(arguments.rounds):
                yardsticks.append(reference(processes))
                if runs:  # new tables for every run
                    _fresh_target(oms, f"{arguments.prefix}_defaults", folder, source, defaults_settings)
                runs.append(timed("etl run, defaults (fresh window)", [*defaults_etl, "run"], n, json_mb))
                if oms is not server:  # the same job into MariaDB, alternately with the others
                    _, mariadb_etl = _fresh_target(server, f"{arguments.prefix}_defaults_my", folder, source,
                                                   defaults_settings)
                    on_mariadb.append(timed("etl run, defaults, into MySQL/MariaDB (fresh window)",
                                            [*mariadb_etl, "run"], n, json_mb))
            if arguments.reference:
                references[processes] = median_run(yardsticks)
                results.append(references[processes])
            untuned = median_run(runs)
            compared[untuned.phase], written[untuned.phase] = processes, defaults_target
            results.append(untuned)
            results += [median_run(on_mariadb)] if on_mariadb else []
        fresh = timed("etl run (fresh window)", [*etl, "run", *workers], n, json_mb)
        compared[fresh.phase] = arguments.workers
        results += [
            fresh,
            timed("etl run (catch-up: all re-read, nothing changed)", [*catch_up, "run", *workers], n, json_mb),
            timed("etl retranslate (over existing rows)",
                  [*etl, "retranslate", "bench", "--since", "2000-01-01", "--until", "2100-01-01", *workers],
                  n, json_mb),
        ]
        reference_once(arguments.workers)
        if arguments.shards:
            sharded_target, sharded_etl = _fresh_target(oms, f"{arguments.prefix}_shards", folder, source, tuned)
            phase = f"etl run, {arguments.shards} shards at once (fresh window)"
            results.append(timed(phase, [*sharded_etl, "run", "--shard", f"{{i}}/{arguments.shards}", "--workers",
                                         "1"], n, json_mb, alongside=arguments.shards))
            compared[phase], written[phase] = arguments.shards, sharded_target
            reference_once(arguments.shards)
    if written:
        check_same_rows(target, written)
    baseline = None
    if not arguments.skip_baseline:
        pandas_target = _database(server, f"{arguments.prefix}_pandas")
        baseline = timed("pandas read_sql + json.loads + to_sql",
                         [sys.executable, str(HERE / "baseline.py"), source, pandas_target], n, json_mb)
        results.append(baseline)

    local_sql = f"sql/local {arguments.local_sql.name}, " if arguments.local_sql else ""
    rounds_line = (f"; the reference and the defaults: each the median of {arguments.rounds} alternate runs"
                   if arguments.rounds > 1 and arguments.defaults else "")
    print(f"\n{arguments.pushes:,} pushes, {json_mb:,.0f} MB of JSON, batch_size {arguments.batch_size}, "
          f"--workers {arguments.workers}, keep_ext {not arguments.no_ext}, {local_sql}{available_cores()} cores, "
          f"{facts}"
          f"{defaults_line}{rounds_line}")
    header = "| phase | trades | seconds | trades/s | JSON MB/s | peak RSS MB | job CPU s | server CPU s | vs pandas |"
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    if arguments.reference:
        header, rule = f"{header} vs reference |", f"{rule} ---: |"
    print(header)
    print(rule)
    for measure in results:
        against = references.get(compared.get(measure.phase, 0))
        print(measure.line(baseline) + (f" {measure.ratio(against, 2)} |" if arguments.reference else ""))


if __name__ == "__main__":
    main()
