"""The reference for `etl run`: the fastest simple pipeline that writes the same rows, into MySQL/MariaDB or PostgreSQL.

    python bench/reference.py SOURCE_URL TARGET_URL [--processes N] [--batch-size N] [--no-ext]

SOURCE_URL is MySQL/MariaDB (jdp_tb_trade); TARGET_URL an OMS database of either kind.

What a competent engineer would write to copy a window of jdp_tb_trade into the OMS tables,
tuned but without the job's guarantees:

- the window frozen at its start (the newest jdp_modified), read in keyset batches on
  (jdp_modified, tid) with PyMySQL, each batch one query, the documents as stored (a session
  whose results are `binary`: no conversion on the server, no decoding in Python);
- each document parsed by orjson and translated by the job's own pure translator
  (`etl.translate.translate_trade`), `ext` dumped by orjson, the push's jdp_modified added;
- the batch's trades, lines and promotions written by three `LOAD DATA LOCAL INFILE`s from a
  tab-separated file encoded here (PostgreSQL: three COPYs of the same text into TEMP staging
  tables, each then INSERT ... SELECT ... ON CONFLICT DO UPDATE, as an idempotent copy into
  PostgreSQL is written), one commit per batch, the cycle collector's first threshold
  raised (one line: a translated trade is a few dozen dicts); batches of 1,000 (500, 1,000, 2,000
  and 5,000 went within the noise of each other at 100,000 pushes on 2026-12-05);
- N processes, each the whole pipeline for the tids whose remainder modulo N is its own, when the
  job it is compared with runs N workers (one otherwise: the reference uses what the job uses).

Why the job's translator and not a mapping of its own: the comparison is about what the job
does around a trade (reading, newer-wins, bookkeeping, encoding, transactions, the defaults it
runs with), not about what a trade becomes. A mapping written here would either copy the
translator (statuses mapped, a county-level city moved, money and ids checked, the unmapped
fields kept) or do less and write other rows; with the translator both write the same values,
and `checksums` proves it at the end. Everything else is this file's own, so that a slow part of
the job's write path is not shared by its yardstick.

What it leaves out, and the job must do: newer-wins against the target (it writes into empty
tables, so no version is read or locked), children replaced, refund holds, rejects recorded
(a push that does not translate is counted and skipped), the watermark, the run log and the lock,
retries. The target is an empty OMS schema made by the job's own DDL (`etl init`).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime

import orjson
import psycopg
import pymysql
import sqlalchemy as sa

from etl.translate import TranslateError, translate_trade

TABLES = ("oms_trade", "oms_order", "oms_promotion")
# The columns `checksums` compares, per table: keys, a status the translator maps, money, a
# datetime, texts with emoji and ciphertext, and the whole `ext`.
CHECKED = {
    "oms_trade": ("tid", "oms_status", "payment", "created", "receiver_city", "buyer_message", "jdp_modified", "ext"),
    "oms_order": ("oid", "tid", "seq", "price", "num", "oms_status", "title", "refund_status"),
    "oms_promotion": ("tid", "seq", "id", "discount_fee", "promotion_name"),
}
_NULL = "\\N"
# The server refuses LOAD DATA LOCAL: local_infile is off (on it, or on this client).
_LOAD_DISABLED = {1148, 3948, 4166}


def _connect(url: str, **options: object) -> pymysql.Connection:
    parsed = sa.make_url(url)
    return pymysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306, user=parsed.username,
                           password=parsed.password or "", database=parsed.database, charset="utf8mb4", **options)


def _field(value: object) -> str:
    """A value in LOAD DATA's default format; str() writes int, Decimal and datetime as MySQL reads them."""
    if value is None:
        return _NULL
    if type(value) is str:
        if "\\" in value:
            value = value.replace("\\", "\\\\")
        if "\t" in value:
            value = value.replace("\t", "\\t")
        if "\n" in value:
            value = value.replace("\n", "\\n")
        if "\r" in value:
            value = value.replace("\r", "\\r")
        return value
    return str(value)


def _load(cursor: pymysql.cursors.Cursor, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="\n", suffix=".tsv") as file:
        file.write(_tsv(rows).decode())
        file.flush()
        try:
            cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                           f"({', '.join(columns)})", (file.name,))
        except pymysql.err.OperationalError as error:
            if error.args[0] in _LOAD_DISABLED:
                sys.exit(f"the server refuses LOAD DATA LOCAL ({error.args[1]}): the reference writes with it only")
            raise


def _batches(source: pymysql.Connection, end: datetime, batch_size: int, part: int,
             parts: int) -> Iterator[list[tuple]]:
    """(tid, jdp_modified, jdp_response) of the window up to `end`, in keyset batches."""
    share = f" AND MOD(tid, {parts}) = {part}" if parts > 1 else ""
    after: tuple | None = None
    with source.cursor() as cursor:
        cursor.execute("SET character_set_results = binary")
        while True:
            if after is None:
                cursor.execute(f"SELECT tid, jdp_modified, jdp_response FROM jdp_tb_trade WHERE jdp_modified <= %s"
                               f"{share} ORDER BY jdp_modified, tid LIMIT %s", (end, batch_size))
            else:
                # Not the row value (jdp_modified, tid) > (%s, %s): MariaDB scans the whole index for it.
                cursor.execute(f"SELECT tid, jdp_modified, jdp_response FROM jdp_tb_trade WHERE jdp_modified >= %s "
                               f"AND (jdp_modified > %s OR tid > %s) AND jdp_modified <= %s{share} "
                               f"ORDER BY jdp_modified, tid LIMIT %s", (after[1], after[1], after[0], end, batch_size))
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1]


def _translated(source_url: str, end: datetime, batch_size: int, keep_ext: bool, part: int,
                parts: int) -> Iterator[tuple[int, dict[str, list[dict]], int]]:
    """Per keyset batch of the share: rows read, the translated rows by table, pushes skipped."""
    source = _connect(source_url, autocommit=True)
    for batch in _batches(source, end, batch_size, part, parts):
        tables: dict[str, list[dict]] = {name: [] for name in TABLES}
        skipped = 0
        for tid, modified, document in batch:
            try:
                rows = translate_trade(orjson.loads(document))
            except (orjson.JSONDecodeError, TranslateError):
                skipped += 1
                continue
            trade = rows.tables["oms_trade"][0]
            trade["ext"] = orjson.dumps(trade["ext"]).decode() if keep_ext else None
            trade["jdp_modified"] = modified.replace(microsecond=0)
            for name in TABLES:
                tables[name].extend(rows.tables[name])
        yield len(batch), tables, skipped
    source.close()


def _tsv(rows: list[dict]) -> bytes:
    return "".join("\t".join([_field(value) for value in row.values()]) + "\n" for row in rows).encode()


class _MySqlWriter:
    def __init__(self, url: str) -> None:
        self.connection = _connect(url, local_infile=True, autocommit=False)
        self.cursor = self.connection.cursor()

    def write(self, table: str, rows: list[dict]) -> None:
        _load(self.cursor, table, rows)

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


_KEYS = {"oms_trade": "tid", "oms_order": "oid", "oms_promotion": "tid, seq"}


class _PostgresWriter:
    """COPY into a TEMP staging table per OMS table, then INSERT ... SELECT ... ON CONFLICT DO UPDATE."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(_libpq(url))
        for table in TABLES:
            self.connection.execute(f"CREATE TEMP TABLE stage_{table} ON COMMIT DELETE ROWS AS "
                                    f"SELECT * FROM {table} WITH NO DATA")
        self.connection.commit()

    def write(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        names = ", ".join(f'"{column}"' for column in columns)
        with self.connection.cursor() as cursor:
            with cursor.copy(f"COPY stage_{table} ({names}) FROM STDIN") as copy:
                copy.write(_tsv(rows))
            updates = ", ".join(f'"{column}" = EXCLUDED."{column}"' for column in columns)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM stage_{table} "
                           f"ON CONFLICT ({_KEYS[table]}) DO UPDATE SET {updates}")

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


def _libpq(url: str) -> str:
    """A SQLAlchemy URL of PostgreSQL as libpq reads it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _is_postgresql(url: str) -> bool:
    return sa.make_url(url).get_backend_name() == "postgresql"


def copy_share(source_url: str, target_url: str, end: datetime, batch_size: int, keep_ext: bool,
               part: int, parts: int) -> tuple[int, ...]:
    """Copy one share of the window; returns (read, trades, lines, promotions, skipped)."""
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    target = _PostgresWriter(target_url) if _is_postgresql(target_url) else _MySqlWriter(target_url)
    read = lines = promotions = trades = skipped = 0
    for count, tables, dropped in _translated(source_url, end, batch_size, keep_ext, part, parts):
        read, skipped = read + count, skipped + dropped
        for name in TABLES:
            target.write(name, tables[name])
        target.commit()
        trades += len(tables["oms_trade"])
        lines += len(tables["oms_order"])
        promotions += len(tables["oms_promotion"])
    target.close()
    return read, trades, lines, promotions, skipped


def _copy_share(arguments: tuple) -> tuple[int, ...]:
    return copy_share(*arguments)


def copy_window(source_url: str, target_url: str, *, processes: int = 1, batch_size: int = 1000,
                keep_ext: bool = True) -> tuple[int, ...]:
    """Copy the whole window (frozen now) into the empty OMS tables of `target_url`."""
    if _count(target_url, "SELECT COUNT(*) FROM oms_trade")[0]:
        sys.exit(f"{sa.make_url(target_url).database}.oms_trade is not empty: the reference writes into empty "
                 "tables (`etl init` on a new database)")
    (end,) = _count(source_url, "SELECT MAX(jdp_modified) FROM jdp_tb_trade")
    if end is None:
        return 0, 0, 0, 0, 0
    shares = [(source_url, target_url, end, batch_size, keep_ext, part, processes) for part in range(processes)]
    if processes == 1:
        return copy_share(*shares[0])
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_copy_share, shares)
    return tuple(map(sum, zip(*results)))


def _count(url: str, query: str) -> tuple:
    """The one row of `query` on the database at `url`."""
    if _is_postgresql(url):
        with psycopg.connect(_libpq(url)) as connection:
            return connection.execute(query).fetchone()
    connection = _connect(url)
    with connection.cursor() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    connection.close()
    return row


# A row's checksum: MySQL's CRC32, PostgreSQL's first 32 bits of MD5 (compared only within one kind of server).
_CHECKSUM = {False: "CRC32(CONCAT_WS('|', {}))", True: "('x' || substr(md5(concat_ws('|', {})), 1, 8))::bit(32)::bigint"}
_TEXT = {False: "{}", True: "{}::text"}


def checksums(url: str) -> dict[str, tuple[int, int]]:
    """Per OMS table: its row count and a sum of row checksums of the `CHECKED` columns (order does not matter)."""
    postgresql = _is_postgresql(url)
    found = {}
    for table, columns in CHECKED.items():
        values = ", ".join(f"COALESCE({_TEXT[postgresql].format(column)}, '<null>')" for column in columns)
        count, total = _count(url, f"SELECT COUNT(*), COALESCE(SUM({_CHECKSUM[postgresql].format(values)}), 0) "
                                   f"FROM {table}")
        found[table] = (int(count), int(total))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a MySQL/MariaDB URL of the database holding jdp_tb_trade")
    parser.add_argument("target", help="a MySQL/MariaDB or PostgreSQL URL of an empty OMS database (`etl init`)")
    parser.add_argument("--processes", type=int, default=1, help="as many as the compared job's workers (default 1)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--no-ext", action="store_true", help="write oms_trade.ext as NULL (a job's keep_ext: false)")
    arguments = parser.parse_args()
    read, trades, lines, promotions, skipped = copy_window(
        arguments.source, arguments.target, processes=arguments.processes, batch_size=arguments.batch_size,
        keep_ext=not arguments.no_ext)
    print(f"read {read}, wrote {trades} trades, {lines} lines, {promotions} promotions, skipped {skipped}")


if __name__ == "__main__":
    main()
