"""`etl verify`: is the OMS complete for a window? Source against target, per seller and day.

Every push of the window is translated as a run would, and its parent row compared with what
the target holds for its key:
- current: the target holds this version (or a newer one: newer wins, and an out-of-order push
  may sit in the source behind what the OMS already has);
- missing: the target has no row for the key (an open reject says why, when there is one);
- stale: the target holds an older version than the source's (or, from the same second, another content);
- rejected: the push does not translate (it is in etl_reject; the OMS cannot have it).
Money is compared exactly (Decimal): the sum of the kind's amount column (`payment` of trades,
`refund_fee` of refunds) over the current rows, source against target.

Read-only, batch by batch (no job lock: a verify never blocks a run); pandas groups and sums
the per-batch tallies into the table, and writes the CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from etl.config import JobConfig
from etl.context import open_job
from etl.database.tables import id_chunks, ids_in
from etl.shard import WHOLE, Shard
from etl.sink import Sink, newer
from etl.translate.push import Push, Rejected, translate_push
from etl.window import Period, Position, batches
from etl.kinds import KINDS

COLUMNS = ["seller_nick", "day", "source", "target", "missing", "stale", "rejected", "source_amount",
           "target_amount"]
# How many keys of each difference the report names; the counts are always whole.
_NAMED = 20


@dataclass(frozen=True)
class Reconciliation:
    job: str
    since: datetime
    until: datetime
    table: pd.DataFrame  # one row per (seller_nick, day), COLUMNS
    missing: tuple[int | str, ...]  # the first _NAMED keys of each kind of difference
    stale: tuple[int | str, ...]
    rejected: tuple[int | str, ...]

    @property
    def differences(self) -> int:
        table = self.table
        if table.empty:
            return 0
        return int(table["missing"].sum() + table["stale"].sum() + table["rejected"].sum()
                   + (table["source_amount"] != table["target_amount"]).sum())

    def to_text(self) -> str:
        """The table for a terminal: seller nicks are Chinese, two columns wide a character."""
        with pd.option_context("display.unicode.east_asian_width", True):
            return self.table.to_string(index=False)

    def to_csv(self, path: Path) -> None:
        # Money as its exact text, never through a float.
        self.table.astype({"source_amount": str, "target_amount": str}).to_csv(path, index=False)


def _tally(sink: Sink, connection: sa.Connection, batch: list[Push], columns: tuple[str, str, str],
           named: dict[str, list]) -> list[dict]:
    """One row per push of `batch`: its seller, day and state, and the amounts on both sides."""
    kind = sink.kind
    amount = sink.parent.c[kind.amount]
    outcomes = [translate_push(kind, push, columns) for push in batch]
    keys = [push.target_key for push in batch if push.target_key is not None]
    held = sink.held_versions(connection, keys, lock=False)
    amounts: dict[int, Decimal | None] = {}
    for chunk in id_chunks(keys):
        query = sa.select(sink.key, amount).where(ids_in(sink.key, chunk))
        amounts.update({row[0]: row[1] for row in connection.execute(query)})
    rows = []
    for outcome in outcomes:
        push = outcome.push
        day = push.modified.date() if push.modified is not None else None
        if isinstance(outcome, Rejected):
            named["rejected"].append(push.key)
            rows.append({"seller_nick": "-", "day": day, "rejected": 1})
            continue
        parent = sink.parent_row(outcome)
        seller = parent.get("seller_nick") or "-"
        current = held.get(push.target_key)
        if current is None:
            named["missing"].append(push.key)
            rows.append({"seller_nick": seller, "day": day, "source": 1, "missing": 1})
        elif newer(sink.version_of(parent), push.content,
                   # A row written before the target kept content hashes is judged by its version alone.
                   current if current.content is not None else current._replace(content=push.content)):
            named["stale"].append(push.key)
            rows.append({"seller_nick": seller, "day": day, "source": 1, "target": 1, "stale": 1})
        else:
            rows.append({"seller_nick": seller, "day": day, "source": 1, "target": 1,
                         "source_amount": parent[kind.amount] or Decimal(0),
                         "target_amount": amounts.get(push.target_key) or Decimal(0)})
    return rows


def verify_job(job: JobConfig, since: datetime, until: datetime, shard: Shard = WHOLE) -> Reconciliation:
    """Reconcile the pushes with a modified time in [since, until) against the target: all of a
    sharded job's keys as one, or only `shard`'s."""
    window = Period(since, until).window()
    kind = KINDS[job.kind]
    named: dict[str, list] = {"missing": [], "stale": [], "rejected": []}
    frames = []
    with open_job(job) as opened:
        sink = Sink(kind, opened.target_tables(Sink.table_names(kind)), job.name)
        source = opened.source.share(shard.partition)

        def read(after: Position | None) -> list[Push]:
            with opened.on_source():
                return source.read_batch(window, after, job.batch_size, job.batch_bytes)

        with opened.on_target(), opened.target_engine.connect() as connection:
            for batch in batches(read, window.start):
                rows = _tally(sink, connection, batch, job.source_columns, named)
                frames.append(pd.DataFrame(rows, columns=COLUMNS))
    return Reconciliation(job.name, since, until, _summed(frames), *(tuple(named[name][:_NAMED])
                                                                     for name in ("missing", "stale", "rejected")))


def _summed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    tallies = pd.concat(frames, ignore_index=True)
    counts = ["source", "target", "missing", "stale", "rejected"]
    tallies[counts] = tallies[counts].fillna(0).astype("int64")
    # Decimal sums stay exact in an object column; a float column would not be.
    for column in ("source_amount", "target_amount"):
        tallies[column] = tallies[column].map(lambda value: Decimal(0) if pd.isna(value) else value).astype(object)
    grouped = tallies.groupby(["seller_nick", "day"], dropna=False, sort=True)
    table = grouped[counts].sum()
    for column in ("source_amount", "target_amount"):
        table[column] = grouped[column].agg(lambda values: sum(values, Decimal(0)))
    return table.reset_index()[COLUMNS]


__all__ = ["Reconciliation", "verify_job"]
