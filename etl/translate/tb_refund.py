"""Translate one `taobao.refund.get` document (Jushita's jdp_tb_refund push) into an oms_refund row.

Pure: a parsed document in, rows out. A refund belongs to one line (`oid`) of one trade
(`tid`); while it is in progress the line must not ship (see etl/holds.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl.translate.envelope import Shapes, unwrap
from etl.translate.fields import FieldError, enum_code, parse_bool, parse_datetime, parse_id, parse_int, parse_money, parse_text
from etl.translate.rows import Rows, TranslateError

# Refund statuses (taobao.refund.get) and what each means for shipping the line.
REFUND_STATUSES = (
    "WAIT_SELLER_AGREE",  # the buyer asked; the seller has not answered
    "WAIT_BUYER_RETURN_GOODS",  # the seller agreed; the goods are to come back
    "WAIT_SELLER_CONFIRM_GOODS",  # the buyer sent them back
    "SELLER_REFUSE_BUYER",  # refused: the line may ship
    "CLOSED",  # withdrawn or closed: the line may ship
    "SUCCESS",  # refunded: the line must not ship
)

# Jushita's push keeps taobao.refund.get's envelope; the received-refunds list holds one each.
SHAPES = Shapes(
    what="refund",
    marker="refund_id",
    envelopes=(("refund_get_response", "refund"), ("refunds_receive_get_response", "refunds", "refund")),
    whole=("status", "tid", "oid"),
    fetch="taobao.refund.get's answer for its refund_id",
)


REFUND_COLUMNS = ("refund_id", "tid", "oid", "seller_nick", "buyer_nick", "status", "order_status", "good_status",
                  "has_good_return", "refund_phase", "refund_version", "refund_fee", "total_fee", "payment", "num",
                  "reason", "desc", "company_name", "sid", "created", "modified")


def _text(refund: Mapping[str, Any], name: str) -> str | None:
    return parse_text(refund.get(name), ("refund", name))


def translate_refund(document: Any) -> Rows:
    """The oms_refund row of one push, or `TranslateError` saying why it cannot be translated."""
    refund = unwrap(document, SHAPES)
    try:
        refund_id = parse_id(refund.get("refund_id"), ("refund", "refund_id"))
        if refund_id is None:
            raise TranslateError("the refund has no refund_id")
        tid = parse_id(refund.get("tid"), ("refund", "tid"))
        oid = parse_id(refund.get("oid"), ("refund", "oid"))
        if tid is None or oid is None:
            raise TranslateError("the refund names no tid or no oid: it cannot be tied to a line")
        row = {
            "refund_id": refund_id,
            "tid": tid,
            "oid": oid,
            "seller_nick": _text(refund, "seller_nick"),
            "buyer_nick": _text(refund, "buyer_nick"),
            "status": _text(refund, "status"),
            "order_status": _text(refund, "order_status"),
            "good_status": _text(refund, "good_status"),
            "has_good_return": parse_bool(refund.get("has_good_return"), ("refund", "has_good_return")),
            "refund_phase": _text(refund, "refund_phase"),
            # A version stamp in milliseconds (13 digits): a BIGINT, never an INT.
            "refund_version": parse_id(refund.get("refund_version"), ("refund", "refund_version")),
            "refund_fee": parse_money(refund.get("refund_fee"), ("refund", "refund_fee")),
            "total_fee": parse_money(refund.get("total_fee"), ("refund", "total_fee")),
            "payment": parse_money(refund.get("payment"), ("refund", "payment")),
            "num": parse_int(refund.get("num"), ("refund", "num")),
            "reason": _text(refund, "reason"),
            "desc": _text(refund, "desc"),
            "company_name": _text(refund, "company_name"),
            "sid": _text(refund, "sid"),
            "created": parse_datetime(refund.get("created"), ("refund", "created")),
            "modified": parse_datetime(refund.get("modified"), ("refund", "modified")),
        }
    except FieldError as error:
        raise TranslateError(str(error)) from None
    warnings = () if enum_code(row["status"]) in REFUND_STATUSES else (f"unknown refund status {row['status']!r}",)
    return Rows(key=refund_id, tables={"oms_refund": [row]}, warnings=warnings, sources={"oms_refund": [refund]})
