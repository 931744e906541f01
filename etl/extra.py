"""A job's own columns, filled from the document by their JSON paths (etl.translate.paths), and the
unmapped rest as `ext`: the writing side of `extra_columns` and `keep_ext`.

Values are converted for the column's type as the target reflects it, with the translators'
parsers: an id stays exact, money stays Decimal, and a value that does not fit makes the push
a reject naming the column, instead of a database error or a silent truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa

from etl.errors import NotInitialized
from etl.translate.fields import (
    FieldError,
    Path,
    parse_bool,
    parse_datetime,
    parse_int,
    parse_money,
    parse_text,
    where,
)
from etl.translate.paths import ExtraColumn, labels
from etl.translate.rows import Kind, Rows, TranslateError

EXT = "ext"
# Checked in this order: MySQL's BIGINT and SMALLINT reflect as subclasses of Integer.
_INTEGER_BITS = ((sa.BigInteger, 64), (sa.SmallInteger, 16))


def _text(length: int | None, value: object, path: Path) -> str | None:
    """A text column takes strings and numbers as they are, objects and lists as JSON, and no
    more characters than it holds (strict SQL mode would refuse the whole batch instead)."""
    text = orjson.dumps(value).decode() if isinstance(value, (dict, list)) else parse_text(value, path)
    if length is not None and text is not None and len(text) > length:
        raise FieldError(f"{where(path, value)} is longer than the column's {length} characters")
    return text


def _whole(bits: int, value: object, path: Path) -> int | None:
    # A flag column (TINYINT) takes JSON's true and false as 1 and 0.
    return int(value) if isinstance(value, bool) else parse_int(value, path, bits)


def _float(value: object, path: Path) -> float | None:
    amount = parse_money(value, path, places=None)
    return None if amount is None else float(amount)


def _date(value: object, path: Path) -> date | None:
    moment = parse_datetime(value, path)
    return None if moment is None else moment.date()


def _converter(column: sa.Column) -> Callable[[object, Path], Any]:
    """How a document value becomes a value of `column`, by the column's reflected type."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return parse_bool
    if isinstance(kind, sa.Integer):
        return partial(_whole, next((bits for base, bits in _INTEGER_BITS if isinstance(kind, base)), 32))
    if isinstance(kind, sa.Float):
        return _float
    if isinstance(kind, sa.Numeric):
        return partial(parse_money, places=kind.scale)
    if isinstance(kind, sa.DateTime):
        return parse_datetime
    if isinstance(kind, sa.Date):
        return _date
    return partial(_text, getattr(kind, "length", None))


@dataclass(frozen=True)
class _Column:
    extra: ExtraColumn
    convert: Callable[[object, Path], Any]


class Extras:
    """What one job adds to every translated row: its extra columns, and `ext` kept or dropped."""

    def __init__(self, job: str, kind: Kind, extra_columns: Sequence[ExtraColumn], keep_ext: bool,
                 tables: Mapping[str, sa.Table]) -> None:
        self.kind, self.keep_ext = kind, keep_ext
        self.columns: dict[str, list[_Column]] = {}
        for extra in extra_columns:
            if extra.column not in tables[extra.table].c:
                raise NotInitialized(
                    f"job {job!r}: extra column {extra.table}.{extra.column} is not in the target: add it with an "
                    f"ALTER TABLE in sql/local/ next to the config file, then run `etl init`"
                )
            convert = _converter(tables[extra.table].c[extra.column])
            self.columns.setdefault(extra.table, []).append(_Column(extra, convert))

    def apply(self, rows: Rows) -> None:
        """Add the job's columns to the rows of one push (its own fresh rows), or raise TranslateError."""
        for row in rows.tables.get(self.kind.parent, ()):
            if EXT in row:
                # The JSON text as orjson makes it, UTF-8 bytes: the writers take bytes as text, and
                # LOAD DATA's file takes them as they are (see etl.database.literals.load_file). Copied to
                # its length: orjson's bytes keep the whole buffer it grew (32 KB for a 6 KB trade), and a
                # batch holds a thousand of them until it is written.
                row[EXT] = bytes(memoryview(orjson.dumps(row[EXT]))) if self.keep_ext else None
        for table, columns in self.columns.items():
            # A path starts at the row's own object, or (a child's) at its parent's: see `labels`.
            own, *parent = labels(self.kind, table)
            context = {parent[0]: rows.sources[self.kind.parent][0]} if parent else {}
            for row, document in zip(rows.tables[table], rows.sources[table]):
                scope = {**context, own: document}
                for column in columns:
                    extra = column.extra
                    try:
                        row[extra.column] = column.convert(extra.expression.search(scope), extra.path)
                    except FieldError as error:
                        raise TranslateError(f"extra column {table}.{extra.column}: {error}") from None
