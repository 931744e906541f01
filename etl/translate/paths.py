"""JSON paths into a kind's documents: where a job's own columns take their values from (`extra_columns`).

A path is a JMESPath expression that starts at the name of the document object a row is made from
(the kind's `objects`: `trade`, `order`, ...); a child's path may also start at its parent's, so a
line can carry a trade field. JMESPath rather than a dotted path of our own: it is specified,
compiled once (when the job's config is parsed), and lets a user pick from a list
(`trade.service_tags.logistics_tag[0].tag`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from etl.translate.rows import Kind


@dataclass(frozen=True)
class ExtraColumn:
    """One column of a job's own in `table`, fed from the document by `path` (compiled)."""

    table: str
    column: str
    path: str
    expression: ParsedResult


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
