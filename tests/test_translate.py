"""translate_trade on realistic taobao.trade.fullinfo.get documents (shaped after shared/seeds/000 and 001)."""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.translate import Rows, TranslateError, translate_trade
from etl.translate.tb_trade import MAPPED_FIELDS, SHAPES, TRADE_STATUS

# 19-digit ids, all above 2**53: a float would round every one of them.
TID = 4012345678901234567
OID_1 = 4012345678902234567
OID_2 = 4012345678903234567
for _id in (TID, OID_1, OID_2):
    assert _id > 2**53 and int(float(_id)) != _id

DROP = object()  # a change that removes the key


def _apply(target: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = value
    return target


def order_line(oid: int, /, **changes: object) -> dict:
    """One `orders.order[]` element with the id as a number and as oid_str, as TOP sends it."""
    line = {
        "oid": oid,
        "oid_str": str(oid),
        "num_iid": 652158896123,
        "sku_id": "4876512398765",
        "outer_iid": "SKU-TEE",
        "outer_sku_id": "SKU-TEE-M-RED",
        "title": "纯棉短袖T恤",
        "sku_properties_name": "颜色:红色;尺码:M",
        "price": "100.00",
        "num": 1,
        "total_fee": "100.00",
        "payment": "95.00",
        "discount_fee": "5.00",
        "adjust_fee": "0.00",
        "divide_order_fee": "95.00",
        "part_mjz_discount": "5.00",
        "status": "WAIT_SELLER_SEND_GOODS",
        "refund_status": "NO_REFUND",
    }
    return _apply(line, changes)


def trade_document(*lines: dict, **changes: object) -> dict:
    """A valid push: two lines and one promotion unless told otherwise; `changes` edit the trade object."""
    if not lines:
        lines = (order_line(OID_1), order_line(OID_2, outer_iid="SKU-CAP", title="棒球帽"))
    trade = {
        "tid": TID,
        "tid_str": str(TID),
        "seller_nick": "麦包包",
        "buyer_nick": "碎**",
        "buyer_open_uid": "AAGq5d-EAAeG3JedwSFpZMe1",
        "status": "WAIT_SELLER_SEND_GOODS",
        "type": "fixed",
        "created": "2024-11-11 00:00:05",
        "modified": "2024-11-11 00:01:00",
        "pay_time": "2024-11-11 00:00:30",
        "payment": "190.00",
        "total_fee": "200.00",
        "post_fee": "0.00",
        "discount_fee": "10.00",
        "adjust_fee": "0.00",
        "received_payment": "0.00",
        "num": 2,
        "receiver_name": "**东方",
        "receiver_mobile": "****1826",
        "receiver_country": "中国",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "***淘宝城911号",
        "receiver_zip": "310000",
        "buyer_message": "要送的礼物的,不要忘记的哦",
        "seller_flag": 1,
        "shipping_type": "express",
        "trade_from": "WAP,JHS",
        "orders": {"order": list(lines)},
        "promotion_details": {
            "promotion_detail": [
                {"id": TID, "promotion_id": "mjs-123024_211143", "promotion_name": "满就减钱", "discount_fee": "10.00"}
            ]
        },
    }
    return {"trade_fullinfo_get_response": {"trade": _apply(trade, changes)}}


def trade_row(rows: Rows) -> dict:
    [row] = rows.tables["oms_trade"]
    return row


def lines_of(rows: Rows) -> list[dict]:
    return rows.tables["oms_order"]


# --- the valid document -----------------------------------------------------------------------------


def test_a_valid_document_gives_one_trade_two_lines_one_promotion_and_no_warning():
    rows = translate_trade(trade_document())
    assert rows.key == TID
    assert {name: len(table) for name, table in rows.tables.items()} == {
        "oms_trade": 1,
        "oms_order": 2,
        "oms_promotion": 1,
    }
    assert rows.warnings == ()


def test_lines_keep_their_order_and_point_at_the_trade():
    rows = translate_trade(trade_document())
    assert [(line["seq"], line["oid"], line["tid"]) for line in lines_of(rows)] == [(0, OID_1, TID), (1, OID_2, TID)]


# --- exact ids --------------------------------------------------------------------------------------


def test_tid_and_oids_are_exact():
    rows = translate_trade(trade_document())
    assert trade_row(rows)["tid"] == TID
    assert [line["oid"] for line in lines_of(rows)] == [OID_1, OID_2]


def test_tid_str_wins_over_a_float_tid_that_lost_precision():
    rows = translate_trade(trade_document(tid=float(TID)))
    assert rows.key == TID
    assert trade_row(rows)["tid"] == TID


def test_tid_str_wins_over_a_different_number():
    rows = translate_trade(trade_document(tid=TID - 1))
    assert trade_row(rows)["tid"] == TID


def test_a_big_int_tid_without_tid_str_is_exact():
    rows = translate_trade(trade_document(tid_str=DROP))
    assert rows.key == TID
    assert trade_row(rows)["tid"] == TID


def test_an_empty_tid_str_falls_back_to_the_number():
    assert translate_trade(trade_document(tid_str="")).key == TID


def test_oid_str_wins_over_a_float_oid():
    rows = translate_trade(trade_document(order_line(OID_1, oid=float(OID_1))))
    assert lines_of(rows)[0]["oid"] == OID_1


def test_a_big_int_oid_without_oid_str_is_exact():
    rows = translate_trade(trade_document(order_line(OID_1, oid_str=DROP), order_line(OID_2, oid_str=DROP)))
    assert [line["oid"] for line in lines_of(rows)] == [OID_1, OID_2]


def test_a_single_line_trade_may_have_oid_equal_to_tid():
    rows = translate_trade(trade_document(order_line(TID)))
    assert trade_row(rows)["tid"] == TID
    assert [(line["oid"], line["tid"]) for line in lines_of(rows)] == [(TID, TID)]


def test_item_and_sku_ids_are_exact_integers():
    line = lines_of(translate_trade(trade_document()))[0]
    assert (line["num_iid"], line["sku_id"]) == (652158896123, 4876512398765)


# --- money and datetimes ----------------------------------------------------------------------------


def test_money_is_exact_decimal():
    row = trade_row(translate_trade(trade_document(payment="200.07", post_fee=12.07, total_fee=200)))
    assert (row["payment"], row["post_fee"], row["total_fee"]) == (Decimal("200.07"), Decimal("12.07"), Decimal(200))
    assert all(type(row[name]) is Decimal for name in ("payment", "post_fee", "total_fee"))
    assert str(row["post_fee"]) == "12.07"


def test_line_money_is_exact_decimal():
    line = lines_of(translate_trade(trade_document(order_line(OID_1, price=0.1, payment="0.30"))))[0]
    assert (str(line["price"]), str(line["payment"])) == ("0.1", "0.30")


def test_datetimes_are_naive():
    row = trade_row(translate_trade(trade_document()))
    assert row["created"] == datetime(2024, 11, 11, 0, 0, 5)
    assert row["modified"] == datetime(2024, 11, 11, 0, 1, 0)
    assert row["created"].tzinfo is None and row["modified"].tzinfo is None


def test_absent_and_zero_datetimes_are_null():
    row = trade_row(translate_trade(trade_document(consign_time="0000-00-00 00:00:00", end_time="")))
    assert (row["consign_time"], row["end_time"]) == (None, None)


# --- receiver fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "city", ["", None, DROP], ids=["empty-string", "null", "missing"]
)
def test_a_county_level_city_in_district_only_becomes_the_city(city):
    row = trade_row(translate_trade(trade_document(receiver_state="河南省", receiver_city=city, receiver_district="济源市")))
    assert (row["receiver_city"], row["receiver_district"]) == ("济源市", "济源市")


def test_a_city_present_is_kept_beside_its_district():
    row = trade_row(translate_trade(trade_document()))
    assert (row["receiver_city"], row["receiver_district"]) == ("杭州市", "西湖区")


CIPHERTEXTS = {
    "receiver_name": "~AgAAAAAbUCkHxnOUUpK4JNEMvH3xx0qAR5oTT1u1Xo=~1~~",
    "receiver_address": "~TwOKmnjsRwp4F8Y7SVHMxGa+7WmaJfPDC1h9hNRg0EE=~0CxoL3q9~1~~",
    "receiver_mobile": "$136$KlZU9l4c8kwbVm0Rm5KFfQ==$1$$",
    "receiver_phone": "$0571$N3c5t6ADqHpSHV1cSqSnKw==$1$$",
    "oaid": "2w2RYE45iahnF4aiaJ7pHKCJ3Hwnbgnq2PH3AfpQVyWZNHKS9wNgAAOUfCVt9XZMetogNHwc",
}


@pytest.mark.parametrize("field", sorted(CIPHERTEXTS), ids=sorted(CIPHERTEXTS))
def test_ciphertext_receiver_fields_and_oaid_are_kept_verbatim(field):
    row = trade_row(translate_trade(trade_document(**CIPHERTEXTS)))
    assert row[field] == CIPHERTEXTS[field]


def test_a_four_byte_emoji_in_buyer_message_is_kept():
    message = "请尽快发货🚀谢谢😊"
    assert any(len(char.encode("utf-8")) == 4 for char in message)
    assert trade_row(translate_trade(trade_document(buyer_message=message)))["buyer_message"] == message


# --- trade status -----------------------------------------------------------------------------------

EXPECTED_TRADE_STATUS = {
    "TRADE_NO_CREATE_PAY": "UNPAID",
    "WAIT_BUYER_PAY": "UNPAID",
    "PAY_PENDING": "UNPAID",
    "WAIT_PRE_AUTH_CONFIRM": "UNPAID",
    "WAIT_SELLER_SEND_GOODS": "TO_SHIP",
    "PAID_FORBID_CONSIGN": "HOLD",
    "SELLER_CONSIGNED_PART": "PART_SHIPPED",
    "WAIT_BUYER_CONFIRM_GOODS": "SHIPPED",
    "TRADE_BUYER_SIGNED": "SHIPPED",
    "TRADE_FINISHED": "FINISHED",
    "TRADE_CLOSED": "CLOSED",
    "TRADE_CLOSED_BY_TAOBAO": "CLOSED",
}


def test_the_module_maps_exactly_the_documented_statuses():
    assert TRADE_STATUS == EXPECTED_TRADE_STATUS


@pytest.mark.parametrize(
    "status, oms_status", sorted(EXPECTED_TRADE_STATUS.items()), ids=sorted(EXPECTED_TRADE_STATUS)
)
def test_trade_status_maps_to_oms_status(status, oms_status):
    rows = translate_trade(trade_document(status=status))
    assert (trade_row(rows)["status"], trade_row(rows)["oms_status"]) == (status, oms_status)
    assert rows.warnings == ()


def test_an_annotated_trade_status_maps_like_its_code():
    row = trade_row(translate_trade(trade_document(status="TRADE_NO_CREATE_PAY(没有创建支付宝交易)")))
    assert row["oms_status"] == "UNPAID"
    assert row["status"] == "TRADE_NO_CREATE_PAY(没有创建支付宝交易)"


@pytest.mark.parametrize(
    "status", ["TRADE_CREATE", "trade_finished", "", DROP], ids=["tmc-only-code", "lower-case", "empty", "missing"]
)
def test_an_unknown_trade_status_is_unknown_with_a_warning(status):
    rows = translate_trade(trade_document(status=status))
    assert trade_row(rows)["oms_status"] == "UNKNOWN"
    assert len(rows.warnings) == 1
    assert rows.warnings[0].startswith("unknown trade status")
    if status is not DROP:
        assert repr(status) in rows.warnings[0]


@pytest.mark.parametrize(
    "status", ["TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"]
)
@pytest.mark.parametrize("trade_type", ["step", "fixed"])
def test_an_unpaid_trade_with_its_deposit_paid_is_deposit_paid(status, trade_type):
    # Decided by step_trade_status alone: the trade's `type` does not matter.
    rows = translate_trade(trade_document(status=status, step_trade_status="FRONT_PAID_FINAL_NOPAID", type=trade_type))
    assert trade_row(rows)["oms_status"] == "DEPOSIT_PAID"
    assert rows.warnings == ()


@pytest.mark.parametrize(
    "status, expected",
    [("WAIT_SELLER_SEND_GOODS", "TO_SHIP"), ("TRADE_CLOSED", "CLOSED"), ("TRADE_FINISHED", "FINISHED"),
     ("SOMETHING_NEW", "UNKNOWN")],
    ids=["to-ship", "closed", "finished", "unknown"],
)
def test_the_deposit_exception_applies_only_while_unpaid(status, expected):
    # A presale whose balance never came closes; it is CLOSED, not DEPOSIT_PAID.
    rows = translate_trade(trade_document(status=status, step_trade_status="FRONT_PAID_FINAL_NOPAID", type="step"))
    assert trade_row(rows)["oms_status"] == expected


def test_an_annotated_deposit_paid_step_status_is_deposit_paid():
    document = trade_document(status="WAIT_BUYER_PAY", step_trade_status="FRONT_PAID_FINAL_NOPAID(定金已付尾款未付)")
    row = trade_row(translate_trade(document))
    assert row["oms_status"] == "DEPOSIT_PAID"


@pytest.mark.parametrize(
    "step", ["FRONT_NOPAID_FINAL_NOPAID", "FRONT_PAID_FINAL_PAID"], ids=["nothing-paid", "all-paid"]
)
def test_other_step_statuses_leave_the_status_mapping_alone(step):
    row = trade_row(translate_trade(trade_document(status="WAIT_BUYER_PAY", step_trade_status=step)))
    assert row["oms_status"] == "UNPAID"


# --- line status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line_status, refund_status, step, oms_status",
    [
        ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None, "REFUNDING"),
        ("WAIT_BUYER_CONFIRM_GOODS", "WAIT_BUYER_RETURN_GOODS", None, "REFUNDING"),
        ("WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_CONFIRM_GOODS", None, "REFUNDING"),
        ("TRADE_CLOSED", "SUCCESS", None, "REFUNDED"),
        ("TRADE_CLOSED", "SUCCESS(退款成功)", None, "REFUNDED"),
        ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE(买家已经申请退款,等待卖家同意)", None, "REFUNDING"),
        ("WAIT_SELLER_SEND_GOODS", "SUCCESS", "FRONT_PAID_FINAL_NOPAID", "REFUNDED"),
        ("WAIT_SELLER_SEND_GOODS", "NO_REFUND", None, "TO_SHIP"),
        ("WAIT_SELLER_SEND_GOODS", "SELLER_REFUSE_BUYER", None, "TO_SHIP"),
        ("TRADE_FINISHED", "CLOSED", None, "FINISHED"),
        ("WAIT_BUYER_CONFIRM_GOODS", None, None, "SHIPPED"),
        ("TRADE_CLOSED_BY_TAOBAO", "", None, "CLOSED"),
        ("WAIT_BUYER_PAY", "NO_REFUND", "FRONT_PAID_FINAL_NOPAID", "DEPOSIT_PAID"),
        ("WAIT_BUYER_PAY", "NO_REFUND", "FRONT_NOPAID_FINAL_NOPAID", "UNPAID"),
    ],
    ids=[
        "wait-seller-agree",
        "wait-buyer-return",
        "wait-seller-confirm",
        "refund-success",
        "annotated-success",
        "annotated-wait-seller-agree",
        "refund-beats-deposit-paid",
        "no-refund-uses-line-status",
        "refused-refund-uses-line-status",
        "closed-refund-uses-line-status",
        "null-refund",
        "empty-refund",
        "deposit-paid-from-trade-step",
        "nothing-paid-step",
    ],
)
def test_line_oms_status(line_status, refund_status, step, oms_status):
    document = trade_document(
        order_line(OID_1, status=line_status, refund_status=refund_status),
        status="WAIT_SELLER_SEND_GOODS",
        step_trade_status=step,
    )
    line = lines_of(translate_trade(document))[0]
    assert line["oms_status"] == oms_status
    assert (line["status"], line["refund_status"]) == (line_status, refund_status)


def test_a_line_follows_its_own_status_not_the_trade_status():
    document = trade_document(
        order_line(OID_1, status="WAIT_BUYER_CONFIRM_GOODS"),
        order_line(OID_2, status="WAIT_SELLER_SEND_GOODS"),
        status="SELLER_CONSIGNED_PART",
    )
    rows = translate_trade(document)
    assert trade_row(rows)["oms_status"] == "PART_SHIPPED"
    assert [line["oms_status"] for line in lines_of(rows)] == ["SHIPPED", "TO_SHIP"]


def test_an_unknown_line_status_warns_naming_the_line():
    rows = translate_trade(trade_document(order_line(OID_1), order_line(OID_2, status="NEW_LINE_STATE")))
    assert lines_of(rows)[1]["oms_status"] == "UNKNOWN"
    assert rows.warnings == (f"unknown status 'NEW_LINE_STATE' on line {OID_2}",)


# --- promotions -------------------------------------------------------------------------------------


def promotion(id_: int, name: str, fee: str) -> dict:
    return {"id": id_, "promotion_id": f"mjs-{name}", "promotion_name": name, "discount_fee": fee}


def test_promotions_keep_their_order_and_the_id_they_apply_to():
    details = [promotion(TID, "店铺满减", "10.00"), promotion(OID_2, "单品折扣", "3.00"), promotion(OID_1, "券", "2.00")]
    rows = translate_trade(trade_document(promotion_details={"promotion_detail": details}))
    assert [(row["tid"], row["seq"], row["id"], row["promotion_name"]) for row in rows.tables["oms_promotion"]] == [
        (TID, 0, TID, "店铺满减"),
        (TID, 1, OID_2, "单品折扣"),
        (TID, 2, OID_1, "券"),
    ]


def test_two_promotions_on_one_line_are_both_kept():
    details = [promotion(OID_1, "满减", "5.00"), promotion(OID_1, "满减", "5.00")]
    rows = translate_trade(trade_document(promotion_details={"promotion_detail": details}))
    assert [(row["seq"], row["id"], row["discount_fee"]) for row in rows.tables["oms_promotion"]] == [
        (0, OID_1, Decimal("5.00")),
        (1, OID_1, Decimal("5.00")),
    ]


@pytest.mark.parametrize(
    "details", [DROP, None, {}, {"promotion_detail": []}], ids=["missing", "null", "empty-object", "empty-list"]
)
def test_no_promotion_details_means_no_promotion_rows(details):
    assert translate_trade(trade_document(promotion_details=details)).tables["oms_promotion"] == []


def test_a_gift_promotion_parses_its_string_ids_and_counts():
    detail = {"id": TID, "promotion_name": "满就送", "gift_item_id": "13233791195", "gift_item_name": "晨光签字笔",
              "gift_item_num": "1", "promotion_desc": "双11促销,满就送", "promotion_id": "mjs"}
    [row] = translate_trade(trade_document(promotion_details={"promotion_detail": [detail]})).tables["oms_promotion"]
    assert (row["gift_item_id"], row["gift_item_num"], row["discount_fee"]) == (13233791195, 1, None)


# --- one element collapsed, numbers and strings swapped ---------------------------------------------


def test_a_single_order_collapsed_to_an_object_is_one_line():
    document = trade_document()
    document["trade_fullinfo_get_response"]["trade"]["orders"] = {"order": order_line(OID_1)}
    assert [line["oid"] for line in lines_of(translate_trade(document))] == [OID_1]


def test_a_number_where_a_string_is_expected_becomes_its_text():
    line = lines_of(translate_trade(trade_document(order_line(OID_1, outer_iid=12345, outer_sku_id=678))))[0]
    assert (line["outer_iid"], line["outer_sku_id"]) == ("12345", "678")


def test_strings_and_numbers_where_the_other_is_expected_are_parsed():
    document = trade_document(order_line(OID_1, num="2", payment=200.07, price=100), num="2", payment=200.07)
    rows = translate_trade(document)
    line = lines_of(rows)[0]
    assert (line["num"], line["payment"], line["price"]) == (2, Decimal("200.07"), Decimal("100"))
    assert (trade_row(rows)["num"], trade_row(rows)["payment"]) == (2, Decimal("200.07"))


# --- rejects ----------------------------------------------------------------------------------------


def _without_orders() -> dict:
    return trade_document(orders=DROP)


def _line_without_oid() -> dict:
    return trade_document(order_line(OID_1), order_line(OID_2, oid=DROP, oid_str=DROP))


REJECTS = {
    "list": ([trade_document()], "JSON list, not an object"),
    "string": ("not a trade", "JSON str, not an object"),
    "error-response": (
        {"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}},
        "TOP error response (code=27 msg=Invalid session sub_code=invalid-sessionkey)",
    ),
    "unknown-envelope": ({"item_get_response": {}}, "not a trade: expected trade_fullinfo_get_response.trade"),
    "empty-list-envelope": ({"trades_sold_get_response": {"total_results": 0}},
                            "no trades_sold_get_response.trades.trade object: expected trade_fullinfo_get_response"),
    "envelope-without-trade": ({"trade_fullinfo_get_response": {}}, "no trade_fullinfo_get_response.trade object"),
    "empty-trade": ({"trade_fullinfo_get_response": {"trade": {}}}, "no trade_fullinfo_get_response.trade object"),
    "trade-is-a-list": ({"trade_fullinfo_get_response": {"trade": [1]}}, "no trade_fullinfo_get_response.trade"),
    "orders-missing": (_without_orders(), "no orders"),
    "orders-null": (trade_document(orders=None), "no orders"),
    "orders-empty-list": (trade_document(orders={"order": []}), "no orders"),
    "orders-not-wrapped": (trade_document(orders=[order_line(OID_1)]), "trade.orders is a list"),
    "line-without-oid": (_line_without_oid(), "trade.orders.order[1] has no oid"),
    "duplicate-oid": (trade_document(order_line(OID_1), order_line(OID_1)), "same oid twice"),
    "duplicate-oid-str-vs-number": (
        trade_document(order_line(OID_1), order_line(OID_1, oid_str=DROP)),
        "same oid twice",
    ),
    "non-numeric-tid": (trade_document(tid="T123", tid_str="T123"), "trade.tid_str = 'T123' is not a numeric id"),
    "non-numeric-tid-no-str": (trade_document(tid="abc", tid_str=DROP), "trade.tid = 'abc' is not a numeric id"),
    "float-tid-without-str": (trade_document(tid=float(TID), tid_str=DROP), "trade.tid = 4.0123456789012347e+18 is a floating-point number"),
    "no-tid": (trade_document(tid=DROP, tid_str=DROP), "the trade has no tid"),
    "bad-money": (trade_document(payment="abc"), "trade.payment = 'abc' is not an amount"),
    "bad-line-datetime": (
        trade_document(order_line(OID_1, consign_time="yesterday")),
        "trade.orders.order[0].consign_time = 'yesterday' is not a datetime",
    ),
    "float-promotion-id": (
        trade_document(promotion_details={"promotion_detail": [{"id": float(OID_1)}]}),
        "trade.promotion_details.promotion_detail[0].id",
    ),
}


@pytest.mark.parametrize("document, reason", REJECTS.values(), ids=REJECTS.keys())
def test_an_untranslatable_document_is_rejected_with_a_useful_reason(document, reason):
    with pytest.raises(TranslateError) as caught:
        translate_trade(document)
    assert reason in str(caught.value)


def test_a_float_tid_reject_says_precision_was_lost():
    with pytest.raises(TranslateError, match="lost precision"):
        translate_trade(trade_document(tid=float(TID), tid_str=DROP))


def test_an_error_response_without_details_is_still_rejected():
    with pytest.raises(TranslateError, match="TOP error response"):
        translate_trade({"error_response": {}})


def test_an_odd_num_string_is_a_translate_error_naming_the_field():
    with pytest.raises(TranslateError, match=r"trade\.orders\.order\[0\]\.num"):
        translate_trade(trade_document(order_line(OID_1, num="--2")))


# --- purity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        trade_document(),
        trade_document(receiver_city="", receiver_district="济源市", tid=float(TID)),
        # a collapsed single line and single promotion: the translator wraps them, and must not write back
        trade_document(orders={"order": order_line(OID_1)}, promotion_details={"promotion_detail": {"id": TID}}),
    ],
    ids=["plain", "city-from-district", "collapsed-lists"],
)
def test_translate_does_not_mutate_its_input(document):
    before = copy.deepcopy(document)
    translate_trade(document)
    assert document == before


def test_translating_again_gives_new_rows_of_the_document_alone():
    # A job changes the rows it is given (its extra columns turn ext into text and add their own): neither
    # that nor a translation of another push in between may reach the next translation of the push.
    document = trade_document()
    first = translate_trade(document)
    expected = copy.deepcopy(dict(first.tables))
    for rows in first.tables.values():
        for row in rows:
            row.update(ext="{}", store_code="S-1")
    other = trade_document(order_line(OID_2, num=5), tid=TID + 1, tid_str=str(TID + 1), status="TRADE_FINISHED")
    translate_trade(other)
    again = translate_trade(document)
    assert dict(again.tables) == expected
    assert [row["oid"] for row in again.tables["oms_order"]] == [OID_1, OID_2]


# --- golden -----------------------------------------------------------------------------------------

GOLDEN_DOCUMENT = {
    "trade_fullinfo_get_response": {
        "trade": {
            "tid": 4012345678901234567,
            "tid_str": "4012345678901234567",
            "seller_nick": "麦包包",
            "buyer_nick": "碎**",
            "buyer_open_uid": "AAGq5d-EAAeG3JedwSFpZMe1",
            "status": "SELLER_CONSIGNED_PART",
            "type": "fixed(一口价)",
            "step_trade_status": "FRONT_NOPAID_FINAL_NOPAID",
            "step_paid_fee": "0.00",
            "created": "2024-11-11 00:00:05",
            "modified": "2024-11-12 09:30:00",
            "pay_time": "2024-11-11 00:00:31",
            "consign_time": "2024-11-12 09:30:00",
            "end_time": "0000-00-00 00:00:00",
            "payment": "200.07",
            "total_fee": "210.00",
            "post_fee": 10,
            "discount_fee": "20.00",
            "adjust_fee": "0.07",
            "received_payment": "0.00",
            "num": "3",
            "receiver_name": "~AgAAAAAbUCkHxnOUUpK4JNEMvH3xx0qAR5oTT1u1Xo=~1~~",
            "receiver_mobile": "$136$KlZU9l4c8kwbVm0Rm5KFfQ==$1$$",
            "receiver_country": "中国",
            "receiver_state": "河南省",
            "receiver_city": "",
            "receiver_district": "济源市",
            "receiver_town": "沁园街道",
            "receiver_address": "~TwOKmnjsRwp4F8Y7SVHMxGa+7WmaJfPDC1h9hNRg0EE=~0CxoL3q9~1~~",
            "receiver_zip": "459000",
            "oaid": "2w2RYE45iahnF4aiaJ7pHKCJ3Hwnbgnq2PH3AfpQVyWZNHKS9wNgAAOUfCVt9XZMetogNHwc",
            "buyer_message": "生日礼物🎂,别放发票",
            "buyer_memo": "上衣要大一号",
            "seller_memo": "好的",
            "seller_flag": 4,
            "shipping_type": "express",
            "trade_from": "WAP,JHS",
            "alipay_no": "2009112081173831",
            "orders": {
                "order": [
                    {
                        "oid": 4012345678902234567,
                        "oid_str": "4012345678902234567",
                        "num_iid": 652158896123,
                        "sku_id": "4876512398765",
                        "outer_iid": 12345,
                        "outer_sku_id": "12345-M",
                        "title": "纯棉短袖T恤",
                        "sku_properties_name": "颜色:桔色;尺码:M",
                        "price": "100.00",
                        "num": 2,
                        "total_fee": "200.00",
                        "payment": "190.07",
                        "discount_fee": "10.00",
                        "adjust_fee": "0.07",
                        "divide_order_fee": "190.07",
                        "part_mjz_discount": "10.00",
                        "status": "WAIT_BUYER_CONFIRM_GOODS",
                        "refund_status": "NO_REFUND",
                        "logistics_company": "顺丰速运",
                        "invoice_no": "SF1234567890123",
                        "consign_time": "2024-11-12 09:30:00",
                    },
                    {
                        "oid": 4012345678903234567,
                        "oid_str": "4012345678903234567",
                        "num_iid": "652158896124",
                        "title": "棒球帽",
                        "price": 10,
                        "num": "1",
                        "total_fee": "10.00",
                        "payment": "10.00",
                        "status": "WAIT_SELLER_SEND_GOODS",
                        "refund_status": "SUCCESS(退款成功)",
                        "refund_id": "2231958349",
                        "end_time": "2024-11-12 08:00:00",
                    },
                ]
            },
            "promotion_details": {
                "promotion_detail": [
                    {
                        "id": 4012345678901234567,
                        "promotion_id": "mjs-123024_211143",
                        "promotion_name": "满就减钱",
                        "promotion_desc": "双11促销,满就送",
                        "discount_fee": "10.00",
                        "gift_item_id": "13233791195",
                        "gift_item_name": "晨光签字笔",
                        "gift_item_num": "1",
                    },
                    {
                        "id": 4012345678902234567,
                        "promotion_id": "Tmall$tmallItemPromotion-1",
                        "promotion_name": "单品优惠",
                        "discount_fee": 10.0,
                    },
                ]
            },
        }
    }
}

GOLDEN_TABLES = {
    "oms_trade": [
        {
            "tid": 4012345678901234567,
            "platform": "taobao",
            "seller_nick": "麦包包",
            "buyer_nick": "碎**",
            "buyer_open_uid": "AAGq5d-EAAeG3JedwSFpZMe1",
            "status": "SELLER_CONSIGNED_PART",
            "oms_status": "PART_SHIPPED",
            "type": "fixed(一口价)",
            "step_trade_status": "FRONT_NOPAID_FINAL_NOPAID",
            "step_paid_fee": Decimal("0.00"),
            "created": datetime(2024, 11, 11, 0, 0, 5),
            "modified": datetime(2024, 11, 12, 9, 30, 0),
            "pay_time": datetime(2024, 11, 11, 0, 0, 31),
            "consign_time": datetime(2024, 11, 12, 9, 30, 0),
            "end_time": None,
            "payment": Decimal("200.07"),
            "total_fee": Decimal("210.00"),
            "post_fee": Decimal("10"),
            "discount_fee": Decimal("20.00"),
            "adjust_fee": Decimal("0.07"),
            "received_payment": Decimal("0.00"),
            "num": 3,
            "receiver_name": "~AgAAAAAbUCkHxnOUUpK4JNEMvH3xx0qAR5oTT1u1Xo=~1~~",
            "receiver_mobile": "$136$KlZU9l4c8kwbVm0Rm5KFfQ==$1$$",
            "receiver_phone": None,
            "receiver_country": "中国",
            "receiver_state": "河南省",
            "receiver_city": "济源市",
            "receiver_district": "济源市",
            "receiver_town": "沁园街道",
            "receiver_address": "~TwOKmnjsRwp4F8Y7SVHMxGa+7WmaJfPDC1h9hNRg0EE=~0CxoL3q9~1~~",
            "receiver_zip": "459000",
            "oaid": "2w2RYE45iahnF4aiaJ7pHKCJ3Hwnbgnq2PH3AfpQVyWZNHKS9wNgAAOUfCVt9XZMetogNHwc",
            "buyer_message": "生日礼物🎂,别放发票",
            "buyer_memo": "上衣要大一号",
            "seller_memo": "好的",
            "seller_flag": 4,
            "shipping_type": "express",
            "trade_from": "WAP,JHS",
            "ext": {"alipay_no": "2009112081173831"},
        }
    ],
    "oms_order": [
        {
            "oid": 4012345678902234567,
            "tid": 4012345678901234567,
            "seq": 0,
            "platform": "taobao",
            "num_iid": 652158896123,
            "sku_id": 4876512398765,
            "outer_iid": "12345",
            "outer_sku_id": "12345-M",
            "title": "纯棉短袖T恤",
            "sku_properties_name": "颜色:桔色;尺码:M",
            "price": Decimal("100.00"),
            "num": 2,
            "total_fee": Decimal("200.00"),
            "payment": Decimal("190.07"),
            "discount_fee": Decimal("10.00"),
            "adjust_fee": Decimal("0.07"),
            "divide_order_fee": Decimal("190.07"),
            "part_mjz_discount": Decimal("10.00"),
            "status": "WAIT_BUYER_CONFIRM_GOODS",
            "oms_status": "SHIPPED",
            "refund_status": "NO_REFUND",
            "refund_id": None,
            "logistics_company": "顺丰速运",
            "invoice_no": "SF1234567890123",
            "consign_time": datetime(2024, 11, 12, 9, 30, 0),
            "end_time": None,
        },
        {
            "oid": 4012345678903234567,
            "tid": 4012345678901234567,
            "seq": 1,
            "platform": "taobao",
            "num_iid": 652158896124,
            "sku_id": None,
            "outer_iid": None,
            "outer_sku_id": None,
            "title": "棒球帽",
            "sku_properties_name": None,
            "price": Decimal("10"),
            "num": 1,
            "total_fee": Decimal("10.00"),
            "payment": Decimal("10.00"),
            "discount_fee": None,
            "adjust_fee": None,
            "divide_order_fee": None,
            "part_mjz_discount": None,
            "status": "WAIT_SELLER_SEND_GOODS",
            "oms_status": "REFUNDED",
            "refund_status": "SUCCESS(退款成功)",
            "refund_id": 2231958349,
            "logistics_company": None,
            "invoice_no": None,
            "consign_time": None,
            "end_time": datetime(2024, 11, 12, 8, 0, 0),
        },
    ],
    "oms_promotion": [
        {
            "tid": 4012345678901234567,
            "seq": 0,
            "id": 4012345678901234567,
            "promotion_id": "mjs-123024_211143",
            "promotion_name": "满就减钱",
            "promotion_desc": "双11促销,满就送",
            "discount_fee": Decimal("10.00"),
            "gift_item_id": 13233791195,
            "gift_item_name": "晨光签字笔",
            "gift_item_num": 1,
        },
        {
            "tid": 4012345678901234567,
            "seq": 1,
            "id": 4012345678902234567,
            "promotion_id": "Tmall$tmallItemPromotion-1",
            "promotion_name": "单品优惠",
            "promotion_desc": None,
            "discount_fee": Decimal("10.0"),
            "gift_item_id": None,
            "gift_item_name": None,
            "gift_item_num": None,
        },
    ],
}


def test_golden_document_translates_to_the_expected_tables():
    rows = translate_trade(orjson.loads(orjson.dumps(GOLDEN_DOCUMENT)))
    assert rows.key == 4012345678901234567
    assert rows.warnings == ()
    assert dict(rows.tables) == GOLDEN_TABLES
    # Decimal equality ignores scale; the text written to DECIMAL columns must keep the pushed digits.
    assert str(rows.tables["oms_trade"][0]["payment"]) == "200.07"
    assert str(rows.tables["oms_order"][0]["adjust_fee"]) == "0.07"


# --- property ---------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(tid=st.integers(10**18, 2**63 - 1))
def test_any_19_digit_tid_sent_as_a_json_number_is_exact(tid):
    document = trade_document(order_line(OID_1, oid_str=DROP), tid=tid, tid_str=DROP)
    parsed = orjson.loads(orjson.dumps(document))
    assert type(parsed["trade_fullinfo_get_response"]["trade"]["tid"]) is int
    rows = translate_trade(parsed)
    assert rows.key == tid
    assert trade_row(rows)["tid"] == tid
    assert lines_of(rows)[0]["tid"] == tid


# --- ext: the fields no column maps -----------------------------------------------------------


class _Reading(dict):
    """A trade that records the fields the translator reads."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return super().get(key, default)


def test_ext_holds_exactly_the_trade_fields_the_translator_does_not_read():
    trade = _Reading(GOLDEN_DOCUMENT["trade_fullinfo_get_response"]["trade"])
    translate_trade(trade)
    # What unwrap asks of any document: is it an error, a TMC message, a gateway's, an envelope?
    wrappers = {"error_response", "errorCode", "error_code", "success", "code", "topic"}
    wrappers |= {path[0] for path in SHAPES.envelopes}
    # tid is read only when tid_str is missing (the string form is exact).
    assert trade.read - wrappers | {"tid"} == MAPPED_FIELDS


def test_ext_keeps_unmapped_fields_as_pushed_and_nothing_mapped():
    document = copy.deepcopy(GOLDEN_DOCUMENT)
    trade = document["trade_fullinfo_get_response"]["trade"]
    trade["o2o_shop_id"] = "shop-9"
    trade["service_tags"] = {"logistics_tag": [{"order_id": "4012345678902234567", "tag": "presale"}]}
    trade["is_sh_ship"] = True
    ext = translate_trade(document).tables["oms_trade"][0]["ext"]
    assert ext == {
        "alipay_no": "2009112081173831", "o2o_shop_id": "shop-9", "is_sh_ship": True,
        "service_tags": {"logistics_tag": [{"order_id": "4012345678902234567", "tag": "presale"}]},
    }
    assert not MAPPED_FIELDS & set(ext)


def test_rows_name_the_object_each_row_was_made_from():
    document = orjson.loads(orjson.dumps(GOLDEN_DOCUMENT))
    trade = document["trade_fullinfo_get_response"]["trade"]
    rows = translate_trade(document)
    assert rows.sources["oms_trade"] == [trade]
    assert rows.sources["oms_order"] == trade["orders"]["order"]
    assert rows.sources["oms_promotion"] == trade["promotion_details"]["promotion_detail"]
