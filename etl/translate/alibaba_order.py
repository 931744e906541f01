"""Translate one 1688 order-detail document (shared/seeds/003) into oms_trade / oms_order rows.

Pure: a parsed document in, rows out. The OMS tables are the Taobao ones, with `platform`
saying where a row came from, and 1688's statuses mapped onto the same oms_status words.
Three things in this document differ from Taobao's and are easy to get wrong:
- ids: the numeric `id`, `tbId` and `subItemID` were printed through a double upstream and are
  already wrong (2106089115686783163 arrives as 2106089115686783200); only the string forms
  `idOfStr` and `subItemIDString` are exact, and `logisticsItems[].subItemIds` lists line ids as
  text too (a line without its string form is recovered from there, see `_line_ids`).
- money: `actualPaidFee` is in fen (9500 = 95.00 yuan); `price`, `itemAmount`, `totalAmount`,
  `shippingFee` and `sumProductPayment` are yuan.
- time: compact stamps with an offset (`20240402142658000+0800`), which become the naive
  Asia/Shanghai datetimes Taobao's pushes carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from etl.translate.envelope import Shapes, unwrap
from etl.translate.fields import (
    EXACT_IN_A_DOUBLE,
    FieldError,
    Path,
    parse_datetime,
    parse_id,
    parse_int,
    parse_money,
    parse_string_id,
    parse_text,
    where,
)
from etl.translate.oms import EMPTY_LINE, EMPTY_TRADE, UNKNOWN, Words, trade_rows
from etl.translate.rows import Rows, TranslateError

PLATFORM = "1688"
ORDER_STATUS = {
    "waitbuyerpay": "UNPAID",
    "waitsellersend": "TO_SHIP",
    "waitlogisticstakein": "SHIPPED",
    "waitbuyerreceive": "SHIPPED",
    "waitbuyersign": "SHIPPED",
    "signinsuccess": "SHIPPED",
    "confirm_goods": "FINISHED",
    "confirm_goods_but_not_fund": "FINISHED",
    "success": "FINISHED",
    "cancel": "CLOSED",
    "terminated": "CLOSED",
}
# The order-detail APIs (alibaba.trade.get.sellerView / buyerView) answer {"result": order,
# "success": "true"}; the order-list APIs {"result": [orders], "totalRecord": n}, one order a push.
SHAPES = Shapes(
    what="1688 order",
    marker="baseInfo",
    envelopes=(("result",),),
    whole=("productItems",),
    fetch="alibaba.trade.get.sellerView's answer for its order id",
)
_WORDS = Words(trade="1688 order", line_status="1688 status", line_id="subItemIDString", lines="productItems")
_FEN = Decimal(100)
_SHANGHAI = timezone(timedelta(hours=8))
# yyyyMMddHHmmss, then milliseconds, then the offset: 20240402142658000+0800
_COMPACT = re.compile(r"(\d{14})(\d{3})?([+-]\d{4})?")
# What this translator maps; the rest of the order goes to oms_trade.ext (see `_unmapped`).
_MAPPED_SECTIONS = frozenset({"baseInfo", "nativeLogistics", "productItems"})
_MAPPED_BASE = frozenset({
    "id", "idOfStr", "sellerLoginId", "buyerLoginId", "buyerOpenUid", "status", "tradeTypeCode", "createTime",
    "modifyTime", "payTime", "allDeliveredTime", "completeTime", "totalAmount", "sumProductPayment",
    "shippingFee", "remark", "sellerMemo",
})
_MAPPED_LOGISTICS = frozenset({
    "contactPerson", "mobile", "telephone", "province", "city", "area", "town", "address", "zip", "logisticsItems",
})


def map_status(status: str | None) -> str:
    return UNKNOWN if status is None else ORDER_STATUS.get(status.strip().lower(), UNKNOWN)


def parse_stamp(value: object, path: Path) -> datetime | None:
    """A 1688 time as the naive Asia/Shanghai datetime Taobao's pushes use."""
    if isinstance(value, str) and (match := _COMPACT.fullmatch(value.strip())):
        digits, millis, offset = match.groups()
        try:
            moment = datetime.strptime(digits, "%Y%m%d%H%M%S").replace(microsecond=int(millis or 0) * 1000)
        except ValueError:
            raise FieldError(f"{where(path, value)} is not a date and time") from None
        if offset is not None and offset != "+0800":
            sign = 1 if offset[0] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
            moment = moment.replace(tzinfo=zone).astimezone(_SHANGHAI).replace(tzinfo=None)
        # Pushes have one-second precision; so do the OMS's datetime columns.
        return moment.replace(microsecond=0)
    return parse_datetime(value, path)


def _exact_id(source: Mapping[str, Any], text_name: str, number_name: str, path: str) -> int | None:
    """An id from its string form; the number only where a double could not have changed it."""
    text = source.get(text_name)
    if text not in (None, ""):
        return parse_string_id(text, (path, text_name))
    number = source.get(number_name)
    if isinstance(number, int) and number >= EXACT_IN_A_DOUBLE:
        raise FieldError(
            f"{path}.{text_name} is missing and {path}.{number_name} = {number} lost precision upstream "
            "(1688 prints it through a double): the exact id is only in the string form"
        )
    return parse_id(number, (path, number_name))


def _recovered(number: object, shipments: dict[str, Mapping[str, Any]], named: set[str]) -> list[str]:
    """The ids `logisticsItems[].subItemIds` lists as text (exact) that print as `number` through a
    double, less those other lines name."""
    if not isinstance(number, (int, float)) or isinstance(number, bool):
        return []
    return [text for text, shipment in shipments.items()
            if text not in named and isinstance(shipment.get("subItemIds"), str) and text.isascii()
            and text.isdigit() and float(text) == float(number)]


def _line_ids(items: list[Mapping[str, Any]], shipments: dict[str, Mapping[str, Any]]) -> list[int | None]:
    """Each line's exact id: its subItemIDString, else its subItemID where a double holds it exactly,
    else the one id `logisticsItems[].subItemIds` lists that prints as its subItemID through a double
    and no other line names (1688's lines of one order often have ids a double cannot tell apart)."""
    ids: list[int | None] = []
    for seq, item in enumerate(items):
        try:
            ids.append(_exact_id(item, "subItemIDString", "subItemID", f"productItems[{seq}]"))
        except FieldError:
            if item.get("subItemIDString") not in (None, ""):
                raise
            ids.append(None)  # recovered below, once every exact id is known
    named = {str(oid) for oid in ids if oid is not None}
    for seq, item in enumerate(items):
        if ids[seq] is not None or item.get("subItemID") is None:
            continue
        number = item["subItemID"]
        candidates = _recovered(number, shipments, named)
        if len(candidates) != 1:
            listed = f"{len(candidates)} ({', '.join(candidates)})" if candidates else "none"
            raise FieldError(
                f"productItems[{seq}].subItemIDString is missing and productItems[{seq}].subItemID = {number} "
                f"lost precision upstream (1688 prints it through a double), and logisticsItems.subItemIds "
                f"lists {listed} of the ids it could be: the exact id is only in a string form"
            )
        ids[seq] = parse_id(candidates[0], ("logisticsItems", "subItemIds"))
        named.add(candidates[0])
    return ids


def _fen(value: object, path: Path) -> Decimal | None:
    amount = parse_money(value, path, places=0)
    return None if amount is None else amount / _FEN


def _text(source: Mapping[str, Any], name: str, path: str) -> str | None:
    return parse_text(source.get(name), (path, name))


def _objects(container: Mapping[str, Any], name: str, path: str) -> list[Mapping[str, Any]]:
    items = container.get(name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise FieldError(f"{path}.{name} is not a list of objects")
    return items


def _shipments(logistics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each line's shipment: logisticsItems name the lines they carry in `subItemIds` (comma-separated)."""
    by_line: dict[str, Mapping[str, Any]] = {}
    for item in _objects(logistics, "logisticsItems", "nativeLogistics"):
        for line in str(item.get("subItemIds") or "").split(","):
            if line.strip():
                by_line.setdefault(line.strip(), item)
    return by_line


def _sku_text(item: Mapping[str, Any], path: str) -> str | None:
    """skuInfos as Taobao writes sku_properties_name: 颜色:红色;尺码:M."""
    pairs = [f"{_text(info, 'name', path) or ''}:{_text(info, 'value', path) or ''}"
             for info in _objects(item, "skuInfos", path)]
    return ";".join(pairs) or None


def _line(item: Mapping[str, Any], oid: int | None, tid: int, seq: int,
          shipments: dict[str, Mapping[str, Any]]) -> dict[str, Any]:
    p = f"productItems[{seq}]"
    if oid is None:
        raise FieldError(f"{p} has no subItemIDString")
    status = _text(item, "status", p)
    price = parse_money(item.get("price"), (p, "price"))
    num = parse_int(item.get("quantity"), (p, "quantity"))
    shipment = shipments.get(str(oid), {})
    return {
        **EMPTY_LINE,
        "oid": oid,
        "tid": tid,
        "seq": seq,
        "platform": PLATFORM,
        "num_iid": parse_id(item.get("productID"), (p, "productID")),
        "sku_id": parse_id(item.get("skuID"), (p, "skuID")),
        "outer_iid": _text(item, "productCargoNumber", p),
        "outer_sku_id": _text(item, "cargoNumber", p),
        "title": _text(item, "name", p),
        "sku_properties_name": _sku_text(item, p),
        "price": price,
        "num": num,
        "total_fee": None if price is None or num is None else price * num,
        "payment": _fen(item.get("actualPaidFee"), (p, "actualPaidFee")),
        "discount_fee": parse_money(item.get("itemDiscountFee"), (p, "itemDiscountFee")),
        "divide_order_fee": parse_money(item.get("itemAmount"), (p, "itemAmount")),
        "status": status,
        "oms_status": map_status(status),
        "refund_status": _text(item, "refundStatus", p),
        "logistics_company": _text(shipment, "logisticsCompanyName", "logisticsItems"),
        "invoice_no": _text(shipment, "logisticsBillNo", "logisticsItems"),
        "consign_time": parse_stamp(shipment.get("deliveredTime"), ("logisticsItems", "deliveredTime")),
    }


def _trade(base: Mapping[str, Any], logistics: Mapping[str, Any], tid: int, lines: list[dict]) -> dict[str, Any]:
    p = "baseInfo"
    status = _text(base, "status", p)
    consigned = [line["consign_time"] for line in lines if line["consign_time"] is not None]
    return {
        **EMPTY_TRADE,
        "tid": tid,
        "platform": PLATFORM,
        "seller_nick": _text(base, "sellerLoginId", p),
        "buyer_nick": _text(base, "buyerLoginId", p),
        "buyer_open_uid": _text(base, "buyerOpenUid", p),
        "status": status,
        "oms_status": map_status(status),
        "type": _text(base, "tradeTypeCode", p),
        "created": parse_stamp(base.get("createTime"), (p, "createTime")),
        "modified": parse_stamp(base.get("modifyTime"), (p, "modifyTime")),
        "pay_time": parse_stamp(base.get("payTime"), (p, "payTime")),
        "consign_time": parse_stamp(base.get("allDeliveredTime"), (p, "allDeliveredTime"))
        or (min(consigned) if consigned else None),
        "end_time": parse_stamp(base.get("completeTime"), (p, "completeTime")),
        "payment": parse_money(base.get("totalAmount"), (p, "totalAmount")),
        "total_fee": parse_money(base.get("sumProductPayment"), (p, "sumProductPayment")),
        "post_fee": parse_money(base.get("shippingFee"), (p, "shippingFee")),
        "num": sum(line["num"] or 0 for line in lines),
        "receiver_name": _text(logistics, "contactPerson", "nativeLogistics"),
        "receiver_mobile": _text(logistics, "mobile", "nativeLogistics"),
        "receiver_phone": _text(logistics, "telephone", "nativeLogistics"),
        "receiver_state": _text(logistics, "province", "nativeLogistics"),
        "receiver_city": _text(logistics, "city", "nativeLogistics"),
        "receiver_district": _text(logistics, "area", "nativeLogistics"),
        "receiver_town": _text(logistics, "town", "nativeLogistics"),
        "receiver_address": _text(logistics, "address", "nativeLogistics"),
        "receiver_zip": _text(logistics, "zip", "nativeLogistics"),
        "buyer_message": _text(base, "remark", p),
        "seller_memo": _text(base, "sellerMemo", p),
    }


def _unmapped(order: Mapping[str, Any], base: Mapping[str, Any], logistics: Mapping[str, Any]) -> dict[str, Any]:
    """The order's fields no column holds: whole sections, and the rest of baseInfo and nativeLogistics."""
    ext = {name: value for name, value in order.items() if name not in _MAPPED_SECTIONS}
    for name, section, mapped in (("baseInfo", base, _MAPPED_BASE), ("nativeLogistics", logistics, _MAPPED_LOGISTICS)):
        rest = {key: value for key, value in section.items() if key not in mapped}
        if rest:
            ext[name] = rest
    return ext


def translate_alibaba_order(document: Any) -> Rows:
    """The rows of one 1688 order, or `TranslateError` saying why it cannot be translated."""
    order = unwrap(document, SHAPES)
    base = order.get("baseInfo")
    if not isinstance(base, Mapping) or not base:
        raise TranslateError("the 1688 order has no baseInfo object")
    logistics = order.get("nativeLogistics") or {}
    try:
        if not isinstance(logistics, Mapping):
            raise FieldError("nativeLogistics is not an object")
        tid = _exact_id(base, "idOfStr", "id", "baseInfo")
        if tid is None:
            raise TranslateError("the 1688 order has no baseInfo.idOfStr")
        items = _objects(order, "productItems", "order")
        if not items:
            raise TranslateError("the 1688 order has no productItems (lines)")
        shipments = _shipments(logistics)
        oids = _line_ids(items, shipments)
        lines = [_line(item, oid, tid, seq, shipments) for seq, (item, oid) in enumerate(zip(items, oids))]
        row = _trade(base, logistics, tid, lines)
        row["ext"] = _unmapped(order, base, logistics)
    except FieldError as error:
        raise TranslateError(str(error)) from None
    return trade_rows(_WORDS, row, lines, [], sources={"oms_trade": [order], "oms_order": items, "oms_promotion": []})
