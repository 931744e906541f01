"""A push (one source row: key, modified time, document, content hash) and what it becomes: translated
rows, or a reject with its reason. Pure, as the translators are: bytes and values in, values out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

import orjson

from etl.clock import to_second
from etl.translate.fields import text_id
from etl.translate.rows import Kind, Rows, TranslateError
from etl.window import Position


def target_key(key: int | str) -> int | None:
    """The target's id for a source key: the key itself, or the id a text key's digits hold (1688 order
    ids kept as text); None for text that is no id (the push is rejected)."""
    return key if isinstance(key, int) else text_id(key)


def document_hash(document: bytes) -> str:
    """The job's own content hash of a document, for a source row without one: the first 128 bits of
    its SHA-256, in hex. Two versions of one trade within one second must never look alike, and
    SHA-256 is in every Python and computed by the CPU's SHA instructions where it has them (x86,
    ARMv8): cheaper there than MD5 or BLAKE2 (bench/RESULTS.md)."""
    return hashlib.sha256(document).hexdigest()[:32]


class Push(NamedTuple):
    """One source row as the engine needs it: key, position, the raw document and its content hash.

    `key` is as the source holds it (an int, or a str for a text key column): keyset order
    is the source's. `target_key` is the id the target rows carry (see `target_key`), found once
    when the row is read. `content` tells two versions of a row apart that share a `modified`
    second (the platform's clock has whole seconds, and it updates a row in place): the source's
    own hash (Jushita's jdp_hashcode), or `document_hash` of the document where it has none. A
    named tuple, not a frozen dataclass: a run makes one a push, and a frozen dataclass's
    __init__ costs three times as much.
    """

    key: int | str
    modified: datetime | None
    document: bytes | None
    target_key: int | None
    content: str | None

    @classmethod
    def of(cls, key: int | str, modified: datetime | None, document: bytes | None,
           content: str | bytes | int | None = None) -> Push:
        """A push as read; `content` is the source's hash column (None: it has none, or it is NULL)."""
        if content is None:
            content = None if document is None else document_hash(document)
        elif type(content) is bytes:  # a session whose results are `binary` (etl.source)
            content = content.decode()
        elif type(content) is not str:
            content = str(content)
        return cls(key, modified, document, target_key(key), content)

    @property
    def position(self) -> Position:
        return Position(self.modified, self.key)

    @property
    def stamp(self) -> datetime | None:
        """`modified` as the target keeps it (jdp_modified of its rows, its version, its rejects)."""
        return None if self.modified is None else to_second(self.modified)


# Named tuples, as Push is: one is made a push.
class Translated(NamedTuple):
    push: Push
    rows: Rows


class Rejected(NamedTuple):
    """A push that cannot be written, and why; `bug`: the translator itself failed on it."""

    push: Push
    reason: str
    bug: bool = False


Outcome = Translated | Rejected

_NULL_MODIFIED = (
    "{column} is NULL: the row cannot be placed in keyset order; "
    "fix the row in the source, then it translates on the next run"
)


def translate_push(kind: Kind, push: Push, columns: tuple[str, str, str] = ("tid", "jdp_modified", "jdp_response"),
                   extend: Callable[[Rows], None] | None = None) -> Outcome:
    """Parse and translate one push, then `extend` its rows (a job's own columns); anything that cannot
    be translated becomes a reject with its reason, which names the source's `columns` (key,
    modified time, JSON) as the job's table has them."""
    _, modified_column, json_column = columns
    if push.modified is None:
        return Rejected(push, _NULL_MODIFIED.format(column=modified_column))
    if push.target_key is None:
        return Rejected(push, f"the row's key {push.key!r} is not a numeric id the target's {kind.key_column} can hold")
    if push.document is None or not push.document.strip():
        return Rejected(push, f"{json_column} is empty")
    try:
        document = orjson.loads(push.document)
    except orjson.JSONDecodeError as error:
        return Rejected(push, f"{json_column} is not valid JSON: {error}")
    try:
        rows = kind.translate(document)
        if extend is not None:
            extend(rows)
    except TranslateError as error:
        return Rejected(push, str(error))
    except (RecursionError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        # A translator bug on odd input: quarantine the push and say so, rather than stop every seller's orders.
        return Rejected(push, f"translator error (please report it): {type(error).__name__}: {error}", bug=True)
    if rows.key != push.target_key:
        return Rejected(
            push, f"the document's {kind.key_column} {rows.key} differs from the row's {kind.key_column} {push.key}"
        )
    # The parsed document is not needed past here: a batch holds its rows, not a thousand documents.
    # Emptied in place (the translator made this dict for this push), not copied: a new Rows costs
    # more than a microsecond a push.
    rows.sources.clear()
    return Translated(push, rows)
