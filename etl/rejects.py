"""The reject book (etl_reject): the pushes of a job that could not be written, each with its reason,
open until a later push of the same key is written.

At most one open reject per (job, key): a push rejected again updates it (`first_seen` kept), and
a push of that key that translates resolves it, in the batch's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from etl.bookkeeping import MODIFIED
from etl.database.tables import chunks, id_chunks, ids_in, upsert
from etl.translate.push import Push, Rejected


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


def count_open(connection: sa.Connection, reject: sa.Table, job: str) -> int:
    """How many rejects of `job` are open."""
    return connection.execute(sa.select(sa.func.count()).select_from(reject).where(is_open_reject(reject, job))
                              ).scalar_one()


class RejectBook:
    """One job's open rejects in etl_reject, for a source whose keys are ints or (`text_key`) text."""

    def __init__(self, reject: sa.Table, job: str, *, text_key: bool = False) -> None:
        self.reject, self.job = reject, job
        self.column = reject_column(reject, text_key=text_key)
        self.is_open = is_open_reject(reject, job)
        # Integer keys go into the SQL as digits (one statement a batch); text keys are bound.
        self.keys_in = ((lambda chunk: self.column.in_(chunk)), chunks) if text_key else \
            ((lambda chunk: ids_in(self.column, chunk)), id_chunks)

    def open_keys(self, connection: sa.Connection) -> list[int | str]:
        """The keys of the job's open rejects, in key order."""
        return list(connection.execute(sa.select(self.column).where(self.is_open).order_by(self.column)).scalars())

    def resolve(self, connection: sa.Connection, keys: Sequence[int | str], now: datetime) -> None:
        """Close the open rejects of `keys`, whose pushes translated."""
        # Most batches resolve nothing: one look along (job, resolved_at) for any open reject of the job
        # spares the server the UPDATE's look-up of each of the batch's keys.
        if not keys or connection.execute(sa.select(self.reject.c.reject_id).where(self.is_open).limit(1)).first() \
                is None:
            return
        condition, chunked = self.keys_in
        for chunk in chunked(keys):
            connection.execute(sa.update(self.reject).where(self.is_open, condition(chunk)).values(resolved_at=now))

    def record(self, connection: sa.Connection, rejected: Sequence[Rejected], now: datetime) -> None:
        """Open (or update) a reject for each push of `rejected`, with its reason."""
        rows = [{"job": self.job, **reject_key(item.push), MODIFIED: item.push.stamp, "error": item.reason,
                 "last_seen": now, "first_seen": now} for item in rejected]
        # One open reject per (job, key): a repeat updates it and keeps first_seen.
        upsert(connection, self.reject, rows, key=["job", "tid", "key_text"],
               where=self.reject.c.resolved_at.is_(None), keep=["first_seen"])
