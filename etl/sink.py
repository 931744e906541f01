"""Set-based writes of one batch into the target, in the caller's transaction.

For a batch: read the versions the target holds for its keys (locking those rows),
keep the pushes that are newer (newer wins on the kind's version columns, then the
push's jdp_modified), upsert their parent rows, replace their children (update the ones
the push still has, insert the new, delete those it no longer has: a vanished line is gone),
resolve the open rejects of every key that translated, and record the new rejects (etl.rejects).
Every statement is one multi-row statement per chunk of keys: never row by row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from etl.bookkeeping import BOOKKEEPING, CONTENT, MODIFIED, REJECT
from etl.rejects import RejectBook
from etl.database.load_data import load_rows
from etl.database.tables import chunks, id_chunks, ids_in, upsert
from etl.translate import Kind, Row
from etl.translate.push import Outcome, Push, Rejected, Translated


class Held(NamedTuple):
    """What the target holds for a key: the version its row was written at, and the content hash of
    that push (None for a row written before the job kept it: unknown, equal to no push)."""

    version: tuple[tuple[Any, ...], ...]
    content: str | None


def _version(values: Sequence[Any]) -> tuple[tuple[Any, ...], ...]:
    # NULL sorts before any value: a push without `modified` never beats one with it.
    return tuple((0,) if value is None else (1, value) for value in values)


def newer(version: tuple, content: str | None, held: Held) -> bool | None:
    """Is a push of `version` (from `Sink.version_of`) and `content` newer than what the target holds?
    None: it is the push the target holds.

    The last element of a version is the push's jdp_modified. Where it is the held row's, the two
    pushes came within one second, which the platform's clock cannot order: the source updates a
    row in place, so the one read now is the row's newest state, and it is newer unless its content
    is the same. Across different seconds newer wins on the kind's version columns, then jdp_modified.
    """
    if version[-1] == held.version[-1]:
        return None if content is not None and content == held.content else True
    return version > held.version


def already_written(pushes: Sequence[Push], held: dict[int, Held]) -> set[int]:
    """Keys whose push the target holds already: the same jdp_modified and the same content.

    A run re-reading its lookback window skips these before parsing them (cheap catch-up); what
    `newer` would call the same push, told before translating (same content, same version).
    """
    # The last element of a held version is the row's jdp_modified (NOT NULL), as _version puts it.
    return {push.key for push in pushes
            if (found := held.get(push.target_key)) is not None and found.version[-1] == (1, push.stamp)
            and push.content is not None and push.content == found.content}


def _later(new: Sequence[sa.ColumnElement], held: Sequence[sa.ColumnElement]) -> sa.ColumnElement[bool]:
    """SQL for `new > held` compared as `_version` tuples: element by element, NULL before any value."""
    if not new:
        return sa.false()
    first, held_first = new[0], held[0]
    greater = sa.and_(first.is_not(None), sa.or_(held_first.is_(None), first > held_first))
    return sa.or_(greater, sa.and_(first.is_not_distinct_from(held_first), _later(new[1:], held[1:])))


def newer_in_sql(version: Sequence[sa.Column], content: sa.Column, excluded: Any, *,
                 replace_equal: bool) -> sa.ColumnElement[bool]:
    """`newer` as an upsert's condition on the held row (`version`, `content`: its columns) and the new one
    (`excluded`); `replace_equal`: the push the target holds wins too."""
    held = list(version)
    new = [excluded[column.name] for column in held]
    same_second = new[-1] == held[-1]
    other_content = sa.or_(excluded[content.name].is_(None), excluded[content.name].is_distinct_from(content))
    return sa.or_(sa.and_(same_second, sa.true() if replace_equal else other_content),
                  sa.and_(new[-1] != held[-1], _later(new, held)))


class Sink:
    """The target tables of one kind of job, reflected once per run."""

    def __init__(self, kind: Kind, tables: dict[str, sa.Table], job: str, *, text_key: bool = False,
                 check_lengths: bool = False) -> None:
        """`text_key`: the source's keys are text. `check_lengths`: the target stores a text of any length
        in a VARCHAR(n) (SQLite), where MySQL's strict mode refuses it and the push is rejected:
        `refuse_overlong` rejects it first, so that both kinds of target end with the same rows."""
        self.kind = kind
        self.tables = tables
        self.parent = tables[kind.parent]
        self.key = self.parent.c[kind.key_column]
        self.version_columns = [self.parent.c[name] for name in (*kind.version, MODIFIED)]
        self.content = self.parent.c[CONTENT]
        self.rejects = RejectBook(tables[REJECT], job, text_key=text_key)
        self.lengths = {
            name: [(column.name, column.type.length) for column in tables[name].columns
                   if isinstance(column.type, sa.String) and column.type.length]
            for name in (kind.parent, *kind.children)
        } if check_lengths else {}

    @staticmethod
    def table_names(kind: Kind) -> tuple[str, ...]:
        return tuple(dict.fromkeys((kind.parent, *kind.children, *kind.uses, *BOOKKEEPING)))

    def held_versions(self, connection: sa.Connection, keys: Sequence[int], *, lock: bool) -> dict[int, Held]:
        """The versions the target holds for `keys` (those it has), locked for the batch when `lock`."""
        held = {}
        for chunk in id_chunks(keys):
            query = sa.select(self.key, self.content, *self.version_columns).where(ids_in(self.key, chunk))
            if lock:
                query = query.with_for_update()
            held.update({row[0]: Held(_version(row[2:]), row[1]) for row in connection.execute(query)})
        return held

    def holding_same(self, connection: sa.Connection, pushes: Sequence[Push]) -> set[int | str]:
        """Keys of `pushes` (marks) the target holds at the same jdp_modified and content, read over their
        span of seconds from the target's (jdp_modified, content_hash) index: a window the target holds
        costs a range of that index, not a look-up of each key's row (rows that carry `ext` fill pages the
        server would otherwise read). A key held at another version is not found here, as it is not
        skipped; the rows of other jobs or shards in the span are read and passed over."""
        marks = {(push.target_key, push.stamp, push.content): push.key
                 for push in pushes if push.content is not None}
        if not marks:
            return set()
        stamps = [stamp for _, stamp, _ in marks]
        modified = self.parent.c[MODIFIED]
        query = sa.select(self.key, modified, self.content).where(modified.between(min(stamps), max(stamps)))
        return {key for row in connection.execute(query) if (key := marks.get(tuple(row))) is not None}

    def refuse_overlong(self, outcomes: list[Outcome]) -> list[Outcome]:
        """`outcomes`, a push with a text longer than its column rejected (with `check_lengths`)."""
        if not self.lengths:
            return outcomes
        return [Rejected(item.push, reason) if isinstance(item, Translated) and (reason := _overlong(item, self.lengths))
                else item for item in outcomes]

    def parent_row(self, item: Translated) -> Row:
        """The parent row of a translated push, the push's jdp_modified and content hash set in it (the
        rows are the push's own)."""
        row = item.rows.tables[self.kind.parent][0]
        row[MODIFIED] = item.push.stamp
        row[CONTENT] = item.push.content
        return row

    def version_of(self, parent: Row) -> tuple:
        """A parent row's version, comparable with `held_versions`' (newer wins on it)."""
        return _version([parent[column.name] for column in self.version_columns])

    def write(
        self, connection: sa.Connection, outcomes: Sequence[Outcome], *, replace_equal: bool, now: datetime,
        load_data: bool = False, present: Collection[int] | None = None,
    ) -> int:
        """Write one batch; returns how many parents it changed.

        `replace_equal` rewrites the push the target holds (retranslate, after a translator fix);
        a plain run skips it (see `newer`). `load_data` writes
        new parents and all children with LOAD DATA LOCAL (MySQL; it raises `LoadRefused`
        where plain statements would have refused a value, and the caller writes the batch again
        without it). `present`, when the caller read the held versions just before, limits the
        locking read to the keys the target had then: READ COMMITTED takes no gap locks, so
        locking a key the target lacks protects nothing, and a fresh window skips the read.
        """
        translated = [item for item in outcomes if isinstance(item, Translated)]
        rejected = [item for item in outcomes if isinstance(item, Rejected)]
        parents = [self.parent_row(item) for item in translated]
        keys = [row[self.kind.key_column] for row in parents]
        held = self.held_versions(connection, keys if present is None else [key for key in keys if key in present],
                                  lock=True)
        winners = []
        for item, row in zip(translated, parents):
            current = held.get(item.rows.key)
            if current is None:
                winners.append((item, row))
                continue
            wins = newer(self.version_of(row), item.push.content, current)
            if wins or (replace_equal and wins is None):
                winners.append((item, row))
        if winners:
            self._replace(connection, winners, held, load_data, replace_equal)
        self.rejects.resolve(connection, [item.push.key for item in translated], now)
        self.rejects.record(connection, rejected, now)
        return len(winners)

    def _replace(
        self, connection: sa.Connection, winners: list[tuple[Translated, Row]], held: dict[int, Held],
        load_data: bool, replace_equal: bool,
    ) -> None:
        keys = [item.rows.key for item, _ in winners]
        parents = [row for _, row in winners]
        # The rows' locks decided the winners; where the upsert takes a condition, it says so again.
        guard = partial(newer_in_sql, self.version_columns, self.content, replace_equal=replace_equal)
        if load_data:
            # A parent that exists is updated in place (ON DUPLICATE KEY UPDATE), never deleted and
            # inserted again as REPLACE would: the OMS may hang rows of its own on it.
            load_rows(connection, self.parent, [row for row in parents if row[self.kind.key_column] not in held],
                      replace=False)
            upsert(connection, self.parent, [row for row in parents if row[self.kind.key_column] in held])
        else:
            upsert(connection, self.parent, parents, guard=guard)
        # Children are only ever written with their parent, in one transaction: a key the target
        # had no parent for has no children to read or delete (a fresh window does neither).
        replaced = [key for key in keys if key in held]
        for name in self.kind.children:
            child = self.tables[name]
            rows = [row for item, _ in winners for row in item.rows.tables[name]]
            key_of = _key_getter(child)
            existing = _child_keys(connection, child, child.c[self.kind.key_column], replaced)
            new = rows
            if existing:
                # Only the lines a newer push no longer has are deleted; the others are updated in place,
                # as parents are: deleting and inserting every line again costs the server most of a
                # retranslate's time (bench/RESULTS.md), and an update keeps the OMS's own columns of a line.
                _delete_children(connection, child, existing - {key_of(row) for row in rows})
                held_rows, new = [], []
                for row in rows:
                    (held_rows if key_of(row) in existing else new).append(row)
                upsert(connection, child, held_rows)
            # Replacing, not inserting: a line id that moved from a trade not in this batch must not fail it.
            if load_data:
                load_rows(connection, child, new, replace=True)
            else:
                upsert(connection, child, new)
        if self.kind.after_write is not None:
            self.kind.after_write(connection, self.tables, [item.rows for item, _ in winners])

def _child_keys(connection: sa.Connection, child: sa.Table, parent_key: sa.Column, parents: Sequence[int]) -> set:
    """The primary keys of the rows `child` holds for these parents."""
    columns = list(child.primary_key.columns)
    found: set = set()
    for chunk in id_chunks(parents):
        result = connection.execute(sa.select(*columns).where(ids_in(parent_key, chunk)))
        found.update(result.scalars() if len(columns) == 1 else map(tuple, result))
    return found


def _delete_children(connection: sa.Connection, child: sa.Table, keys: Collection) -> None:
    columns = list(child.primary_key.columns)
    key = columns[0] if len(columns) == 1 else sa.tuple_(*columns)
    for chunk in chunks(sorted(keys)):
        connection.execute(sa.delete(child).where(key.in_(chunk)))


def _key_getter(table: sa.Table) -> Any:
    """A row's primary key as `_child_keys` gives it: the value, or a tuple of several."""
    names = [column.name for column in table.primary_key.columns]
    return itemgetter(*names)


def _overlong(item: Translated, lengths: dict[str, list[tuple[str, int]]]) -> str | None:
    """Why the rows of `item` hold a text longer than its VARCHAR(n); None when they do not."""
    for name, limits in lengths.items():
        for row in item.rows.tables.get(name, ()):
            for column, length in limits:
                value = row.get(column)
                if type(value) is str and len(value) > length:
                    return (f"{name}.{column} is {len(value)} characters, longer than its VARCHAR({length}) "
                            "(MySQL's strict mode refuses it too)")
    return None
