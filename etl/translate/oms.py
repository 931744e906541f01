"""The OMS's trade and line rows: one shape for every kind that writes them (Taobao trades, 1688 orders).

Both kinds land in oms_trade / oms_order and newer wins between them on the same columns, so
the columns, the unknown-status warnings and the repeated-line refusal are defined once here.
A kind leaves NULL what its documents do not say (`EMPTY_TRADE`, `EMPTY_LINE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from etl.translate.rows import Row, Rows, TranslateError

UNKNOWN = "UNKNOWN"
TRADE_COLUMNS = (
    "tid", "platform", "seller_nick", "buyer_nick", "buyer_open_uid", "status", "oms_status", "type",
    "step_trade_status", "step_paid_fee", "created", "modified", "pay_time", "consign_time", "end_time", "payment",
    "total_fee", "post_fee", "discount_fee", "adjust_fee", "received_payment", "num", "receiver_name",
    "receiver_mobile", "receiver_phone", "receiver_country", "receiver_state", "receiver_city", "receiver_district",
    "receiver_town", "receiver_address", "receiver_zip", "oaid", "buyer_message", "buyer_memo", "seller_memo",
    "seller_flag", "shipping_type", "trade_from", "ext",
)
LINE_COLUMNS = (
    "oid", "tid", "seq", "platform", "num_iid", "sku_id", "outer_iid", "outer_sku_id", "title", "sku_properties_name",
    "price", "num", "total_fee", "payment", "discount_fee", "adjust_fee", "divide_order_fee", "part_mjz_discount",
    "status", "oms_status", "refund_status", "refund_id", "logistics_company", "invoice_no", "consign_time", "end_time",
)
EMPTY_TRADE: Mapping[str, None] = dict.fromkeys(TRADE_COLUMNS)
EMPTY_LINE: Mapping[str, None] = dict.fromkeys(LINE_COLUMNS)


@dataclass(frozen=True)
class Words:
    """How a kind names its trade and its lines in reasons and warnings."""

    trade: str  # "trade", "1688 order"
    line_status: str  # what a line's unknown status is called
    line_id: str  # the document field a line id comes from
    lines: str  # the document field holding the lines


def trade_rows(words: Words, trade: Row, lines: list[Row], promotions: list[Row],
               sources: Mapping[str, Sequence[Mapping[str, Any]]]) -> Rows:
    """The Rows of one trade: refused when a line id repeats (the second would overwrite the first), with
    a warning for each status the OMS vocabulary does not know (written as UNKNOWN)."""
    oids = [line["oid"] for line in lines]
    if len(set(oids)) != len(oids):
        raise TranslateError(f"the {words.trade} lists the same {words.line_id} twice in {words.lines}")
    warnings = [f"unknown {words.trade} status {trade['status']!r}"] if trade["oms_status"] == UNKNOWN else []
    warnings.extend(f"unknown {words.line_status} {line['status']!r} on line {line['oid']}"
                    for line in lines if line["oms_status"] == UNKNOWN)
    return Rows(key=trade["tid"], tables={"oms_trade": [trade], "oms_order": lines, "oms_promotion": promotions},
                warnings=tuple(warnings), sources=sources)
