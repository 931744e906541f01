"""A job's own columns: values taken from the document by JSON paths, and the unmapped rest as `ext`.

A step of the writing side: a push's own fields that no translator maps, a job maps without
code, converted for the target's columns as they are reflected. A job names
target columns and JMESPath expressions (`extra_columns: {oms_trade: {o2o_shop_id:
trade.o2o_shop_id}}`); after its kind's translator has made the rows, each row gets those
columns from the object it was made from. A path starts at that object's name (the kind's
`objects`: `trade`, `order`, ...); a child's path may also start at its parent's, so a line
can carry a trade field. JMESPath rather than a dotted path of our own: it is specified,
compiled once, and lets a user pick from a list (`trade.service_tags.logistics_tag[0].tag`).

Values are converted for the column's type as the target reflects it, with the translators'
parsers: an id stays exact, money stays Decimal, and a value that does not fit makes the push
a reject naming the column, instead of a database error or a silent truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import jmespath
import orjson
import sqlalchemy as sa
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from etl.errors import ConfigError, NotInitialized
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
from etl.translate.rows import Kind, Rows, TranslateError

EXT = "ext"
# Checked in this order: MySQL's BIGINT and SMALLINT reflect as subclasses of Integer.
_INTEGER_BITS = ((sa.BigInteger, 64), (sa.SmallInteger, 16))


def labels(kind: Kind, table: str) -> tuple[str, ...]:
    """The names a path of `table` may start at: its own object's, then its parent's."""
    own = kind.objects[table]
    parent = kind.objects.get(kind.parent)
    return (own,) if table == kind.parent or parent is None else (own, parent)


def _leftmost(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while node.get("children") and isinstance(node["children"][0], Mapping):
        node = node["children"][0]
    return node


def compile_path(kind: Kind, table: str, path: str) -> ParsedResult:
    """The compiled expression of one extra column, or ValueError saying what is wrong with it."""
    if table not in kind.objects:
        raise ValueError(f"{kind.name} jobs write no table {table!r} (they write {', '.join(kind.objects)})")
    try:
        expression = jmespath.compile(path)
    except JMESPathError as error:
        raise ValueError(f"{path!r} is not a JMESPath expression: {str(error).splitlines()[0]}") from None
    start = _leftmost(expression.parsed)
    allowed = labels(kind, table)
    if start.get("type") == "field" and start.get("value") not in allowed:
        raise ValueError(
            f"path {path!r} of {table} must start at {' or '.join(allowed)} (as in {allowed[0]}.some_field)"
        )
    return expression


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
    name: str
    path: str
    expression: ParsedResult
    convert: Callable[[object, Path], Any]


class Extras:
    """What one job adds to every translated row: its extra columns, and `ext` kept or dropped."""

    def __init__(self, job: str, kind: Kind, extra_columns: Mapping[str, Mapping[str, str]], keep_ext: bool,
                 tables: Mapping[str, sa.Table]) -> None:
        self.job, self.kind, self.keep_ext = job, kind, keep_ext
        self.columns: dict[str, list[_Column]] = {}
        for table, columns in extra_columns.items():
            for name, path in columns.items():
                if name not in tables[table].c:
                    raise NotInitialized(
                        f"job {job!r}: extra column {table}.{name} is not in the target: add it with an "
                        f"ALTER TABLE in sql/local/ next to the config file, then run `etl init`"
                    )
                # The job's config validated the path (JobConfig): it compiles.
                self.columns.setdefault(table, []).append(
                    _Column(name, path, compile_path(kind, table, path), _converter(tables[table].c[name]))
                )

    def apply(self, rows: Rows) -> None:
        """Add the job's columns to the rows of one push (its own fresh rows), or raise TranslateError."""
        for row in rows.tables.get(self.kind.parent, ()):
            if EXT in row:
                # The JSON text as orjson makes it, UTF-8 bytes: the writers take bytes as text, and
                # LOAD DATA's file takes them as they are (see etl.database.literals.load_file).
                row[EXT] = orjson.dumps(row[EXT]) if self.keep_ext else None
        for table, columns in self.columns.items():
            # A path starts at the row's own object, or (a child's) at its parent's: see `labels`.
            own, *parent = labels(self.kind, table)
            context = {parent[0]: rows.sources[self.kind.parent][0]} if parent else {}
            for row, document in zip(rows.tables[table], rows.sources[table]):
                scope = {**context, own: document}
                for column in columns:
                    if column.name in row:
                        raise ConfigError(
                            f"job {self.job!r}: extra column {table}.{column.name} is a column the {self.kind.name} "
                            "translator writes itself; give the extra column another name"
                        )
                    try:
                        row[column.name] = column.convert(column.expression.search(scope), column.path)
                    except FieldError as error:
                        raise TranslateError(f"extra column {table}.{column.name}: {error}") from None
