"""The wrappers a document comes in, taken off before a translator reads it.

The same object reaches a seller in several shapes, and a landing table keeps whatever its
poller was given: Jushita's push keeps TOP's response (`{"trade_fullinfo_get_response":
{"trade": {...}}}`), other TOP calls name their own envelope or list (`trades_sold_get_response.
trades.trade`), 1688's open platform answers `{"result": ..., "success": "true"}`, third-party
gateways wrap it as `{"code": 0, "data": ...}` (seeds 001 and 003; `data` may be a one-element
list), a TMC message carries it as a JSON string in `content`, some landers encode the JSON twice,
and others store the bare object. Wrappers may nest (a gateway's data holding a TOP response).
The shape is read from the document itself, never configured.

Serializers that write every member (Jackson, fastjson, Go structs) add `"error_response": null`
or `"errorCode": ""` to a good answer: a null or empty member counts as absent everywhere here,
and an error is an error only when it says something (a code or a message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from etl.translate.rows import TranslateError

# How a gateway names its message; seeds 001 and 003 use code/message/data.
_GATEWAY_MESSAGES = ("message", "msg", "error_msg", "sub_msg")
_GATEWAY_OK = (0, "0", 200, "200")
_TOP_ERROR_FIELDS = ("code", "msg", "sub_code", "sub_msg")
# Alibaba's open platform (1688) and its gateway: errorCode/errorMessage in an answer,
# error_code/error_message when the gateway itself refuses the call.
_OPEN_ERROR_CODES = ("errorCode", "error_code")
_OPEN_ERROR_MESSAGES = ("errorMessage", "errorMsg", "error_message")
# Every layer taken off is one of the shapes above; real documents have at most four.
_MAX_LAYERS = 8


@dataclass(frozen=True)
class Shapes:
    """The shapes one kind's documents are accepted in.

    `envelopes` are member paths from the document's top (`("trade_fullinfo_get_response",
    "trade")`); the last member may be a list of one. A bare object is known by its `marker`
    key; a TMC message's content is a whole document only with every `whole` member, since
    most topics carry only the event's few fields. `fetch` names what to land instead.
    """

    what: str
    marker: str
    envelopes: tuple[tuple[str, ...], ...]
    whole: tuple[str, ...]
    fetch: str

    @property
    def accepted(self) -> str:
        wrappers = [".".join(path) for path in self.envelopes]
        wrappers += ["a gateway's {code, data}", "a TMC message's content", "a JSON string of one of these"]
        return f"expected {', '.join(wrappers)}, or a bare {self.what} with {self.marker}"


def _said(value: Any) -> bool:
    """Whether a member says anything: null, "", {} and [] do not."""
    return value is not None and value != "" and value != {} and value != []


def _first(document: Mapping[str, Any], names: tuple[str, ...], default: str) -> Any:
    return next((document[name] for name in names if _said(document.get(name))), default)


def _refuse_errors(document: Mapping[str, Any], what: str) -> None:
    """Raise for an answer that is an error of TOP, of 1688's open platform, or of a gateway."""
    error = document.get("error_response")
    if _said(error):
        if not isinstance(error, Mapping):
            raise TranslateError(f"the push is a TOP error response ({error}), not a {what}")
        said = " ".join(f"{key}={error[key]}" for key in _TOP_ERROR_FIELDS if _said(error.get(key)))
        if said:
            raise TranslateError(f"the push is a TOP error response ({said}), not a {what}")
    code = _first(document, _OPEN_ERROR_CODES, "")
    if code != "" or document.get("success") in (False, "false"):
        message = _first(document, _OPEN_ERROR_MESSAGES, "no message")
        raise TranslateError(f"the push is an error answer (code {code or 'none'}: {message}), not a {what}")
    code = document.get("code")
    if _said(code) and code not in _GATEWAY_OK:
        message = _first(document, _GATEWAY_MESSAGES, "no message")
        raise TranslateError(f"the push is a gateway error (code {code}: {message})")


def _one(value: Any, name: str, what: str) -> Any:
    """A list member must hold exactly the one document a push carries."""
    if isinstance(value, list):
        if len(value) != 1:
            raise TranslateError(f"the push's {name} lists {len(value)} documents; a push carries one {what}")
        return value[0]
    return value


def _object(value: Any, name: str, what: str) -> Mapping[str, Any]:
    """`value` as an object; a JSON string of an object (JSON encoded twice, a TMC content) is read."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise TranslateError(f"{name} is a JSON str, not an object") from None
    if not isinstance(value, Mapping):
        raise TranslateError(f"{name} is a JSON {type(value).__name__}, not an object")
    return value


def _enveloped(document: Mapping[str, Any], shapes: Shapes) -> Any:
    """The object inside the first envelope the document has, or None when it has none."""
    hollow = None
    for path in shapes.envelopes:
        value: Any = document
        for member in path:
            value = value.get(member) if isinstance(value, Mapping) else None
        name = ".".join(path)
        value = _one(value, name, shapes.what)
        if isinstance(value, Mapping) and value:
            return value
        if hollow is None and document.get(path[0]) is not None:
            hollow = name
    if hollow is not None:
        raise TranslateError(f"the push has no {hollow} object: {shapes.accepted}")
    return None


def _gateway_data(document: Mapping[str, Any], shapes: Shapes) -> Any:
    data = document.get("data")
    if isinstance(data, list):
        return _one(data, "gateway's data", shapes.what)
    if not _said(data):
        raise TranslateError(f"the gateway's data is empty: it carries no {shapes.what}")
    return data


def unwrap(document: Any, shapes: Shapes) -> Mapping[str, Any]:
    """The `shapes.what` object of `document`, in any of the shapes above, or `TranslateError`."""
    if type(document) is dict and len(document) == 1:
        # Jushita's push: one envelope and nothing beside it, so no error, gateway or TMC member
        # to look for (a quarter of the checks' cost).
        found = _enveloped(document, shapes)
        if type(found) is dict:
            return found
    name, message = "the push", None
    for _ in range(_MAX_LAYERS):
        document = _object(document, name, shapes.what)
        _refuse_errors(document, shapes.what)
        if _said(document.get("topic")) and _said(document.get("content")):
            message = f"the TMC message's content ({document['topic']})"
            document, name = document["content"], message
        elif shapes.marker not in document and ("data" in document or _said(document.get("code"))):
            document, name = _gateway_data(document, shapes), "the gateway's data"
        else:
            break
    else:
        raise TranslateError(f"the push nests wrappers more than {_MAX_LAYERS} deep")
    found = _enveloped(document, shapes)
    if found is None and shapes.marker in document:
        found = document
    missing = [member for member in shapes.whole if found is None or not _said(found.get(member))]
    if message is not None and missing:
        raise TranslateError(
            f"{message} has only the event's fields, not a whole {shapes.what} "
            f"(no {', '.join(missing)}): land {shapes.fetch} instead"
        )
    if found is None:
        if "error_response" in document:
            raise TranslateError(f"the push is a TOP error response (no code or message), not a {shapes.what}")
        raise TranslateError(f"the push is not a {shapes.what}: {shapes.accepted}")
    return found
