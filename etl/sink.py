"""Set-based writes of one batch into the target, in the caller's transaction.

For a batch: read the versions the target holds for its keys (locking those rows),
keep the pushes that are newer (newer wins on the kind's version columns, then the
push's jdp_modified), upsert their parent rows, replace their children (update the ones
the push still has, insert the new, delete those it no longer has: a vanished line is gone),
resolve the open rejects of every key that translated, and record the new rejects.
Every statement is one multi-row statement per chunk of keys: never row by row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from etl.bookkeeping import BOOKKEEPING, CONTENT, MODIFIED, REJECT
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


class Sink:
    """The target tables of one kind of job, reflected once per run."""

    def __init__(self, kind: Kind, tables: dict[str, sa.Table], job: str, *, check_lengths: bool = False) -> None:
        """`check_lengths`: the target stores a text of any length in a VARCHAR(n) (SQLite), where
        MySQL's strict mode refuses it and the push is rejected: `fitting` rejects it first, so
        that both kinds of target end with the same rows."""
        self.kind = kind
        self.job = job
        self.tables = tables
        self.parent = tables[kind.parent]
        self.key = self.parent.c[kind.key_column]
        self.version_columns = [self.parent.c[name] for name in (*kind.version, MODIFIED)]
        self.content = self.parent.c[CONTENT]
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

    @staticmethod
    def already_written(pushes: Sequence[Push], held: dict[int, Held]) -> set[int]:
        """Keys whose push the target holds already: the same jdp_modified and the same content.

        A run re-reading its lookback window skips these before parsing them (cheap catch-up); what
        `newer` would call the same push, told before translating (same content, same version).
        """
        # The last element of a held version is the row's jdp_modified (NOT NULL), as _version puts it.
        return {push.key for push in pushes
                if (found := held.get(push.target_key)) is not None and found.version[-1] == (1, push.stamp)
                and push.content is not None and push.content == found.content}

    def fitting(self, outcomes: list[Outcome]) -> list[Outcome]:
        """`outcomes`, a push with a text longer than its column rejected (with `check_lengths`)."""
        if not self.lengths:
            return outcomes
        return [self._fits(item) if isinstance(item, Translated) else item for item in outcomes]

    def _fits(self, item: Translated) -> Outcome:
        for name, limits in self.lengths.items():
            for row in item.rows.tables.get(name, ()):
                for column, length in limits:
                    value = row.get(column)
                    if type(value) is str and len(value) > length:
                        return Rejected(item.push, f"{name}.{column} is {len(value)} characters, longer than its "
                                                   f"VARCHAR({length}) (MySQL's strict mode refuses it too)")
        return item

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
            self._replace(connection, winners, held, load_data)
        self._resolve_rejects(connection, [item.push.key for item in translated], now)
        self._record_rejects(connection, rejected, now)
        return len(winners)

    def _replace(
        self, connection: sa.Connection, winners: list[tuple[Translated, Row]], held: dict[int, Held],
        load_data: bool,
    ) -> None:
        keys = [item.rows.key for item, _ in winners]
        parents = [row for _, row in winners]
        if load_data:
            # A parent that exists is updated in place (ON DUPLICATE KEY UPDATE), never deleted and
            # inserted again as REPLACE would: the OMS may hang rows of its own on it.
            load_rows(connection, self.parent, [row for row in parents if row[self.kind.key_column] not in held],
                      replace=False)
            upsert(connection, self.parent, [row for row in parents if row[self.kind.key_column] in held])
        else:
            upsert(connection, self.parent, parents)
        # Children are only ever written with their parent, in one transaction: a key the target
        # had no parent for has no children to read or delete (a fresh window does neither).
        replaced = [key for key in keys if key in held]
        for name in self.kind.children:
            child = self.tables[name]
            rows = [row for item, _ in winners for row in item.rows.tables[name]]
            key_of = _key_getter(child)
            existing = self._child_keys(connection, child, replaced)
            new = rows
            if existing:
                # Only the lines a newer push no longer has are deleted; the others are updated in place,
                # as parents are. Deleting and inserting every line again was two thirds of the server's
                # time in a retranslate (28 of 42 CPU seconds at 100,000 trades, measured), and an update
                # keeps the columns of the OMS's own on a line.
                self._delete_children(connection, child, existing - {key_of(row) for row in rows})
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

    def _child_keys(self, connection: sa.Connection, child: sa.Table, parents: Sequence[int]) -> set:
        """The primary keys of the rows `child` holds for these parents."""
        columns = list(child.primary_key.columns)
        found: set = set()
        for chunk in id_chunks(parents):
            result = connection.execute(sa.select(*columns).where(ids_in(child.c[self.kind.key_column], chunk)))
            found.update(result.scalars() if len(columns) == 1 else map(tuple, result))
        return found

    @staticmethod
    def _delete_children(connection: sa.Connection, child: sa.Table, keys: Collection) -> None:
        columns = list(child.primary_key.columns)
        key = columns[0] if len(columns) == 1 else sa.tuple_(*columns)
        for chunk in chunks(sorted(keys)):
            connection.execute(sa.delete(child).where(key.in_(chunk)))

    def _resolve_rejects(self, connection: sa.Connection, keys: list[int | str], now: datetime) -> None:
        reject = self.tables[REJECT]
        # The keys of one job are all ints or all strs (a text key column).
        text_key = bool(keys) and isinstance(keys[0], str)
        column = reject_column(reject, text_key=text_key)
        # Most batches resolve nothing: one look along (job, resolved_at) for any open reject of the job
        # spares the server the UPDATE's look-up of each of the batch's keys (0.8 ms of its CPU a batch).
        is_open = is_open_reject(reject, self.job)
        if not keys or connection.execute(sa.select(reject.c.reject_id).where(is_open).limit(1)).first() is None:
            return
        for chunk in chunks(keys) if text_key else id_chunks(keys):
            connection.execute(
                sa.update(reject)
                .where(is_open, column.in_(chunk) if text_key else ids_in(column, chunk))
                .values(resolved_at=now)
            )

    def _record_rejects(self, connection: sa.Connection, rejected: Sequence[Rejected], now: datetime) -> None:
        reject = self.tables[REJECT]
        rows = [
            {
                "job": self.job,
                **reject_key(item.push),
                MODIFIED: item.push.stamp,
                "error": item.reason,
                "last_seen": now,
                "first_seen": now,
            }
            for item in rejected
        ]
        # One open reject per (job, key): a repeat updates it and keeps first_seen.
        upsert(
            connection,
            reject,
            rows,
            key=["job", "tid", "key_text"],
            where=reject.c.resolved_at.is_(None),
            keep=["first_seen"],
        )


def _key_getter(table: sa.Table) -> Any:
    """A row's primary key as `_child_keys` gives it: the value, or a tuple of several."""
    names = [column.name for column in table.primary_key.columns]
    return itemgetter(*names)


def is_open_reject(reject: sa.Table, job: str) -> sa.ColumnElement[bool]:
    """The rows of etl_reject that are `job`'s open rejects (along its (job, resolved_at) index)."""
    return sa.and_(reject.c.job == job, reject.c.resolved_at.is_(None))


def reject_column(reject: sa.Table, *, text_key: bool) -> sa.Column:
    """The etl_reject column a source key is found by: key_text for a text key column, else tid."""
    return reject.c.key_text if text_key else reject.c.tid


def reject_key(push: Push) -> dict[str, int | str]:
    """How etl_reject names a source row: tid is the target's id (0 when a text key is no id),
    key_text the key of a text key column ('' for Jushita's integer keys)."""
    if isinstance(push.key, str):
        return {"tid": push.target_key or 0, "key_text": push.key}
    return {"tid": push.key, "key_text": ""}
