"""A push table: the keyset scan of a window (a query builder and a batch reader), and the checks that
the table can be read so before a run.

A window is read in (modified, key) order (the modified column is jdp_modified in Jushita's
tables), `batch_size` rows (and a byte bound) per query, each query starting after the last row
of the one before (`etl.database.tables.keyset_after`). A batch may be read as its rows' keys,
modified times and content hashes first ("marks", without the documents), and the documents of
only some of them after (`read_documents`). A list of sellers is read through each seller's own
(seller_nick, modified) index where the table has one (`SellerMerge`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager, closing
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from etl.database.engines import masked
from etl.database.streams import reading, stream
from etl.database.tables import chunks, id_chunks, ids_in, keyset_after, reflect, stored_charset
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
    # Jushita indexes (seller_nick, jdp_modified): each seller's rows in keyset order (the primary key ends
    # every entry). A list of sellers is read through it seller by seller, where the table has it.
    by_seller = bool(sellers) and len(sellers) > 1 and any(
        index["column_names"][:2] == ["seller_nick", modified.name] for index in sa.inspect(engine).get_indexes(name))
    return SourceTable(engine, table, columns, sellers, hash_column=hash_column or JUSHITA_HASH, recode=recode,
                       by_seller=by_seller)


class SourceTable:
    """A push table of one job as reflected (`reflect_source`): its keyset queries and their reading,
    for the job's sellers and, with a `partition` (i, n), the rows whose key modulo n is i."""

    def __init__(self, engine: Engine, table: sa.Table, columns: tuple[str, str, str], sellers: Sequence[str] | None,
                 partition: tuple[int, int] | None = None, *, hash_column: str = JUSHITA_HASH,
                 recode: bool = False, by_seller: bool = False) -> None:
        self.engine, self.table, self.partition, self.by_seller = engine, table, partition, by_seller
        self.sellers = tuple(sellers) if sellers else None
        self._made = (columns, hash_column, recode)
        key, modified, document = columns
        self.key, self.modified = table.c[key], table.c[modified]
        self.text_key = isinstance(self.key.type, sa.String)
        # The raw bytes: orjson parses bytes directly, and decoding to str first costs more than parsing.
        # MySQL/MariaDB send them as stored to a session whose results are `binary` (streams.reading),
        # where a CAST(... AS BINARY) would convert every character on the server. The key must then not
        # be text, which a session like that would hand over as bytes too; such rows need nothing of
        # SQLAlchemy, and are read as the driver makes them (etl.database.streams).
        self.binary_results = engine.dialect.name in ("mysql", "mariadb") and not self.text_key
        column = sa.cast(table.c[document], mysql.CHAR(charset="utf8mb4")) if recode else table.c[document]
        self.document = (sa.type_coerce(column, sa.LargeBinary) if self.binary_results
                         else sa.cast(column, sa.LargeBinary)).label("document")
        found = table.c.get(hash_column)
        self.hashed = found is not None
        self.content = (sa.null() if found is None else found).label("content")

    def share(self, partition: tuple[int, int] | None) -> SourceTable:
        """The same table read for another partition (a shard's or a worker's share of the keys)."""
        columns, hash_column, recode = self._made
        return SourceTable(self.engine, self.table, columns, self.sellers, partition, hash_column=hash_column,
                           recode=recode, by_seller=self.by_seller)

    @property
    def pushed(self) -> tuple[sa.ColumnElement, ...]:
        """The columns a push is read from: key, modified time, document and content hash (see `Push.of`)."""
        return (self.key, self.modified, self.document, self.content)

    def columns(self, *, documents: bool) -> tuple[sa.ColumnElement, ...]:
        """The `pushed` columns; without the documents, a NULL in their place (a mark: see `read_documents`)."""
        return self.pushed if documents else (self.key, self.modified, sa.null().label("document"), self.content)

    def _reading(self) -> AbstractContextManager[sa.Connection]:
        return reading(self.engine, binary=self.binary_results)

    def _filtered(self, query: sa.Select, seller: str | None = None) -> sa.Select:
        """`query` for the job's sellers (or `seller` alone) and this table's partition."""
        if seller is not None:
            query = query.where(self.table.c.seller_nick == seller)
        elif self.sellers:
            query = query.where(self.table.c.seller_nick.in_(self.sellers))
        if self.partition is not None:
            # The key is the last column of every secondary index entry, so the server filters
            # on the (jdp_modified) index itself and reads only this share's documents.
            part, parts = self.partition
            # A text key is cast first: MySQL would take '2106089115686783163' % 2 through a double.
            key = sa.cast(self.key, sa.BigInteger) if self.text_key else self.key
            query = query.where(key % parts == part)
        return query

    def _each_seller(self) -> Sequence[str | None]:
        """The sellers a query is made for one by one (each its own index range), or [None]: one query."""
        return self.sellers if self.by_seller else [None]

    def newest(self) -> datetime | None:
        """The newest jdp_modified: the frozen upper bound of a run (the "signpost")."""
        # Seller by seller, each the last entry of its own index range, rather than a scan of all of theirs.
        newest = [self._filtered(sa.select(sa.func.max(self.modified).label("newest")), seller).subquery().select()
                  for seller in self._each_seller()]
        query = newest[0] if len(newest) == 1 else sa.select(sa.func.max(sa.union_all(*newest).subquery().c.newest))
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def batch_query(self, window: Window, after: Position | None, limit: int,
                    columns: Sequence[sa.ColumnElement] | None = None, seller: str | None = None) -> sa.Select:
        """The next `limit` rows of `window` after `after`: the `pushed` columns, or `columns`, of the job's
        sellers or only `seller` (pure: builds, does not run)."""
        query = self._filtered(sa.select(*(columns or self.pushed)), seller)
        if after is not None:
            query = query.where(keyset_after(self.modified, self.key, after.modified, after.key))
        query = query.where(self.modified <= window.end if window.end_inclusive else self.modified < window.end)
        return query.order_by(self.modified, self.key).limit(limit)

    def count(self, window: Window, at_most: int | None = None, after: Position | None = None) -> int:
        """How many rows `window` holds (after `after`, else from its start), counting no further than
        `at_most` (a bounded look at the index)."""
        # The keys only, from the (jdp_modified) index: with the documents, the LIMIT's derived table
        # (which MySQL cannot merge) would read every one of them.
        start = after or window.start
        counted = 0
        with self.engine.connect() as connection:
            for seller in self._each_seller():
                rows = self.batch_query(window, start, 1, (self.key,), seller).limit(at_most).order_by(None).subquery()
                counted += connection.execute(sa.select(sa.func.count()).select_from(rows)).scalar_one()
        return counted if at_most is None else min(counted, at_most)

    def read_batch(self, window: Window, after: Position | None, rows: int, max_bytes: int, *,
                   documents: bool = True, seller: str | None = None) -> list[Push]:
        """The next pushes of `window` after `after` (of `seller` alone, when given): at most `rows`, and no
        more than `max_bytes` of documents beyond the first (a push of several MB must not make a batch of
        gigabytes). Without `documents`, their marks: the documents are NULL, read later if needed.

        Stateless, so a batch that failed can be read again on a new connection. The rows are
        streamed (a server-side cursor on MySQL): stopping at the byte bound never holds the rest.
        """
        return self.read_query(self.batch_query(window, after, rows, self.columns(documents=documents), seller),
                               max_bytes)[0]

    def read_documents(self, marks: Sequence[Push], max_bytes: int) -> tuple[list[Push], bool]:
        """The pushes the source holds now for the keys of `marks`, in keyset order, no more than
        `max_bytes` of documents beyond the first; and whether they are all there (the byte bound did
        not stop the read). A key the source no longer holds is left out, as is a row that changed
        meanwhile, read at its new position."""
        found: list[Push] = []
        # Integer keys go into the SQL as digits, one list a batch; text keys are bound, in lists an old SQLite takes.
        for chunk in chunks([mark.key for mark in marks]) if self.text_key else id_chunks([mark.key for mark in marks]):
            where = self.key.in_(chunk) if self.text_key else ids_in(self.key, chunk)
            query = sa.select(*self.pushed).where(where).order_by(self.modified, self.key)
            read, complete = self.read_query(query, max_bytes - sum(len(push.document or b"") for push in found))
            found += read
            if not complete:
                return found, False
        return found, True

    def read_query(self, query: sa.Select, max_bytes: int) -> tuple[list[Push], bool]:
        """The pushes `query` (of `columns`) finds, streamed until `max_bytes` of documents beyond the first;
        and whether it read all it found."""
        batch: list[Push] = []
        size = 0
        with self._reading() as connection, closing(stream(connection, query, raw=self.binary_results)) as found:
            for key, modified, document, content in found:
                batch.append(Push.of(key, modified, document, content))
                size += len(document or b"")
                if size >= max_bytes:
                    return batch, False
        return batch, True

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


class SellerMerge:
    """A list of sellers read through each seller's own (seller_nick, modified) index and merged in keyset
    order: the server reads about the rows it returns, whatever the other sellers of a shared push table
    push (one range of the (modified) index would pass every seller's rows).

    Each seller's rows are read from where its last read ended and kept until a batch passes them:
    `read(after)` is the next batch after `after`, so that a batch read again (a retry) or cut short (a
    byte bound) is read again from where its caller is, and no row is read twice. Marks are read `rows`
    at a time a seller; documents a share of `rows` and `max_bytes` a seller, so that what is kept stays
    about a batch's memory however many sellers the list has.
    """

    def __init__(self, source: SourceTable, window: Window, rows: int, max_bytes: int) -> None:
        self.source, self.window, self.rows, self.max_bytes = source, window, rows, max_bytes
        self._kept: dict[str, deque[Push]] = {seller: deque() for seller in source.sellers or ()}
        self._read_to: dict[str, Position | None] = dict.fromkeys(self._kept, window.start)
        self._ended: set[str] = set()
        self.documents: bool | None = None

    def read(self, after: Position | None, *, documents: bool) -> list[Push]:
        """The next batch after `after`: with the documents, or the marks (documents NULL) only."""
        if documents != self.documents:
            # What is kept was read the other way: read on from `after` (once a run, where the window
            # passes the part the target likely holds).
            self.documents = documents
            for seller, kept in self._kept.items():
                kept.clear()
                self._read_to[seller] = after if after is not None else self.window.start
            self._ended.clear()
        for kept in self._kept.values():
            while kept and after is not None and kept[0].position <= after:
                kept.popleft()
        batch: list[Push] = []
        size = 0
        taken = dict.fromkeys(self._kept, 0)
        while len(batch) < self.rows and size < self.max_bytes:
            heads = []
            for seller, kept in self._kept.items():
                if taken[seller] == len(kept) and seller not in self._ended:
                    self._refill(seller)
                if taken[seller] < len(kept):
                    heads.append((kept[taken[seller]].position, seller))
            if not heads:
                break
            seller = min(heads)[1]
            push = self._kept[seller][taken[seller]]
            taken[seller] += 1
            batch.append(push)
            size += len(push.document or b"")
        return batch

    def _refill(self, seller: str) -> None:
        """Read the seller's next rows into what is kept (only what was read: a failed read changes nothing)."""
        source, share = self.source, len(self._kept) if self.documents else 1
        rows = max(1, self.rows // share)
        query = source.batch_query(self.window, self._read_to[seller], rows, source.columns(documents=self.documents),
                                   seller)
        read, complete = source.read_query(query, self.max_bytes // share)
        self._kept[seller].extend(read)
        if read:
            self._read_to[seller] = read[-1].position
        if complete and len(read) < rows:
            self._ended.add(seller)
