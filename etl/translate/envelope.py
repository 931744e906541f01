"""The wrappers a document comes in, taken off before a translator reads it.

The same object reaches a seller in several shapes: Jushita's push keeps TOP's response
(`{"trade_fullinfo_get_response": {"trade": {...}}}`), other TOP calls name their own
envelope (`open_trade_get_response`), third-party gateways wrap it as `{"code": 0, "data": ...}`
(seeds 001 and 003; `data` may be a one-element list), and landers of their own often store
the bare object. The shape is read from the document itself, never configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from etl.translate.rows import TranslateError

# How a gateway names its message and its payload; seeds 001 and 003 use code/message/data.
_GATEWAY_MESSAGES = ("message", "msg", "error_msg", "sub_msg")


def _top_error(error: Any) -> str:
    if not isinstance(error, Mapping):
        return str(error)
    return " ".join(f"{key}={error[key]}" for key in ("code", "msg", "sub_code", "sub_msg") if error.get(key) is not None)


def _gateway_payload(document: Mapping[str, Any]) -> Any:
    code = document["code"]
    if code not in (0, "0", 200, "200"):
        message = next((document[name] for name in _GATEWAY_MESSAGES if document.get(name)), "no message")
        raise TranslateError(f"the push is a gateway error (code {code}: {message})")
    data = document.get("data")
    if isinstance(data, list):
        # seed 003: `data` is a list of the orders asked for; a push carries exactly one.
        if len(data) != 1:
            raise TranslateError(f"the gateway's data lists {len(data)} documents; a push carries one")
        data = data[0]
    return data


def unwrap(document: Any, envelopes: Sequence[tuple[str, str]], marker: str, what: str) -> Mapping[str, Any]:
    """The `what` object of `document`, in any of the shapes above.

    `envelopes` are the (response, member) pairs TOP wraps it in, tried in order; a bare
    object is recognised by its `marker` key (tid, refund_id, baseInfo).
    """
    if not isinstance(document, Mapping):
        raise TranslateError(f"the push is a JSON {type(document).__name__}, not an object")
    if "error_response" in document:
        raise TranslateError(f"the push is a TOP error response ({_top_error(document['error_response'])}), not a {what}")
    if "code" in document and ("data" in document or marker not in document):
        document = _gateway_payload(document)
        if not isinstance(document, Mapping):
            raise TranslateError(f"the gateway's data is a JSON {type(document).__name__}, not a {what}")
    for response, member in envelopes:
        envelope = document.get(response)
        if envelope is not None:
            found = envelope.get(member) if isinstance(envelope, Mapping) else None
            if not isinstance(found, Mapping) or not found:
                raise TranslateError(f"the push has no {response}.{member} object")
            return found
    if marker in document:
        return document
    shapes = ", ".join(f"{response}.{member}" for response, member in envelopes)
    raise TranslateError(f"the push is not a {what}: expected {shapes}, a gateway's data or a bare {what} with {marker}")
