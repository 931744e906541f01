"""The keyset scan of a push table: a pure query builder and a batch reader.

A window is read in (modified, key) order (the modified column is jdp_modified in Jushita's
tables), `batch_size` rows (and a byte bound)
per query, each query starting after the last row of the one before. The lower bound is spelled
`jdp_modified >= :t AND (jdp_modified > :t OR key > :k)` and not as the row value
`(jdp_modified, key) > (:t, :k)`: MariaDB scans the whole index for the row-value
form, while this one is a range on the (jdp_modified) index, whose InnoDB entries
end with the primary key and so are already in keyset order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import pymysql
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from etl.clock import to_second
from etl.database.tables import reflect
from etl.errors import ConfigError
from etl.translate.fields import BIGINT_MAX
from etl.watermark import Position

def target_key(key: int | str) -> int | None:
    """The target's id for a source key: the key itself, or a text key of canonical digits
    (1688 order ids kept as text); None for text that is no id (the push is rejected)."""
    if isinstance(key, int):
        return key
    if key.isascii() and key.isdigit() and not key.startswith("0") and int(key) <= BIGINT_MAX:
        return int(key)
    return None


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


def _stored_charset(engine: Engine, table: str, column: str) -> str | None:
    """The character set a MySQL/MariaDB column stores its text in."""
    with engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = :column"
        ), {"table": table, "column": column}).scalar()


def document_hash(document: bytes) -> str:
    """The job's own content hash of a document, for a source row without one: the first 128 bits of
    its SHA-256, in hex. Two versions of one trade within one second must never look alike, and
    SHA-256 is in every Python and computed by the CPU's SHA instructions where it has them (x86,
    ARMv8): cheaper there than MD5 or BLAKE2 (bench/RESULTS.md)."""
    return hashlib.sha256(document).hexdigest()[:32]


class Push(NamedTuple):
    """One source row as the engine needs it: key, position, the raw document and its content hash.

    `key` is as the source holds it (an int, or a str for a text key column): keyset order
    is the source's. `target_key` is the id the target rows carry (see `target_key`), found once
    when the row is read. `content` tells two versions of a row apart that share a `modified`
    second (the platform's clock has whole seconds, and it updates a row in place): the source's
    own hash (Jushita's jdp_hashcode), or `document_hash` of the document where it has none. A
    named tuple, not a frozen dataclass: a run makes one a push, and a frozen dataclass's
    __init__ cost three times as much.
    """

    key: int | str
    modified: datetime | None
    document: bytes | None
    target_key: int | None
    content: str | None

    @classmethod
    def of(cls, key: int | str, modified: datetime | None, document: bytes | None,
           content: str | bytes | int | None = None) -> Push:
        """A push as read; `content` is the source's hash column (None: it has none, or it is NULL)."""
        if content is None:
            content = None if document is None else document_hash(document)
        elif type(content) is bytes:  # a session whose results are `binary` (see SourceTable._reading)
            content = content.decode()
        elif type(content) is not str:
            content = str(content)
        return cls(key, modified, document, target_key(key), content)

    @property
    def stamp(self) -> datetime | None:
        """`modified` as the target keeps it (jdp_modified of its rows, its version, its rejects)."""
        return None if self.modified is None else to_second(self.modified)

    @property
    def position(self) -> Position:
        return Position(self.modified, self.key)


@dataclass(frozen=True)
class Window:
    """Rows after `start` (all rows when None) up to `end`, inclusive or not, frozen when a run starts."""

    start: Position | None
    end: datetime
    end_inclusive: bool


@dataclass(frozen=True)
class Period:
    """The modified times an operator names (--since/--until): [since, until)."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if not self.since < self.until:
            raise ConfigError(f"--since ({self.since}) must be before --until ({self.until})")

    def window(self, _watermark: Position | None = None, _newest: Callable[[], datetime | None] | None = None) -> Window:
        """The window of the period; it needs neither the watermark nor the source's newest push."""
        return Window(Position(self.since), self.until, end_inclusive=False)


def batches(read: Callable[[Position | None], list[Push]], start: Position | None) -> Iterator[list[Push]]:
    """Batches in keyset order: `read(after)` gives the rows after a position, each batch starting
    after the last row of the one before, until one comes back empty."""
    after = start
    while batch := read(after):
        yield batch
        after = batch[-1].position


class SourceTable:
    """A push table of one job: its reflected columns and the job's seller filter."""

    def __init__(self, engine: Engine, name: str, columns: tuple[str, str, str], sellers: Sequence[str] | None,
                 partition: tuple[int, int] | None = None, hash_column: str | None = None) -> None:
        """`columns`: the key, modified and JSON columns. `partition` (i, n) keeps the rows whose
        key modulo n is i: one worker's share. `hash_column`: the column holding each row's content
        hash; None takes Jushita's `jdp_hashcode` where the table has it (else the job hashes the
        documents it reads)."""
        try:
            self.table = reflect(engine, [name], role="source")[name]
        except sa.exc.NoSuchTableError:
            raise ConfigError(
                f"source database {engine.url.render_as_string(hide_password=True)} has no table {name}"
            ) from None
        missing = set(columns) - set(self.table.c.keys())
        if hash_column is not None and hash_column not in self.table.c:
            missing.add(hash_column)
        if missing:
            raise ConfigError(f"source table {name} lacks the column(s) {', '.join(sorted(missing))}")
        key, modified, document = columns
        self.engine = engine
        self.key = self.table.c[key]
        self.modified = self.table.c[modified]
        # Checked here, before a run: a key or a clock of another type would fail every batch.
        if not isinstance(self.key.type, (sa.Integer, sa.String)):
            raise ConfigError(f"source table {name}'s key column {key} is {_type_name(self.key, engine)}: "
                              "it must be an integer column, or text holding the ids' digits")
        if not isinstance(self.modified.type, sa.DateTime):
            raise ConfigError(f"source table {name}'s modified column {modified} is "
                              f"{_type_name(self.modified, engine)}: the watermark needs a DATETIME or TIMESTAMP column")
        self.text_key = isinstance(self.key.type, sa.String)
        # The raw bytes: orjson parses bytes directly, and decoding to str first costs more than parsing.
        # MySQL/MariaDB send them as stored to a session whose results are `binary` (see `_reading`):
        # a CAST(... AS BINARY) converts every character on the server (26 us a 6 KB document of the
        # benchmark's, against 11 to read it as stored). The key must then not be text, which a
        # session like that would hand over as bytes too.
        on_mysql = engine.dialect.name in ("mysql", "mariadb")
        self.binary_results = on_mysql and not self.text_key
        # Such a batch's rows need nothing of SQLAlchemy (ints, datetimes and bytes as PyMySQL makes
        # them): they are read from its unbuffered cursor (see `_rows`).
        self.driver_rows = self.binary_results and engine.dialect.driver == "pymysql"
        column = self.table.c[document]
        if on_mysql and _stored_charset(engine, name, document) not in _UTF8:
            # Jushita's tables are utf8 or utf8mb4; a landing table of a seller's own may be gbk or
            # latin1, whose stored bytes are no UTF-8 (every push would be rejected): the server
            # converts those, and only those.
            column = sa.cast(column, mysql.CHAR(charset="utf8mb4"))
        self.document = (sa.type_coerce(column, sa.LargeBinary) if self.binary_results
                         else sa.cast(column, sa.LargeBinary)).label("document")
        found = self.table.c.get(hash_column or JUSHITA_HASH)
        self.content = (sa.null() if found is None else found).label("content")
        self.sellers = tuple(sellers) if sellers else None
        self.partition = partition
        if self.sellers and "seller_nick" not in self.table.c:
            raise ConfigError(f"source table {name} has no seller_nick column, so `sellers` cannot filter it")

    @property
    def pushed(self) -> tuple[sa.ColumnElement, ...]:
        """The columns a push is read from: key, modified time, document and content hash (see `Push.of`)."""
        return (self.key, self.modified, self.document, self.content)

    @contextmanager
    def _reading(self, *, stream: bool = False) -> Iterator[sa.Connection]:
        """A connection to read documents on: with `binary_results`, its results are `binary` for as
        long as it is lent, and a connection that fails meanwhile is closed, never pooled like that."""
        with self.engine.connect() as connection:
            if stream:
                connection = connection.execution_options(stream_results=True)
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
            if after.key is None:
                query = query.where(self.modified >= after.modified)
            else:
                query = query.where(
                    self.modified >= after.modified,
                    sa.or_(self.modified > after.modified, self.key > after.key),
                )
        query = query.where(self.modified <= window.end if window.end_inclusive else self.modified < window.end)
        return query.order_by(self.modified, self.key).limit(limit)

    def count(self, window: Window, at_most: int | None = None) -> int:
        """How many rows `window` holds, counting no further than `at_most` (a bounded look at the index)."""
        # The keys only, from the (jdp_modified) index: with the documents, the LIMIT's derived table
        # (which MySQL cannot merge) read every one of them (20,000: 0.8 s of a run's start, not 5 ms).
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
        with self._reading(stream=True) as connection, closing(self._rows(connection, window, after, rows)) as found:
            for key, modified, document, content in found:
                batch.append(Push.of(key, modified, document, content))
                size += len(document or b"")
                if size >= max_bytes:
                    break
        return batch

    def _rows(self, connection: sa.Connection, window: Window, after: Position | None, rows: int) -> Iterator[tuple]:
        """The rows of `batch_query`, streamed: closing the iterator early reads no further documents."""
        query = self.batch_query(window, after, rows)
        if not self.driver_rows:
            result = connection.execute(query)
            try:
                yield from result
            finally:
                result.close()
            return
        # PyMySQL's unbuffered cursor, as SQLAlchemy's streamed result uses it, without its Row objects:
        # 2.7 us a push less (8.2 against 10.9 to read a document, measured 2026-12-05). Its errors are
        # wrapped as SQLAlchemy's would be, for the retry policy and the one-line messages (etl.database.faults).
        compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            cursor = connection.connection.driver_connection.cursor(pymysql.cursors.SSCursor)
            try:
                cursor.execute(compiled.string, compiled.params)
                yield from cursor
            finally:
                cursor.close()
        except dbapi_error as error:
            raise sa.exc.DBAPIError.instance(compiled.string, compiled.params, error, dbapi_error,
                                             hide_parameters=True, dialect=connection.dialect) from error

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
