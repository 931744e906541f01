"""Values as the text MySQL reads: SQL literals of a multi-row INSERT, and lines of a LOAD DATA file.

Both are hot (every value of every row written on MySQL passes here once), so each is one
pass per value, C-level wherever it can be; bench/RESULTS.md has the alternatives measured.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any, AnyStr

# A statement without parameters goes to cursor.execute(text) alone, so that PyMySQL does not
# %-format it: a value (or a user's DDL: LIKE 'shop-%') may hold a % (SQLAlchemy's documented option).
AS_IS = {"no_parameters": True}


def _escaped(value: AnyStr, escapes: tuple[tuple[AnyStr, AnyStr], ...]) -> AnyStr:
    # C-level passes, each behind a search: str.replace counts its matches before it copies, and
    # counting is a slower scan than `in` (oms_trade.ext, a JSON text with Chinese, has backslashes
    # and never a raw control character); str.translate with a mapping is slower still.
    for char, escape in escapes:
        if char in value:
            value = value.replace(char, escape)
    return value


# LOAD DATA's default format (FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'):
# a backslash (first: the others add backslashes), tab, newline, carriage return or NUL in a
# value is escaped, NULL is \N.
_load_escape = partial(_escaped, escapes=(("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"),
                                          ("\0", "\\0")))
# The same for a bytes value (UTF-8 text: `ext`), byte for byte.
_load_bytes_escape = partial(_escaped, escapes=tuple((char.encode(), escape.encode())
                                                     for char, escape in _load_escape.keywords["escapes"]))
# A short text is searched for what needs escaping and kept as it is when nothing does (most
# values): its tab, newline, carriage return and NUL are not printable, so `isprintable` and a search
# for the backslash find them all, in two C calls, cheaper than a regex search (a text isprintable
# refuses for another reason is escaped, which changes nothing in it). A long one goes to the escape
# directly, whose searches for one character at a time cost less than either on non-ASCII text
# (oms_trade.ext, with Chinese).
_SEARCH_LIMIT = 256
_LOAD_NULL = "\\N"
# In a quoted SQL string only the quote, the backslash (the target's sql_mode has no
# NO_BACKSLASH_ESCAPES: see etl.database.engines) and NUL need escaping.
_SQL_SPECIAL = re.compile(r"[\\'\0]")
_sql_escape = partial(_escaped, escapes=(("\\", "\\\\"), ("'", "\\'"), ("\0", "\\0")))


class _DatetimeText(dict):
    """str() of a datetime costs ~0.6 us; the pushes of a batch share most of their seconds."""

    def __missing__(self, value: datetime) -> str:
        text = self[value] = str(value)
        return text


def _values_of(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """A row's values of `columns`, always as a tuple (itemgetter of one name gives the bare value)."""
    return itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))


def _text_of(value: Any) -> str:
    """The rare values (bool, float, date, bytes) as LOAD DATA and SQL read them: a bool as 1/0, not
    True; bytes (UTF-8 text, as `ext` comes from orjson) as their text."""
    if type(value) is bool:
        return "1" if value else "0"
    if type(value) is bytes:
        return value.decode()
    return repr(value) if type(value) is float else str(value)


def _load_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], end: str) -> list[str]:
    """Each row's values of `columns` as LOAD DATA reads them, joined by tabs, `end` after each."""
    values_of = _values_of(columns)
    datetimes = _DatetimeText()
    # str() writes int and Decimal the way MySQL reads them; a datetime as "2026-11-11 00:00:00".
    return [
        "\t".join([
            _LOAD_NULL if value is None
            else (_load_escape(value) if len(value) > _SEARCH_LIMIT or "\\" in value or not value.isprintable()
                  else value)
            if type(value) is str
            else str(value) if type(value) is int or type(value) is Decimal
            else datetimes[value] if type(value) is datetime
            else _load_escape(_text_of(value))
            for value in values_of(row)
        ]) + end
        for row in rows
    ]


def _load_bytes(value: Any) -> bytes:
    """A value of a bytes column (UTF-8 text) as LOAD DATA reads it; None, or another type, as text would be."""
    if type(value) is bytes:
        return _load_bytes_escape(value)
    return b"\\N" if value is None else _load_escape(_text_of(value)).encode()


def load_file(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], bytes]:
    """The rows in LOAD DATA's format (UTF-8), and their columns in the order written. Hot: one
    pass per value, C-level wherever it can be.

    A column whose first value is bytes (`ext`: the JSON text as orjson makes it, already UTF-8) is
    written last, as it is: the rest of a line is text encoded once, and the bytes are joined to it.
    Kept as text, a trade's `ext` would be decoded, searched and escaped as wide characters, copied
    into the line and encoded again: a third more time for a trade's row (bench/RESULTS.md).
    """
    first = rows[0]
    raw = [name for name, value in first.items() if type(value) is bytes]
    if not raw:
        columns = list(first)
        return columns, "".join(_load_text(rows, columns, "\n")).encode()
    text = [name for name in first if name not in raw]
    raw_of = _values_of(raw)
    lines = _load_text(rows, text, "\t") if text else [""] * len(rows)
    return [*text, *raw], b"".join([
        line.encode() + b"\t".join([_load_bytes(value) for value in raw_of(row)]) + b"\n"
        for line, row in zip(lines, rows)
    ])


def sql_tuples(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """Each row as the SQL text of a VALUES tuple: "(1,'a',NULL)". Hot, as `load_lines` is."""
    values_of = _values_of(columns)
    needs_escape = _SQL_SPECIAL.search
    datetimes = _DatetimeText()
    return [
        "(" + ",".join([
            "NULL" if value is None
            else "'" + (_sql_escape(value) if len(value) > _SEARCH_LIMIT or needs_escape(value) else value) + "'"
            if type(value) is str
            else str(value) if type(value) is int or type(value) is Decimal
            else "'" + datetimes[value] + "'" if type(value) is datetime
            else _text_of(value) if type(value) is bool or type(value) is float
            else "'" + _sql_escape(_text_of(value)) + "'"
            for value in values_of(row)
        ]) + ")"
        for row in rows
    ]
