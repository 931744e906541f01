"""A push table: the keyset scan of a window (a query builder and a batch reader), and the checks that
the table can be read so before a run.

A window is read in (modified, key) order (the modified column is jdp_modified in Jushita's
tables), `batch_size` rows (and a byte bound) per query, each query starting after the last row
of the one before (`etl.database.tables.keyset_after`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from etl.database.engines import masked
from etl.database.streams import stream
from etl.database.tables import keyset_after, reflect, stored_charset
from etl.errors import ConfigError
from etl.translate.push import Push
from etl.window import Position, Window

# The column of Jushita's push tables that holds a hash of each row's jdp_response.
JUSHITA_HASH = "jdp_hashcode"
# Character sets whose stored bytes are UTF-8 as they are; None is a binary column (BLOB), whose
# bytes are the lander's, taken as UTF-8 as JSON is.
_UTF8 = frozenset({None, "utf8", "utf8mb3", "utf8mb4", "ascii", "binary"})


def _type_name(column: sa.Column, engine: Engine) -> str:
    try:
        return column.type.compile(dialect=engine.dialect)
    except sa.exc.CompileError:  # a type the dialect cannot spell (SQLite's untyped column)
        return "untyped"


def reflect_source(engine: Engine, name: str, columns: tuple[str, str, str], sellers: Sequence[str] | None = None,
                   hash_column: str | None = None) -> SourceTable:
    """The push table `name` as a job reads it, refused before a run when it cannot be read so: a missing
    table or column, a key or a clock the keyset cannot page on (they would fail every batch).

    `columns`: the key, modified and JSON columns; `hash_column`: the column holding each row's content
    hash (None: Jushita's jdp_hashcode where the table has it, else the job hashes the documents)."""
    try:
        table = reflect(engine, [name], role="source")[name]
    except sa.exc.NoSuchTableError:
        raise ConfigError(f"source database {masked(engine.url)} has no table {name}") from None
    missing = {column for column in (*columns, hash_column) if column is not None and column not in table.c}
    if missing:
        raise ConfigError(f"source table {name} lacks the column(s) {', '.join(sorted(missing))}")
    key, modified, document = (table.c[column] for column in columns)
    if not isinstance(key.type, (sa.Integer, sa.String)):
        raise ConfigError(f"source table {name}'s key column {key.name} is {_type_name(key, engine)}: "
                          "it must be an integer column, or text holding the ids' digits")
    if not isinstance(modified.type, sa.DateTime):
        raise ConfigError(f"source table {name}'s modified column {modified.name} is "
                          f"{_type_name(modified, engine)}: the watermark needs a DATETIME or TIMESTAMP column")
    if sellers and "seller_nick" not in table.c:
        raise ConfigError(f"source table {name} has no seller_nick column, so `sellers` cannot filter it")
    # Jushita's tables are utf8 or utf8mb4; a landing table of a seller's own may be gbk or latin1,
    # whose stored bytes are no UTF-8 (every push would be rejected): the server converts those, and only those.
    recode = engine.dialect.name in ("mysql", "mariadb") and stored_charset(engine, name, document.name) not in _UTF8
    return SourceTable(engine, table, columns, sellers, hash_column=hash_column or JUSHITA_HASH, recode=recode)


class SourceTable:
    """A push table of one job as reflected (`reflect_source`): its keyset queries and their reading,
    for the job's sellers and, with a `partition` (i, n), the rows whose key modulo n is i."""

    def __init__(self, engine: Engine, table: sa.Table, columns: tuple[str, str, str], sellers: Sequence[str] | None,
                 partition: tuple[int, int] | None = None, *, hash_column: str = JUSHITA_HASH,
                 recode: bool = False) -> None:
        self.engine, self.table, self.partition = engine, table, partition
        self.sellers = tuple(sellers) if sellers else None
        self._made = (columns, hash_column, recode)
        key, modified, document = columns
        self.key, self.modified = table.c[key], table.c[modified]
        self.text_key = isinstance(self.key.type, sa.String)
        # The raw bytes: orjson parses bytes directly, and decoding to str first costs more than parsing.
        # MySQL/MariaDB send them as stored to a session whose results are `binary` (see `_reading`),
        # where a CAST(... AS BINARY) would convert every character on the server. The key must then not
        # be text, which a session like that would hand over as bytes too; such rows need nothing of
        # SQLAlchemy, and are read as the driver makes them (etl.database.streams).
        self.binary_results = engine.dialect.name in ("mysql", "mariadb") and not self.text_key
        column = sa.cast(table.c[document], mysql.CHAR(charset="utf8mb4")) if recode else table.c[document]
        self.document = (sa.type_coerce(column, sa.LargeBinary) if self.binary_results
                         else sa.cast(column, sa.LargeBinary)).label("document")
        found = table.c.get(hash_column)
        self.content = (sa.null() if found is None else found).label("content")

    def share(self, partition: tuple[int, int] | None) -> SourceTable:
        """The same table read for another partition (a shard's or a worker's share of the keys)."""
        columns, hash_column, recode = self._made
        return SourceTable(self.engine, self.table, columns, self.sellers, partition, hash_column=hash_column,
                           recode=recode)

    @property
    def pushed(self) -> tuple[sa.ColumnElement, ...]:
        """The columns a push is read from: key, modified time, document and content hash (see `Push.of`)."""
        return (self.key, self.modified, self.document, self.content)

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """A connection to read documents on: with `binary_results`, its results are `binary` for as
        long as it is lent, and a connection that fails meanwhile is closed, never pooled like that."""
        with self.engine.connect() as connection:
            if not self.binary_results:
                yield connection
                return
            connection.exec_driver_sql("SET character_set_results = binary")
            try:
                yield connection
            except BaseException:
                connection.invalidate()
                raise
            # SET NAMES (PyMySQL's charset, on connecting) set the client's and the results' charset alike.
            connection.exec_driver_sql("SET character_set_results = @@character_set_client")

    def _filtered(self, query: sa.Select) -> sa.Select:
        if self.sellers:
            query = query.where(self.table.c.seller_nick.in_(self.sellers))
        if self.partition is not None:
            # The key is the last column of every secondary index entry, so the server filters
            # on the (jdp_modified) index itself and reads only this share's documents.
            part, parts = self.partition
            # A text key is cast first: MySQL would take '2106089115686783163' % 2 through a double.
            key = sa.cast(self.key, sa.BigInteger) if self.text_key else self.key
            query = query.where(key % parts == part)
        return query

    def newest(self) -> datetime | None:
        """The newest jdp_modified: the frozen upper bound of a run (the "signpost")."""
        with self.engine.connect() as connection:
            return connection.execute(self._filtered(sa.select(sa.func.max(self.modified)))).scalar()

    def batch_query(self, window: Window, after: Position | None, limit: int,
                    columns: Sequence[sa.ColumnElement] | None = None) -> sa.Select:
        """The next `limit` rows of `window` after `after`: the `pushed` columns, or `columns`
        (pure: builds, does not run)."""
        query = self._filtered(sa.select(*(columns or self.pushed)))
        if after is not None:
            query = query.where(keyset_after(self.modified, self.key, after.modified, after.key))
        query = query.where(self.modified <= window.end if window.end_inclusive else self.modified < window.end)
        return query.order_by(self.modified, self.key).limit(limit)

    def count(self, window: Window, at_most: int | None = None) -> int:
        """How many rows `window` holds, counting no further than `at_most` (a bounded look at the index)."""
        # The keys only, from the (jdp_modified) index: with the documents, the LIMIT's derived table
        # (which MySQL cannot merge) would read every one of them.
        rows = self.batch_query(window, window.start, 1, (self.key,)).limit(at_most).order_by(None).subquery()
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one()

    def read_batch(self, window: Window, after: Position | None, rows: int, max_bytes: int) -> list[Push]:
        """The next pushes of `window` after `after`: at most `rows`, and no more than `max_bytes`
        of documents beyond the first (a push of several MB must not make a batch of gigabytes).

        Stateless, so a batch that failed can be read again on a new connection. The rows are
        streamed (a server-side cursor on MySQL): stopping at the byte bound never holds the rest.
        """
        batch: list[Push] = []
        size = 0
        query = self.batch_query(window, after, rows)
        with self._reading() as connection, closing(stream(connection, query, raw=self.binary_results)) as found:
            for key, modified, document, content in found:
                batch.append(Push.of(key, modified, document, content))
                size += len(document or b"")
                if size >= max_bytes:
                    break
        return batch

    def read_keys(self, keys: Sequence[int | str]) -> list[Push]:
        """The pushes the source holds now for `keys` (those it still has), in keyset order."""
        query = sa.select(*self.pushed).where(self.key.in_(keys))
        with self._reading() as connection:
            rows = connection.execute(query).all()
        pushes = [Push.of(*row) for row in rows]
        # Rows without jdp_modified sort first; they are rejected again with their reason.
        return sorted(pushes, key=lambda push: (push.modified is not None, push.modified or 0, push.position))

    def null_modified(self, limit: int) -> list[Push]:
        """Rows with no jdp_modified: keyset order cannot place them, so they are rejected by key."""
        query = self._filtered(sa.select(*self.pushed)).where(self.modified.is_(None))
        with self._reading() as connection:
            return [Push.of(*row) for row in connection.execute(query.order_by(self.key).limit(limit))]
