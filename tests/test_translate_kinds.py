"""The other kinds' translators (refunds, 1688 orders) and the wrappers every translator takes off."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from etl.translate import TranslateError, translate_alibaba_order, translate_refund, translate_trade
from etl.translate.alibaba_order import parse_stamp
from etl.translate.oms import LINE_COLUMNS, TRADE_COLUMNS

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


def test_a_line_without_its_string_id_takes_the_exact_one_logistics_items_list():
    document = orjson.loads(orjson.dumps(SEED_003))
    del document["data"][0]["productItems"][0]["subItemIDString"]
    # subItemID says ...200 (through a double); logisticsItems[0].subItemIds lists "...163" as text.
    assert translate_alibaba_order(document).tables == translate_alibaba_order(SEED_003).tables


def test_a_line_without_its_string_id_or_a_listed_one_is_rejected_not_rounded():
    document = orjson.loads(orjson.dumps(SEED_003))
    del document["data"][0]["productItems"][0]["subItemIDString"]
    document["data"][0]["nativeLogistics"]["logisticsItems"][0]["subItemIds"] = "2106089115686999999"
    with pytest.raises(TranslateError, match=r"productItems.0..subItemIDString is missing .* lists none"):
        translate_alibaba_order(document)


def test_a_line_id_listed_only_as_a_number_is_not_recovered():
    document = orjson.loads(orjson.dumps(SEED_003))
    del document["data"][0]["productItems"][0]["subItemIDString"]
    document["data"][0]["nativeLogistics"]["logisticsItems"][0]["subItemIds"] = 2106089115686783200
    with pytest.raises(TranslateError, match="lists none"):
        translate_alibaba_order(document)


# --- real-world shapes: nulls, 1688's own answers, string forms sent as numbers ------------------------


def _seed_order() -> dict:
    return orjson.loads(orjson.dumps(SEED_003["data"][0]))


@pytest.mark.parametrize(
    "document",
    [
        {"trade_fullinfo_get_response": {"trade": bare_trade()}, "error_response": None},
        {"trade_fullinfo_get_response": {"trade": bare_trade(), "request_id": "x1"}, "error_response": {}},
        {"trade_fullinfo_get_response": {"trade": bare_trade()}, "error_response": {"request_id": "x1"}},
        {"open_trade_get_response": None, "trade_fullinfo_get_response": {"trade": bare_trade()}},
        {"trade_fullinfo_get_response": {}, "open_trade_get_response": {"trade": bare_trade()}},
        {"code": None, "data": {"trade_fullinfo_get_response": {"trade": bare_trade()}}},
        {"code": "0", "msg": None, "data": [bare_trade()], "errorCode": "", "success": True},
        {"trades_sold_get_response": {"trades": {"trade": [bare_trade()]}, "total_results": 1}},
        {"trades_sold_increment_get_response": {"trades": {"trade": [bare_trade()]}, "has_next": False}},
        {"trade_get_response": {"trade": bare_trade()}},
        orjson.dumps({"trade_fullinfo_get_response": {"trade": bare_trade()}}).decode(),
        {"topic": "taobao_trade_TradeSuccess", "content": orjson.dumps(bare_trade()).decode()},
        {"topic": "taobao_trade_TradeSuccess", "content": {"trade_fullinfo_get_response": {"trade": bare_trade()}}},
    ],
    ids=["error-null", "error-empty", "error-without-code", "envelope-null", "envelope-empty-then-another",
         "gateway-code-null", "gateway-with-nulls", "trades-sold-get", "trades-sold-increment-get", "trade-get",
         "json-encoded-twice", "tmc-content-string", "tmc-content-object"],
)
def test_null_or_empty_members_count_as_absent_and_every_whole_wrapper_is_taken_off(document):
    assert translate_trade(document) == translate_trade(bare_trade())


@pytest.mark.parametrize(
    "document, reason",
    [
        ({"error_response": {"code": 15, "msg": None, "sub_msg": "订单不存在"}}, "TOP error response (code=15 sub_msg=订单不存在)"),
        ({"error_code": "gw.QosAppFrequencyLimit", "error_message": "App call limited", "request_id": "x"},
         "error answer (code gw.QosAppFrequencyLimit: App call limited), not a trade"),
        ({"success": "false", "data": bare_trade()}, "error answer (code none: no message)"),
        ({"topic": "taobao_trade_TradeCreate", "content": '{"tid":"1","status":"TRADE_CREATE"}'},
         "TMC message's content (taobao_trade_TradeCreate) has only the event's fields, not a whole trade (no orders)"),
        ({"topic": "taobao_trade_TradeCreate", "content": "not json"}, "content (taobao_trade_TradeCreate) is a JSON str"),
        ({"trades_sold_get_response": {"trades": {"trade": [bare_trade(), bare_trade()]}}},
         "trades_sold_get_response.trades.trade lists 2 documents; a push carries one trade"),
        ('"just text"', "the push is a JSON str, not an object"),
    ],
    ids=["top-error-partly-null", "open-gateway-error", "success-false", "tmc-event-only", "tmc-not-json",
         "two-trades", "string-of-a-string"],
)
def test_an_error_or_a_partial_wrapper_is_refused_saying_which(document, reason):
    with pytest.raises(TranslateError) as caught:
        translate_trade(document)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "translate, accepted",
    [
        (translate_trade, "expected trade_fullinfo_get_response.trade, open_trade_get_response.trade, "
                          "trade_get_response.trade, trades_sold_get_response.trades.trade, "
                          "trades_sold_increment_get_response.trades.trade, a gateway's {code, data}, "
                          "a TMC message's content, a JSON string of one of these, or a bare trade with tid"),
        (translate_refund, "expected refund_get_response.refund, refunds_receive_get_response.refunds.refund, "
                           "a gateway's {code, data}, a TMC message's content, a JSON string of one of these, "
                           "or a bare refund with refund_id"),
        (translate_alibaba_order, "expected result, a gateway's {code, data}, a TMC message's content, "
                                  "a JSON string of one of these, or a bare 1688 order with baseInfo"),
    ],
    ids=["tb_trade", "tb_refund", "alibaba_order"],
)
def test_every_not_a_reason_names_the_shapes_its_kind_accepts(translate, accepted):
    for document in ({"item_get_response": {"item": {}}}, {"trade_fullinfo_get_response": {}}, {}):
        with pytest.raises(TranslateError) as caught:
            translate(document)
        assert accepted in str(caught.value)


def test_1688_detail_and_list_answers_translate_like_the_bare_order():
    bare = translate_alibaba_order(_seed_order())
    assert translate_alibaba_order({"result": _seed_order(), "success": "true", "errorCode": None,
                                    "errorMessage": None}) == bare
    assert translate_alibaba_order({"result": [_seed_order()], "totalRecord": 1}) == bare
    assert translate_alibaba_order({"success": True, "result": _seed_order(), "errorCode": ""}) == bare


@pytest.mark.parametrize(
    "document, reason",
    [
        ({"result": None, "success": "false", "errorCode": "400_2", "errorMessage": "订单不存在"},
         "the push is an error answer (code 400_2: 订单不存在), not a 1688 order"),
        ({"result": [], "totalRecord": 0}, "the push's result lists 0 documents; a push carries one 1688 order"),
        ({"result": [_seed_order(), _seed_order()], "totalRecord": 2}, "result lists 2 documents"),
        ({"result": {}, "success": "true"}, "the push has no result object: expected result"),
    ],
    ids=["error", "empty-list", "two-orders", "empty-result"],
)
def test_a_1688_answer_without_one_order_is_refused_saying_why(document, reason):
    with pytest.raises(TranslateError) as caught:
        translate_alibaba_order(document)
    assert reason in str(caught.value)


BIG = 58218860985545941  # above 2**53: through a double it reads 58218860985545944
SMALL = 2**53 - 1


@pytest.mark.parametrize(
    "translate, document, field",
    [
        (translate_trade, bare_trade(tid_str=BIG + 3), "trade.tid_str = 58218860985545944"),
        (translate_trade, bare_trade(orders={"order": [{"oid": OID, "oid_str": float(OID)}]}),
         "trade.orders.order[0].oid_str = 4.0123456789022346e+18"),
        (translate_alibaba_order, {**_seed_order(), "baseInfo": {**_seed_order()["baseInfo"], "idOfStr": BIG}},
         "baseInfo.idOfStr = 58218860985545941"),
        (translate_alibaba_order,
         {**_seed_order(), "productItems": [{**_seed_order()["productItems"][0], "subItemIDString": BIG + 3}]},
         "productItems[0].subItemIDString = 58218860985545944"),
    ],
    ids=["tid_str", "oid_str-float", "idOfStr", "subItemIDString"],
)
def test_a_string_form_id_sent_as_a_large_number_is_refused_naming_the_field(translate, document, field):
    with pytest.raises(TranslateError) as caught:
        translate(document)
    assert field in str(caught.value)
    assert "lost precision" in str(caught.value) or "floating-point" in str(caught.value)


def test_a_string_form_id_sent_as_a_number_a_double_holds_is_trusted():
    assert translate_trade(bare_trade(tid=SMALL, tid_str=SMALL)).key == SMALL
    order = _seed_order()
    order["baseInfo"]["idOfStr"] = SMALL
    assert translate_alibaba_order(order).key == SMALL


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


# --- one shape for both trade kinds -----------------------------------------------------------------


@pytest.mark.parametrize("rows", [translate_trade(bare_trade()), translate_alibaba_order(SEED_003)],
                         ids=["tb_trade", "alibaba_order"])
def test_both_trade_kinds_write_the_same_columns_in_the_same_order(rows):
    assert [tuple(row) for row in rows.tables["oms_trade"]] == [TRADE_COLUMNS]
    assert {tuple(row) for row in rows.tables["oms_order"]} == {LINE_COLUMNS}


# --- what each kind says its translator writes ---------------------------------------------------------


def test_each_kind_names_exactly_the_columns_its_translator_writes():
    # A job's own columns are checked against these when its config is parsed: they must be the rows' own.
    from etl.translate import KINDS

    documents = {"tb_trade": ENVELOPES["fullinfo"],
                 "tb_refund": {"refund_get_response": {"refund": {"refund_id": str(REFUND_ID), "tid": TID, "oid": OID}}},
                 "alibaba_order": SEED_003}
    for name, document in documents.items():
        kind = KINDS[name]
        rows = kind.translate(document)
        for table, made in rows.tables.items():
            assert table in kind.columns, (name, table)
            for row in made:
                assert tuple(row) == kind.columns[table], (name, table)


@pytest.mark.parametrize("key, expected", [(5, 5), ("42", 42), ("0042", 42), (" 42 ", 42), ("4x2", None), ("0", None),
                                           (str(2**63), None), ("", None)],
                         ids=["int", "digits", "leading-zeros", "blanks", "letters", "zero", "over-bigint", "empty"])
def test_a_source_key_is_an_id_by_the_rule_of_a_documents_ids(key, expected):
    from etl.translate.push import target_key

    assert target_key(key) == expected
