"""The other kinds' translators (refunds, 1688 orders) and the wrappers every translator takes off."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from etl.translate import TranslateError, translate_alibaba_order, translate_refund, translate_trade
from etl.translate.alibaba_order import parse_stamp

SEED_003 = orjson.loads((Path(__file__).parent / "fixtures" / "alibaba_order_seed_003.json").read_bytes())
TID = 4012345678901234567
OID = 4012345678902234567
REFUND_ID = 4012345678909234567


def bare_trade(**changes: object) -> dict:
    line = {"oid": OID, "oid_str": str(OID), "status": "WAIT_SELLER_SEND_GOODS", "payment": "95.00"}
    return {"tid": TID, "tid_str": str(TID), "status": "WAIT_SELLER_SEND_GOODS", "modified": "2024-11-11 00:01:00",
            "orders": {"order": [line]}, **changes}


# --- envelopes --------------------------------------------------------------------------------------

ENVELOPES = {
    "fullinfo": {"trade_fullinfo_get_response": {"trade": bare_trade()}},
    "open-trade": {"open_trade_get_response": {"trade": bare_trade()}},
    "gateway": {"code": 0, "message": "ok", "data": bare_trade()},
    "gateway-string-code-and-list": {"code": "0", "data": [{"trade_fullinfo_get_response": {"trade": bare_trade()}}]},
    "bare": bare_trade(),
}


@pytest.mark.parametrize("document", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_a_trade_translates_the_same_in_every_envelope(document):
    rows = translate_trade(document)
    assert rows.key == TID
    assert [line["oid"] for line in rows.tables["oms_order"]] == [OID]


@pytest.mark.parametrize(
    "document, reason",
    [
        ({"code": 40001, "message": "订单不存在", "data": None}, "gateway error (code 40001: 订单不存在)"),
        ({"code": 7, "msg": "invalid sign"}, "gateway error (code 7: invalid sign)"),
        ({"code": 0, "data": []}, "lists 0 documents"),
        ({"code": 0, "data": "x"}, "gateway's data is a JSON str"),
        ({"open_trade_get_response": {}}, "no open_trade_get_response.trade object"),
    ],
    ids=["gateway-error", "gateway-error-msg", "gateway-empty-list", "gateway-text", "open-trade-empty"],
)
def test_a_wrapper_without_a_trade_is_rejected_with_its_reason(document, reason):
    with pytest.raises(TranslateError) as caught:
        translate_trade(document)
    assert reason in str(caught.value)


# --- refunds ----------------------------------------------------------------------------------------


def refund(**changes: object) -> dict:
    body = {
        "refund_id": str(REFUND_ID), "tid": TID, "oid": OID, "seller_nick": "麦包包", "buyer_nick": "碎**",
        "status": "WAIT_SELLER_AGREE", "order_status": "WAIT_SELLER_SEND_GOODS", "good_status": "BUYER_NOT_RECEIVED",
        "has_good_return": False, "refund_phase": "onsale", "refund_version": 1731254400123,
        "refund_fee": "95.00", "total_fee": "100.00", "payment": "95.00", "num": 1, "reason": "七天无理由退换货",
        "desc": "颜色不喜欢😅", "created": "2024-11-11 00:10:00", "modified": "2024-11-11 00:10:05",
    }
    return {"refund_get_response": {"refund": {**body, **changes}}}


def test_a_refund_becomes_one_oms_refund_row_with_exact_ids_and_money():
    rows = translate_refund(refund())
    assert rows.key == REFUND_ID
    assert rows.warnings == ()
    (row,) = rows.tables["oms_refund"]
    assert row == {
        "refund_id": REFUND_ID, "tid": TID, "oid": OID, "seller_nick": "麦包包", "buyer_nick": "碎**",
        "status": "WAIT_SELLER_AGREE", "order_status": "WAIT_SELLER_SEND_GOODS", "good_status": "BUYER_NOT_RECEIVED",
        "has_good_return": False, "refund_phase": "onsale", "refund_version": 1731254400123,
        "refund_fee": Decimal("95.00"), "total_fee": Decimal("100.00"), "payment": Decimal("95.00"), "num": 1,
        "reason": "七天无理由退换货", "desc": "颜色不喜欢😅", "company_name": None, "sid": None,
        "created": datetime(2024, 11, 11, 0, 10, 0), "modified": datetime(2024, 11, 11, 0, 10, 5),
    }


def test_a_refund_in_a_gateway_wrapper_or_bare_translates_too():
    body = refund()["refund_get_response"]["refund"]
    assert translate_refund({"code": 0, "data": body}).key == REFUND_ID
    assert translate_refund(body).key == REFUND_ID


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"refund_id": None}, "has no refund_id"),
        ({"oid": None}, "no tid or no oid"),
        ({"refund_fee": "abc"}, "refund.refund_fee = 'abc' is not an amount"),
        ({"has_good_return": "maybe"}, "refund.has_good_return = 'maybe' is not true or false"),
        ({"refund_version": 1.7e12}, "refund.refund_version"),
    ],
    ids=["no-refund-id", "no-oid", "bad-money", "bad-flag", "float-version"],
)
def test_an_untranslatable_refund_is_rejected_with_a_useful_reason(changes, reason):
    with pytest.raises(TranslateError) as caught:
        translate_refund(refund(**changes))
    assert reason in str(caught.value)


def test_an_unknown_refund_status_translates_with_a_warning():
    assert translate_refund(refund(status="SOMETHING_NEW")).warnings == ("unknown refund status 'SOMETHING_NEW'",)
    assert translate_refund(refund(status="SUCCESS(退款成功)")).warnings == ()


# --- 1688 orders ------------------------------------------------------------------------------------


def test_the_seed_1688_order_translates_with_exact_ids_units_and_times():
    rows = translate_alibaba_order(SEED_003)
    # The numeric id in the document says ...200: only idOfStr is exact.
    assert rows.key == 2106089115686783163
    assert rows.warnings == ()
    (trade,) = rows.tables["oms_trade"]
    assert {name: trade[name] for name in (
        "tid", "platform", "seller_nick", "buyer_nick", "buyer_open_uid", "status", "oms_status", "created",
        "modified", "pay_time", "payment", "total_fee", "post_fee", "num", "receiver_name", "receiver_mobile",
        "receiver_state", "receiver_city", "receiver_district", "receiver_town", "receiver_address", "receiver_zip",
        "consign_time",
    )} == {
        "tid": 2106089115686783163, "platform": "1688", "seller_nick": "a*", "buyer_nick": "a*",
        "buyer_open_uid": "BBBZfbE50xmrK6qjMJAk_y-iQ", "status": "confirm_goods_but_not_fund",
        "oms_status": "FINISHED", "created": datetime(2024, 4, 2, 14, 26, 58),
        "modified": datetime(2024, 5, 2, 14, 36, 28), "pay_time": datetime(2024, 4, 2, 14, 27, 20),
        "payment": Decimal("95"), "total_fee": Decimal("100"), "post_fee": Decimal("0"), "num": 1,
        "receiver_name": "林*", "receiver_mobile": "189****2201", "receiver_state": "江苏省",
        "receiver_city": "泰州市", "receiver_district": "海陵区", "receiver_town": "凤凰街道",
        "receiver_address": "茉莉公馆北大门西侧门面房开心de宠物店", "receiver_zip": "000000",
        "consign_time": datetime(2024, 4, 2, 14, 36, 27),
    }
    (line,) = rows.tables["oms_order"]
    assert {name: line[name] for name in (
        "oid", "tid", "platform", "num_iid", "sku_id", "outer_iid", "title", "sku_properties_name", "price", "num",
        "total_fee", "payment", "discount_fee", "divide_order_fee", "status", "oms_status", "logistics_company",
        "invoice_no", "consign_time",
    )} == {
        "oid": 2106089115686783163, "tid": 2106089115686783163, "platform": "1688", "num_iid": 773725426947,
        "sku_id": 5130569068392, "outer_iid": "AL679744441897",
        "title": "1MADE EXTREME 春季基础系列户外防风登山夹克外套冲锋衣 男女同",
        "sku_properties_name": "颜色:220263-1-卡其色(无标加内衬);尺码:L", "price": Decimal("100"), "num": 1,
        "total_fee": Decimal("100"),
        # actualPaidFee is fen: 9500 -> 95.00 yuan; itemAmount is already yuan.
        "payment": Decimal("95.00"), "discount_fee": Decimal("5"), "divide_order_fee": Decimal("95"),
        "status": "confirm_goods_but_not_fund", "oms_status": "FINISHED", "logistics_company": "万家物流",
        "invoice_no": "36100004000863", "consign_time": datetime(2024, 4, 2, 14, 36, 27),
    }
    assert rows.tables["oms_promotion"] == []


def test_the_seed_1688_order_keeps_what_no_column_maps_in_ext():
    order = SEED_003["data"][0]
    ext = translate_alibaba_order(SEED_003).tables["oms_trade"][0]["ext"]
    assert set(ext) == {"extAttributes", "orderRateInfo", "baseInfo", "nativeLogistics"}
    assert ext["orderRateInfo"] == order["orderRateInfo"] and ext["extAttributes"] == order["extAttributes"]
    assert ext["nativeLogistics"] == {"caid": order["nativeLogistics"]["caid"], "areaCode": "321202",
                                      "townCode": "321202051"}
    # Mapped fields are not repeated; the rest of baseInfo is kept as pushed (the lossy numeric id is mapped).
    assert {"idOfStr", "id", "status", "totalAmount", "payTime"}.isdisjoint(ext["baseInfo"])
    assert ext["baseInfo"]["buyerContact"] == order["baseInfo"]["buyerContact"]
    assert ext["baseInfo"]["couponFee"] == "0"


def test_a_bare_1688_order_translates_like_the_wrapped_one():
    assert translate_alibaba_order(SEED_003["data"][0]) == translate_alibaba_order(SEED_003)


@pytest.mark.parametrize(
    "status, expected",
    [("waitbuyerpay", "UNPAID"), ("waitsellersend", "TO_SHIP"), ("waitlogisticstakein", "SHIPPED"),
     ("waitbuyerreceive", "SHIPPED"), ("waitbuyersign", "SHIPPED"), ("signinsuccess", "SHIPPED"),
     ("confirm_goods", "FINISHED"), ("confirm_goods_but_not_fund", "FINISHED"), ("success", "FINISHED"),
     ("cancel", "CLOSED"), ("terminated", "CLOSED"), ("something_new", "UNKNOWN")],
)
def test_1688_statuses_map_onto_the_oms_vocabulary(status, expected):
    document = orjson.loads(orjson.dumps(SEED_003))
    document["data"][0]["baseInfo"]["status"] = status
    document["data"][0]["productItems"][0]["status"] = status
    rows = translate_alibaba_order(document)
    assert rows.tables["oms_trade"][0]["oms_status"] == expected
    assert rows.tables["oms_order"][0]["oms_status"] == expected
    assert bool(rows.warnings) == (expected == "UNKNOWN")


def _seed_without(*path: str) -> dict:
    document = orjson.loads(orjson.dumps(SEED_003))
    container = document["data"][0]
    for name in path[:-1]:
        container = container[name]
    del container[path[-1]]
    return document


@pytest.mark.parametrize(
    "document, reason",
    [
        (_seed_without("baseInfo", "idOfStr"), "lost precision upstream"),
        (_seed_without("productItems"), "no productItems"),
        (_seed_without("baseInfo"), "not a 1688 order"),
        ({"code": 1, "message": "订单不存在"}, "gateway error (code 1: 订单不存在)"),
    ],
    ids=["no-idOfStr", "no-lines", "no-baseInfo", "gateway-error"],
)
def test_an_untranslatable_1688_order_is_rejected_with_a_useful_reason(document, reason):
    with pytest.raises(TranslateError) as caught:
        translate_alibaba_order(document)
    assert reason in str(caught.value)


def test_a_line_without_its_string_id_is_rejected_not_rounded():
    document = orjson.loads(orjson.dumps(SEED_003))
    del document["data"][0]["productItems"][0]["subItemIDString"]
    with pytest.raises(TranslateError, match="productItems.0..subItemIDString is missing"):
        translate_alibaba_order(document)


@pytest.mark.parametrize(
    "stamp, expected",
    [
        ("20240402142658000+0800", datetime(2024, 4, 2, 14, 26, 58)),
        ("20240402062658000+0000", datetime(2024, 4, 2, 14, 26, 58)),
        ("20240402142658", datetime(2024, 4, 2, 14, 26, 58)),
        ("2024-04-02 14:26:58", datetime(2024, 4, 2, 14, 26, 58)),
        ("", None),
    ],
)
def test_1688_times_become_naive_shanghai_datetimes(stamp, expected):
    assert parse_stamp(stamp, ("baseInfo", "createTime")) == expected
