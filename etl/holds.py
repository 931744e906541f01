"""Refund holds: a line with a refund in progress must not ship, whichever source told us last.

A Taobao line learns of its refund twice: from the trade push (`orders.order[].refund_status`,
as of the trade's `modified`) and from the refund push (jdp_tb_refund, as of the refund's
`modified`). They arrive in any order, through different jobs. After either kind writes, the
lines it touched get the oms_status the newer of the two says: REFUNDING while the newest
refund of the line is in progress, REFUNDED once it succeeded, and the line's own status when
it was refused or closed (or when the trade push is the newer word).

Runs in the writing batch's transaction; it changes only oms_order.oms_status, and only of
Taobao lines that have a refund in oms_refund. Both reads lock: a trade job and a refund job
writing the same line at once then wait for each other (or deadlock, and one batch is retried)
instead of each deciding on what the other has not committed yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from etl.database.tables import id_chunks, ids_in
from etl.translate.rows import Rows
from etl.translate.tb_trade import PLATFORM, map_line_status

# The tables a kind that calls `refresh_refund_holds` needs besides its own.
TABLES = ("oms_order", "oms_trade", "oms_refund")


def _newest(refunds: Sequence[sa.Row]) -> dict[int, sa.Row]:
    """The newest refund of each line: by refund_version, then modified (NULL oldest)."""
    newest: dict[int, sa.Row] = {}
    for refund in sorted(refunds, key=lambda r: (r.refund_version or 0, r.modified or datetime.min)):
        newest[refund.oid] = refund
    return newest


def line_status(line: sa.Row, refund: sa.Row | None) -> str:
    """oms_status of a Taobao line given the newest refund of it (None: no refund pushed)."""
    trade_is_newer = (
        refund is None
        or refund.modified is not None and line.trade_modified is not None and refund.modified < line.trade_modified
    )
    # The refund's status means for the line what the trade push's refund_status means for it.
    refund_status = line.refund_status if trade_is_newer else refund.status
    return map_line_status(line.status, refund_status, line.step_trade_status)


def refresh_refund_holds(connection: sa.Connection, tables: Mapping[str, sa.Table], written: Sequence[Rows]) -> None:
    """Set oms_status of the lines `written` touched (a trade's lines, or the lines refunded)."""
    order, trade, refund = (tables[name] for name in TABLES)
    # A trade push writes all its lines, and a line's refunds carry its trade's tid: the refunds of a
    # batch of trades are found by their tids, one key a trade (the lines' oids would be nearly two);
    # a refund push's line is its oid. Most lines have no refund: one indexed look-up, and nothing
    # else, for those. Keys in order: rows are locked in it.
    tids = sorted({row["tid"] for rows in written for row in rows.tables.get("oms_trade", ())})
    oids = sorted({row["oid"] for rows in written for row in rows.tables.get("oms_refund", ())})
    refunds = [
        found
        for column, keys in ((refund.c.tid, tids), (refund.c.oid, oids))
        for chunk in id_chunks(keys)
        for found in connection.execute(
            sa.select(refund.c.oid, refund.c.status, refund.c.refund_version, refund.c.modified)
            .where(ids_in(column, chunk))
            .with_for_update()
        )
    ]
    if not refunds:
        return
    newest = _newest(refunds)
    changes: dict[str, list[int]] = {}
    for chunk in id_chunks(sorted(newest)):
        lines = connection.execute(
            sa.select(order.c.oid, order.c.status, order.c.refund_status, order.c.oms_status,
                      trade.c.step_trade_status, trade.c.modified.label("trade_modified"))
            .join(trade, trade.c.tid == order.c.tid)
            .where(ids_in(order.c.oid, chunk), order.c.platform == PLATFORM)
            .with_for_update()
        ).all()
        for line in lines:
            status = line_status(line, newest[line.oid])
            if status != line.oms_status:
                changes.setdefault(status, []).append(line.oid)
    for status, changed in changes.items():
        for chunk in id_chunks(changed):
            connection.execute(sa.update(order).where(ids_in(order.c.oid, chunk)).values(oms_status=status))
