"""The watermark in the target: the (jdp_modified, key) position (etl.window) of the last source row
committed for a job, loaded and saved per shard.

The pair is stored as etl_watermark (jdp_modified, tid) for the integer keys of Jushita's
tables, and (jdp_modified, key_text) with tid 0 for a text key column (a 1688 landing table).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from etl.clock import to_second
from etl.database.tables import upsert
from etl.shard import WHOLE, Shard
from etl.window import Position


def load_watermarks(connection: sa.Connection, table: sa.Table, job: str, *,
                    text_key: bool = False) -> dict[str, Position]:
    """Every watermark row of `job`, by shard label ("" for the whole job); `text_key`: the source's
    key column is text, kept in key_text."""
    rows = connection.execute(
        sa.select(table.c.shard, table.c.jdp_modified, table.c.tid, table.c.key_text).where(table.c.job == job)
    )
    return {row.shard: Position(row.jdp_modified, row.key_text if text_key else row.tid) for row in rows}


def load_watermark(connection: sa.Connection, table: sa.Table, job: str, *, shard: Shard = WHOLE,
                   text_key: bool = False) -> Position | None:
    """The watermark of `shard` of `job`.

    A shard without a row of its own (the first run after the shard count changed, or after a
    sharded job runs whole again) starts at the earliest row the job has for another shard count:
    every key of its share is committed up to there, whichever shard carried it before, and
    reading again what another shard wrote is harmless, since newer wins. The rows of its own
    count's other shards say nothing of its keys: with none of another count it starts afresh.
    """
    return _starting(load_watermarks(connection, table, job, text_key=text_key), shard)


def _starting(rows: dict[str, Position], shard: Shard) -> Position | None:
    if shard.label in rows:
        return rows[shard.label]
    before = [position for label, position in rows.items() if _count(label) != shard.count]
    return min(before) if before else None


def _count(label: str) -> int:
    return Shard.parse(label).count if label else 1


def take_watermark(connection: sa.Connection, table: sa.Table, job: str, shard: Shard, now: datetime, *,
                   text_key: bool = False) -> Position | None:
    """The watermark a run of `shard` starts from and moves: one it inherits from another shard count
    is saved as its own at once (so status sees the shard, and its layout can be completed), and the
    rows of an older count are forgotten once every shard of this one has its own."""
    forget_other_layouts(connection, table, job, shard)
    rows = load_watermarks(connection, table, job, text_key=text_key)
    position = _starting(rows, shard)
    if position is not None and shard.label not in rows:
        save_watermark(connection, table, job, position, now, shard)
    return position


def forget_other_layouts(connection: sa.Connection, table: sa.Table, job: str, shard: Shard) -> None:
    """Once every shard of `shard`'s layout has a row, the rows of any other shard count are history:
    each shard of this layout started at or before them (`load_watermark`)."""
    labels = {row.shard for row in connection.execute(sa.select(table.c.shard).where(table.c.job == job))}
    layout = {Shard(index, shard.count).label for index in range(shard.count)}
    if layout <= labels and labels - layout:
        connection.execute(sa.delete(table).where(table.c.job == job, table.c.shard.not_in(layout)))


def save_watermark(connection: sa.Connection, table: sa.Table, job: str, position: Position, now: datetime,
                   shard: Shard = WHOLE) -> None:
    if position.key is None:
        raise ValueError("a watermark is the position of a row read, with its key")
    text = isinstance(position.key, str)
    # (to_second(t), key) sorts before (t, key): a run resuming there only re-reads.
    upsert(
        connection,
        table,
        [{"job": job, "shard": shard.label, "jdp_modified": to_second(position.modified),
          "tid": 0 if text else position.key, "key_text": position.key if text else None, "updated_at": now}],
    )
