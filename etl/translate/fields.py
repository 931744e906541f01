"""Value parsers shared by the translators: exact ids, exact money, naive datetimes.

Every parser takes what the JSON gave (already parsed by orjson) and returns the
column value, or raises `FieldError` with a sentence an operator can act on.
They never pass a number through a float: Taobao ids are 19 digits, above 2**53.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

# BIGINT is signed on the target; anything outside it cannot be stored.
BIGINT_MAX = 2**63 - 1
# Below this every integer survives a double unchanged; 17- to 19-digit ids do not.
EXACT_IN_A_DOUBLE = 2**53
# Money columns are DECIMAL(15,2): 13 integer digits, and cents.
_MONEY_LIMIT = Decimal("1e13")
_CENT = Decimal("0.01")
_ZERO_DATETIMES = frozenset({"0000-00-00 00:00:00", "0000-00-00"})
_FLAG_TEXT = {"true": True, "false": False, "1": True, "0": False}
_INT_COLUMNS = {8: "a TINYINT", 16: "a SMALLINT", 32: "an INT", 64: "a BIGINT"}
# ASCII only: str.isdigit() also admits "²" and Arabic-Indic digits.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


class FieldError(ValueError):
    """A field of the document cannot become a column value."""


# Where a value sits in the document: "trade.payment", or (prefix, name) joined only when
# an error is raised, so the hot path builds no string per field.
Path = str | tuple[str, str]


def where(path: Path, value: object) -> str:
    if isinstance(path, tuple):
        path = ".".join(path)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{path} = {shown}"


def text_id(text: str) -> int | None:
    """The id a text holds: ASCII digits (blanks around them and leading zeros allowed) of a positive
    BIGINT; None for any other text. One rule for an id in a document and a source row's text key:
    "0042" is 42 wherever it is written."""
    digits = text.strip()
    if digits.isascii() and digits.isdigit() and 0 < (number := int(digits)) <= BIGINT_MAX:
        return number
    return None


def parse_id(value: object, path: Path) -> int | None:
    """An id as an exact integer: from an int or a string of digits (`text_id`); never a float."""
    # The common cases first, before the checks that name what is wrong.
    if type(value) is int and 0 < value <= BIGINT_MAX:
        return value
    if type(value) is str and (number := text_id(value)) is not None:
        return number
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(f"{where(path, value)} is a boolean, not an id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text.isdigit() or not text.isascii():
            raise FieldError(f"{where(path, value)} is not a numeric id")
        number = int(text)
    elif isinstance(value, float):
        raise FieldError(
            f"{where(path, value)} is a floating-point number: the id lost precision upstream "
            "(send it as a string or an integer)"
        )
    else:
        raise FieldError(f"{where(path, value)} is a {type(value).__name__}, not an id")
    if not 0 < number <= BIGINT_MAX:
        raise FieldError(f"{where(path, value)} is outside the range of a BIGINT id")
    return number


def parse_string_id(value: object, path: Path) -> int | None:
    """An id from a field the API sends as a string (tid_str, idOfStr, subItemIDString).

    Such a field exists because the number beside it may have passed through a double. A JSON
    number here was written by some serializer on the way, perhaps through a double too: only
    one below 2**53 (which a double holds exactly) is trusted; above, the digits may be wrong.
    """
    if type(value) is not str and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and abs(value) >= EXACT_IN_A_DOUBLE:
        raise FieldError(
            f"{where(path, value)} is a JSON number where the API sends a string: at 2**53 and above "
            "it may have lost precision upstream (land the string form as a string)"
        )
    return parse_id(value, path)


def parse_money(value: object, path: Path, places: int | None = 2) -> Decimal | None:
    """Yuan as an exact Decimal; a JSON number is read through its shortest repr.

    More than `places` decimals (a fraction of a cent: None allows any) is an error, not a
    rounding: MySQL's DECIMAL would round it and SQLite would keep it, and neither is the push.
    """
    if type(value) is str:
        # The common case, a third of the cost of the checks below (money is a fifth of a trade's
        # translation): Decimal() ignores surrounding whitespace itself, and a NaN fails the
        # comparison (it raises) as an infinity does; whatever fails is judged by the code below.
        try:
            amount = Decimal(value)
            if -_MONEY_LIMIT < amount < _MONEY_LIMIT and places == 2 and not amount % _CENT:
                return amount
        except InvalidOperation:
            pass
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(f"{where(path, value)} is a boolean, not an amount")
    try:
        if isinstance(value, str):
            amount = Decimal(value.strip())
        elif isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, float):
            # repr() is the shortest string that round-trips: 200.07 -> "200.07".
            amount = Decimal(repr(value))
        else:
            raise FieldError(f"{where(path, value)} is a {type(value).__name__}, not an amount")
    except InvalidOperation:
        raise FieldError(f"{where(path, value)} is not an amount") from None
    if not amount.is_finite() or abs(amount) >= _MONEY_LIMIT:
        raise FieldError(f"{where(path, value)} is not an amount a DECIMAL(15,2) column can hold")
    if places is not None and amount % Decimal(1).scaleb(-places):
        raise FieldError(f"{where(path, value)} has more than {places} decimal places, which its column would round away")
    return amount


def parse_int(value: object, path: Path, bits: int = 32) -> int | None:
    """A count or flag: an int, or a string of an int (`"num":"2"`), within a signed `bits`-bit column."""
    if type(value) is int and -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        return value
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(f"{where(path, value)} is a boolean, not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise FieldError(f"{where(path, value)} is not a whole number")
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise FieldError(f"{where(path, value)} is too large for {_INT_COLUMNS.get(bits, f'a {bits}-bit')} column")
    return number


def parse_datetime(value: object, path: Path) -> datetime | None:
    """A naive Asia/Shanghai datetime as pushed; empty and zero dates are NULL."""
    if type(value) is str and len(value) == 19:
        # "yyyy-MM-dd HH:mm:ss", the common case; a zero date raises, and "yyyy-MM-dd HH:mm+08"
        # (also 19 characters) has a time zone: both are judged by the code below.
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                return parsed
        except ValueError:
            pass
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError(f"{where(path, value)} is not a datetime string")
    text = value.strip()
    if text in _ZERO_DATETIMES:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"{where(path, value)} is not a datetime (yyyy-MM-dd HH:mm:ss)") from None
    if parsed.tzinfo is not None:
        raise FieldError(f"{where(path, value)} carries a time zone; pushes are naive Asia/Shanghai time")
    return parsed


def enum_code(value: str | None) -> str | None:
    """The enum code of a status: the API's own samples annotate it, as in "SUCCESS(退款成功)"."""
    if value is None:
        return None
    return value.split("(", 1)[0].strip()


def parse_bool(value: object, path: Path) -> bool | None:
    """A flag: JSON true/false, or the strings and numbers gateways turn them into."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _FLAG_TEXT:
        return _FLAG_TEXT[value.strip().lower()]
    raise FieldError(f"{where(path, value)} is not true or false")


def parse_text(value: object, path: Path) -> str | None:
    """A string column: numbers are accepted as their text, containers are not."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise FieldError(f"{where(path, value)} is a {type(value).__name__}, not text")
