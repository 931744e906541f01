"""One pure translator per kind of document, and the registry of kinds: a parsed document in, rows out.

A kind is one translator module and one entry here: the engine has no branch on a kind. Nothing
here touches a database: what the writing side does after a kind's rows are written is joined to
these kinds in etl/kinds.py, which is the registry the engine looks kinds up in.
"""

from etl.translate.alibaba_order import translate_alibaba_order
from etl.translate.oms import LINE_COLUMNS, TRADE_COLUMNS
from etl.translate.rows import Kind, Row, Rows, Source, TranslateError
from etl.translate.tb_refund import REFUND_COLUMNS, translate_refund
from etl.translate.tb_trade import PROMOTION_COLUMNS, translate_trade

# Taobao trades and 1688 orders land in the same OMS tables, and newer wins on the same columns.
_TRADE_TABLES = {"parent": "oms_trade", "key_column": "tid", "children": ("oms_order", "oms_promotion"),
                 "version": ("modified",),
                 "columns": {"oms_trade": TRADE_COLUMNS, "oms_order": LINE_COLUMNS, "oms_promotion": PROMOTION_COLUMNS}}

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(name="tb_trade", translate=translate_trade, source=Source("jdp_tb_trade", "tid"), **_TRADE_TABLES,
             objects={"oms_trade": "trade", "oms_order": "order", "oms_promotion": "promotion"}),
        Kind(name="tb_refund", translate=translate_refund, source=Source("jdp_tb_refund", "refund_id"),
             parent="oms_refund", key_column="refund_id", children=(), version=("refund_version", "modified"),
             amount="refund_fee", objects={"oms_refund": "refund"}, columns={"oms_refund": REFUND_COLUMNS}),
        # 1688 has no push: its orders come from a landing table the seller fills, named per job.
        Kind(name="alibaba_order", translate=translate_alibaba_order, source=Source(None, "order_id"),
             objects={"oms_trade": "order", "oms_order": "item"}, **_TRADE_TABLES),
    )
}

__all__ = ["KINDS", "Kind", "Row", "Rows", "Source", "TranslateError", "translate_alibaba_order", "translate_refund",
           "translate_trade"]
