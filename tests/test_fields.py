"""The value parsers of the translators: exact ids, exact money, whole numbers, naive datetimes, text."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from etl.translate.fields import (
    FieldError,
    parse_datetime,
    parse_id,
    parse_int,
    parse_money,
    parse_text,
)

# 19 digits and well above 2**53: a float cannot hold it.
BIG_ID = 4012345678901234567
assert BIG_ID > 2**53 and float(BIG_ID) != BIG_ID
BIGINT_MAX = 2**63 - 1


# --- parse_id -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (str(BIG_ID), BIG_ID),
        (BIG_ID, BIG_ID),
        (f"  {BIG_ID} ", BIG_ID),
        ("2231958349", 2231958349),
        (2231958349, 2231958349),
        (str(BIGINT_MAX), BIGINT_MAX),
        (BIGINT_MAX, BIGINT_MAX),
        (1, 1),
    ],
    ids=["19-digit-str", "19-digit-int", "padded-str", "10-digit-str", "10-digit-int", "bigint-max-str",
         "bigint-max-int", "one"],
)
def test_parse_id_is_exact(value, expected):
    parsed = parse_id(value, "trade.tid")
    assert parsed == expected
    assert type(parsed) is int


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty"])
def test_parse_id_absent_is_none(value):
    assert parse_id(value, "trade.tid") is None


def test_parse_id_rejects_a_float_saying_precision_was_lost_and_where():
    with pytest.raises(FieldError) as caught:
        parse_id(float(BIG_ID), "trade.orders.order[0].oid")
    message = str(caught.value)
    assert "trade.orders.order[0].oid" in message
    assert "precision" in message


@pytest.mark.parametrize("value", [2231958349.0, 1.5], ids=["integral-float", "fractional-float"])
def test_parse_id_rejects_any_float(value):
    with pytest.raises(FieldError, match=r"trade\.tid"):
        parse_id(value, "trade.tid")


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_parse_id_rejects_a_boolean(value):
    with pytest.raises(FieldError, match="boolean") as caught:
        parse_id(value, "trade.tid")
    assert "trade.tid" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    ["abc", "12a3", "-123", "+123", "1.0", "1e18", "12 34", "１２３", "²", "0x1F", " "],
    ids=["letters", "mixed", "negative", "plus-sign", "decimal", "exponent", "inner-space", "fullwidth-digits",
         "superscript", "hex", "blank"],
)
def test_parse_id_rejects_non_digit_strings(value):
    with pytest.raises(FieldError, match=r"trade\.tid .* is not a numeric id"):
        parse_id(value, "trade.tid")


@pytest.mark.parametrize(
    "value",
    [2**63, str(2**63), "9" * 20, 0, "0", -5],
    ids=["bigint-max-plus-1-int", "bigint-max-plus-1-str", "20-digits", "zero-int", "zero-str", "negative-int"],
)
def test_parse_id_rejects_values_outside_bigint(value):
    with pytest.raises(FieldError, match="BIGINT"):
        parse_id(value, "trade.tid")


@pytest.mark.parametrize("value", [[1], {"id": 1}], ids=["list", "dict"])
def test_parse_id_rejects_containers(value):
    with pytest.raises(FieldError, match=r"trade\.tid"):
        parse_id(value, "trade.tid")


# --- parse_money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("200.07", Decimal("200.07")),
        (200.07, Decimal("200.07")),
        (0.1, Decimal("0.1")),
        (200, Decimal("200")),
        (0, Decimal("0")),
        (" 12.50 ", Decimal("12.50")),
        ("-1.01", Decimal("-1.01")),
        ("9999999999999.99", Decimal("9999999999999.99")),
    ],
    ids=["string", "float-via-shortest-repr", "float-0.1", "int", "zero", "padded", "negative", "largest"],
)
def test_parse_money_is_exact(value, expected):
    parsed = parse_money(value, "trade.payment")
    assert type(parsed) is Decimal
    # Decimal equality ignores trailing zeros; the tuple does not, and a binary float would differ in digits.
    assert parsed.as_tuple() == expected.as_tuple()


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty"])
def test_parse_money_absent_is_none(value):
    assert parse_money(value, "trade.payment") is None


@pytest.mark.parametrize(
    "value",
    ["abc", "1,000.00", "¥12", " "],
    ids=["letters", "thousands-separator", "currency-sign", "blank"],
)
def test_parse_money_rejects_text_that_is_not_an_amount(value):
    with pytest.raises(FieldError, match=r"trade\.payment .* is not an amount"):
        parse_money(value, "trade.payment")


@pytest.mark.parametrize(
    "value",
    ["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", float("nan"), float("inf")],
    ids=["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "float-nan", "float-inf"],
)
def test_parse_money_rejects_non_finite(value):
    with pytest.raises(FieldError, match="DECIMAL"):
        parse_money(value, "trade.payment")


@pytest.mark.parametrize(
    "value",
    ["10000000000000", "-10000000000000.00", 10**13, 1e13, "1e20"],
    ids=["13-digit-limit-str", "negative-limit", "limit-int", "limit-float", "exponent"],
)
def test_parse_money_rejects_amounts_too_large_for_decimal_15_2(value):
    with pytest.raises(FieldError, match=r"trade\.payment .*DECIMAL\(15,2\)"):
        parse_money(value, "trade.payment")


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_parse_money_rejects_a_boolean(value):
    with pytest.raises(FieldError, match="boolean"):
        parse_money(value, "trade.payment")


@pytest.mark.parametrize("value", [["1"], {"amount": "1"}], ids=["list", "dict"])
def test_parse_money_rejects_containers(value):
    with pytest.raises(FieldError, match=r"trade\.payment"):
        parse_money(value, "trade.payment")


# --- parse_int ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [("2", 2), (2, 2), (" 3 ", 3), ("0", 0), (0, 0), ("-1", -1), (2.0, 2), (2**31 - 1, 2**31 - 1)],
    ids=["string", "int", "padded-string", "zero-string", "zero", "negative-string", "integral-float",
         "int-max"],
)
def test_parse_int_accepts_whole_numbers(value, expected):
    parsed = parse_int(value, "trade.num")
    assert parsed == expected
    assert type(parsed) is int


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty"])
def test_parse_int_absent_is_none(value):
    assert parse_int(value, "trade.num") is None


@pytest.mark.parametrize(
    "value",
    ["abc", "2.5", 2.5, "1e3", "-", float("nan"), [2]],
    ids=["letters", "decimal-string", "fractional-float", "exponent", "lone-minus", "nan", "list"],
)
def test_parse_int_rejects_non_whole_numbers(value):
    with pytest.raises(FieldError, match=r"trade\.num .* is not a whole number"):
        parse_int(value, "trade.num")


@pytest.mark.parametrize("value", [2**31, "2147483648", -(2**31) - 1], ids=["int", "string", "negative"])
def test_parse_int_rejects_values_too_large_for_int(value):
    with pytest.raises(FieldError, match="INT column"):
        parse_int(value, "trade.num")


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_parse_int_rejects_a_boolean(value):
    with pytest.raises(FieldError, match="boolean"):
        parse_int(value, "trade.num")


@pytest.mark.parametrize("value", ["--3", "²"], ids=["double-minus", "superscript"])
def test_parse_int_odd_digit_strings_raise_field_error_naming_the_path(value):
    with pytest.raises(FieldError, match=r"trade\.num"):
        parse_int(value, "trade.num")


# --- parse_datetime -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 10, 0, 0)),
        ("2000-01-01 00:00:00", datetime(2000, 1, 1)),
        (" 2024-11-11 23:59:59 ", datetime(2024, 11, 11, 23, 59, 59)),
    ],
    ids=["morning", "midnight", "padded"],
)
def test_parse_datetime_is_naive(value, expected):
    parsed = parse_datetime(value, "trade.created")
    assert parsed == expected
    assert parsed.tzinfo is None


@pytest.mark.parametrize(
    "value",
    [None, "", "0000-00-00 00:00:00", "0000-00-00"],
    ids=["none", "empty", "zero-datetime", "zero-date"],
)
def test_parse_datetime_empty_and_zero_are_none(value):
    assert parse_datetime(value, "trade.created") is None


@pytest.mark.parametrize(
    "value",
    ["garbage", "2024-13-01 10:00:00", "2024-02-30 10:00:00", "2024-01-01 25:00:00", "付款后30天内",
     "01/02/2024 10:00:00"],
    ids=["garbage", "month-13", "feb-30", "hour-25", "chinese-text", "us-format"],
)
def test_parse_datetime_rejects_garbage(value):
    with pytest.raises(FieldError, match=r"trade\.created .* is not a datetime"):
        parse_datetime(value, "trade.created")


@pytest.mark.parametrize(
    "value",
    ["2024-01-01 10:00:00+08:00", "2024-01-01T02:00:00Z", "2024-01-01 10:00:00-05:00", "2024-01-01 10:00+08"],
    ids=["plus-0800", "zulu", "minus-0500", "nineteen-characters"],
)
def test_parse_datetime_rejects_time_zone_aware(value):
    with pytest.raises(FieldError, match="time zone"):
        parse_datetime(value, "trade.created")


@pytest.mark.parametrize("value", [1704074400, 1704074400.0, ["2024-01-01"]], ids=["epoch-int", "epoch-float", "list"])
def test_parse_datetime_rejects_non_strings(value):
    with pytest.raises(FieldError, match=r"trade\.created .* is not a datetime string"):
        parse_datetime(value, "trade.created")


# --- parse_text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("abc", "abc"),
        ("", ""),
        ("  padded  ", "  padded  "),
        ("要送的礼物 🎁", "要送的礼物 🎁"),
        (12345, "12345"),
        (BIG_ID, str(BIG_ID)),
        (12.5, "12.5"),
        (True, "true"),
        (False, "false"),
        (None, None),
    ],
    ids=["plain", "empty-kept", "spaces-kept", "emoji", "int", "big-int", "float", "true", "false", "none"],
)
def test_parse_text(value, expected):
    assert parse_text(value, "trade.orders.order[0].outer_iid") == expected


@pytest.mark.parametrize("value", [["a"], {"a": 1}], ids=["list", "dict"])
def test_parse_text_rejects_containers(value):
    with pytest.raises(FieldError, match=r"trade\.orders\.order\[0\]\.outer_iid .* not text"):
        parse_text(value, "trade.orders.order[0].outer_iid")


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(FieldError) as caught:
        parse_id("x" * 500, "trade.tid")
    assert len(str(caught.value)) < 150


@pytest.mark.parametrize(("bits", "inside", "outside"), [(16, -(2**15), 2**15), (64, 2**63 - 1, 2**63)])
def test_parse_int_checks_the_range_of_the_column_it_is_for(bits, inside, outside):
    assert parse_int(str(inside), "x", bits) == inside
    with pytest.raises(FieldError, match="too large"):
        parse_int(outside, "x", bits)


@pytest.mark.parametrize("value", ["10.005", 0.125, "1e-3", "-0.001"], ids=["string", "float", "exponent", "negative"])
def test_parse_money_rejects_a_fraction_of_a_cent(value):
    # MySQL's DECIMAL(15,2) would round it and SQLite would keep it: neither is what was pushed.
    with pytest.raises(FieldError, match=r"trade\.payment .* more than 2 decimal places"):
        parse_money(value, "trade.payment")


@pytest.mark.parametrize("value, places, expected", [
    ("10.500", 2, Decimal("10.500")), ("0.0125", 4, Decimal("0.0125")), ("0.0125", None, Decimal("0.0125")),
    ("5.0", 0, Decimal("5.0")),
], ids=["trailing-zeros", "four-places", "any", "whole"])
def test_parse_money_keeps_what_its_places_hold(value, places, expected):
    assert parse_money(value, "order.price", places) == expected


def test_parse_money_names_the_places_it_holds():
    with pytest.raises(FieldError, match="more than 0 decimal places"):
        parse_money("5.5", "fen", places=0)
