"""What every translator returns, and how it says no."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


class TranslateError(ValueError):
    """The push cannot be translated; the message is the reject reason an operator reads."""


@dataclass(frozen=True)
class Rows:
    """The target rows of one push: the parent row under its key, and the children that replace the old ones.

    `sources` holds, per table, the document object each row was made from (in row order),
    for the columns a job adds from JSON paths (etl/extra.py). A row may carry
    `ext`: a dict of the document's fields its translator did not map.
    """

    key: int
    tables: Mapping[str, list[Row]]
    warnings: tuple[str, ...] = ()
    sources: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """Where a kind's documents are pushed: a table with a key, a modified time and a JSON column.

    A job may name its own (a landing table); these are the defaults. `table` None: the kind
    has no standard table, and every job of it names one.
    """

    table: str | None
    key: str
    modified: str = "jdp_modified"
    json: str = "jdp_response"


@dataclass(frozen=True)
class Kind:
    """How the engine writes one kind of document; the engine itself knows no kind.

    `parent` holds one row per key; each child table follows its parent: the rows of a
    newer push are written, and the rows it no longer has are deleted. `version` names the
    parent columns compared, in order, for newer-wins; the engine adds the push's own
    `jdp_modified` to the parent row and as the last tie-break.
    """

    name: str
    translate: Callable[[Any], Rows]
    source: Source
    parent: str
    key_column: str
    children: tuple[str, ...]
    version: tuple[str, ...]
    # What a job's extra_columns paths start from, per table: the name of the document object
    # a row of it is made from (a child's paths may also start from its parent's).
    objects: Mapping[str, str] = field(default_factory=dict)
    # The columns the translator writes, per table (a job's own columns must be others).
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The parent's money column `etl verify` sums, source against target.
    amount: str = "payment"
    # Called in the batch's transaction with the rows that won, after they are written, for what
    # one kind's rows mean for another's (a refund holds a line); `uses` are the tables it needs.
    after_write: Callable[[Any, Mapping[str, Any], Sequence[Rows]], None] | None = None
    uses: tuple[str, ...] = ()
