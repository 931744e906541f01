"""The target's tables as the DDL made them, and the set-based statements that write and find rows in them.

Every write is a multi-row statement per chunk of keys, never row by row; every look-up by
keys is an IN list of at most `IDS_CHUNK` ids written as digits (`IN_CHUNK` bound values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.ext.compiler import compiles

from etl.database.engines import masked
from etl.database.literals import AS_IS, sql_tuples
from etl.database.staging import Guard, staged_upsert
from etl.errors import NotInitialized

# Pushes have one-second precision; store SQLite datetimes the way people write them,
# so text comparisons in SQL and by hand agree with what the job binds.
_SQLITE_DATETIME = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
    regexp=r"(\d+)-(\d+)-(\d+)[ T](\d+):(\d+):(\d+)(?:\.(\d+))?",
)


class _Text(sa.TypeDecorator):
    """A target's unbounded text column, which also takes bytes as UTF-8 text: oms_trade.ext comes as
    orjson's bytes (etl.extra), and a driver would store bytes in a TEXT column as a BLOB (SQLite)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, _dialect: sa.Dialect) -> Any:
        return value.decode() if type(value) is bytes else value


class _JsonText(_Text):
    """PostgreSQL's json column (oms_trade.ext) as its text, both ways: psycopg would parse it into Python
    objects, and a write binds text, which PostgreSQL does not turn into json by itself."""

    cache_ok = True

    def column_expression(self, column: Any) -> Any:
        return sa.cast(column, sa.Text)

    def bind_expression(self, value: Any) -> Any:
        return sa.cast(value, postgresql.JSON)


# IN lists of bound values are chunked below 1,000: SQLite before 3.32 allowed 999 variables.
IN_CHUNK = 999
# An IN list of ids written as digits (`ids_in`) binds nothing, so one statement serves a whole batch
# of keys (with 999, a batch of 1,000 took two statements for every look-up, the second for one key).
# MariaDB would turn an IN list of 1,000 values or more into a join with a temporary table,
# materialized for each statement and planned from the statistics: the target's sessions turn that
# conversion off (etl.database.engines).
IDS_CHUNK = 5_000
# Characters per INSERT statement: at most 4 MB of utf8mb4, under any server's max_allowed_packet
# (16 MB by default in MariaDB, 64 MB in MySQL 8), and PyMySQL's own executemany size (1 MB).
_STATEMENT_CHARS = 1_000_000


class _Ids(sa.sql.expression.ColumnElement):
    """A parenthesized list of integer ids, written into the SQL text as digits."""

    # Its SQL differs with every batch: caching the statement would fill the compiled cache
    # with one-off entries (each holding the ids), so it is compiled each time, which still costs
    # a third of rendering the ids as bound parameters (before PyMySQL escapes each).
    inherit_cache = False

    def __init__(self, ids: str) -> None:
        self.ids = ids


@compiles(_Ids)
def _compile_ids(element: _Ids, compiler: Any, **kw: Any) -> str:
    return f"({element.ids})"


def ids_in(column: sa.ColumnElement, ids: Sequence[int]) -> sa.ColumnElement:
    """`column IN ids` for a batch of integer ids, each id written into the SQL as digits.

    A bound IN list costs the job microseconds an id (SQLAlchemy renders a placeholder for each,
    PyMySQL escapes each), and a batch has several such lists; joined digits cost next to nothing. Only ints are written so (int.__repr__ refuses anything else: no text reaches
    the SQL unquoted). A comparison operator, so that MySQL gets `tid IN (...)` and not
    `(tid IN (...)) = 1`, which no index serves.
    """
    if not ids:
        return sa.false()
    return column.op("IN", is_comparison=True)(_Ids(",".join(map(int.__repr__, ids))))


def keyset_after(modified: sa.ColumnElement, key: sa.ColumnElement, at: Any,
                 after_key: Any = None) -> sa.ColumnElement[bool]:
    """Rows after the keyset position (`at`, `after_key`) in (modified, key) order; with no key, every row
    of the second `at` and after.

    Spelled `modified >= :t AND (modified > :t OR key > :k)`, not as the row value
    `(modified, key) > (:t, :k)`: MariaDB scans the whole index for the row-value form, while this one
    is a range on the (modified) index, whose InnoDB entries end with the primary key and so are
    already in keyset order (no filesort).
    """
    if after_key is None:
        return modified >= at
    return sa.and_(modified >= at, sa.or_(modified > at, key > after_key))


def stored_charset(engine: Engine, table: str, column: str) -> str | None:
    """The character set a MySQL/MariaDB column stores its text in (None: a binary column)."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = :column"
        ), {"table": table, "column": column}).scalar()


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def id_chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """`ids` in lists for `ids_in`, of at most `IDS_CHUNK` each."""
    return chunks(ids, IDS_CHUNK)


def reflect(engine: Engine, names: Iterable[str], *, role: str = "target") -> dict[str, sa.Table]:
    """The named tables as the DDL made them; a missing one means the target needs `etl init`."""
    metadata = sa.MetaData()
    sqlite_target = engine.dialect.name == "sqlite"
    text_json = _JsonText if engine.dialect.name == "postgresql" else _Text

    @event.listens_for(metadata, "column_reflect")
    def _types(_inspector: Any, _table: sa.Table, column: dict[str, Any]) -> None:
        if sqlite_target and isinstance(column["type"], sa.DateTime):
            column["type"] = _SQLITE_DATETIME
        elif isinstance(column["type"], sa.JSON):
            # JSON (oms_trade.ext) is read and written as the text the push had: the type would parse
            # it into Python objects, and an export would print their repr.
            column["type"] = text_json()
        elif role == "target" and isinstance(column["type"], sa.Text):
            column["type"] = _Text()

    names = list(dict.fromkeys(names))
    try:
        # All at once: PostgreSQL's dialect reflects many tables in one query per aspect (columns, keys,
        # indexes), where one table at a time costs a tenth of a second per table on a cron tick.
        metadata.reflect(engine, only=names)
    except sa.exc.InvalidRequestError:  # a name the database lacks: say which
        missing = next(name for name in names if not sa.inspect(engine).has_table(name))
        if role == "target":
            raise NotInitialized(
                f"target database {masked(engine.url)} has no table {missing}: run `etl init` to create the tables"
            ) from None
        raise NoSuchTableError(missing) from None
    return {name: metadata.tables[name] for name in names}


def _mysql_upsert(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str],
    where: Any, keep: Sequence[str], guard: Guard | None,
) -> None:
    # The statement's VALUES are written here, not by PyMySQL's executemany: its per-value escaping
    # (str.translate with a mapping) is a third of a retranslate's client time, most of it on
    # oms_trade.ext; `sql_tuples` is C-level str methods (bench/RESULTS.md).
    # ON DUPLICATE KEY fires on any unique key, so `key` and `where` are implied by the DDL; it takes no
    # condition, so `guard` is the caller's locking read alone.
    quote = connection.dialect.identifier_preparer.quote
    columns = list(rows[0])
    updates = [f"{quote(name)} = VALUES({quote(name)})" for name in columns if name not in key and name not in keep]
    head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
    tail = f" ON DUPLICATE KEY UPDATE {', '.join(updates) or f'{quote(key[0])} = {quote(key[0])}'}"
    statement: list[str] = []
    size = 0
    for values in sql_tuples(rows, columns):
        statement.append(values)
        size += len(values)
        if size >= _STATEMENT_CHARS:
            connection.exec_driver_sql(head + ",".join(statement) + tail, execution_options=AS_IS)
            statement, size = [], 0
    if statement:
        connection.exec_driver_sql(head + ",".join(statement) + tail, execution_options=AS_IS)


def _sqlite_upsert(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str],
    where: Any, keep: Sequence[str], guard: Guard | None,
) -> None:
    # SQLite needs SQLAlchemy's types to bind Decimal and datetime, so rows go through the Core construct.
    statement = sqlite.insert(table)
    updates = {name: statement.excluded[name] for name in rows[0] if name not in key and name not in keep}
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(key), index_where=where, set_=updates,
                                        where=None if guard is None else guard(statement.excluded)),
        list(rows),
    )


_UPSERTS = {"mysql": _mysql_upsert, "mariadb": _mysql_upsert, "sqlite": _sqlite_upsert, "postgresql": staged_upsert}


def upsert(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    where: Any = None,
    keep: Sequence[str] = (),
    guard: Guard | None = None,
) -> None:
    """Insert `rows`, updating those whose key exists; multi-row statements, never row by row.

    `key` defaults to the primary key; `where` selects a partial unique index (SQLite, PostgreSQL);
    columns in `keep` are written on insert but left alone on update. `guard(excluded)`: the condition
    on the held row and the new (`excluded`) one under which a held row is updated (SQLite, PostgreSQL;
    MySQL's upsert takes none).
    """
    if rows:
        _UPSERTS[connection.dialect.name](connection, table, rows, list(key or table.primary_key.columns.keys()),
                                          where, keep, guard)
