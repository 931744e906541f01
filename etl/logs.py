"""What the job writes to its logs: readable lines, or one JSON object per event for log shippers.

No event carries personal data: receiver fields, buyer messages and ciphertexts are never logged,
and a reject's reason (which may quote a value) goes to etl_reject, not to the log.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from etl.clock import utcnow


def event(**fields: Any) -> str:
    """One JSON line: ids as integers, datetimes as ISO text; `time` is now, in UTC."""
    return orjson.dumps({"time": utcnow().isoformat(timespec="seconds") + "Z", **fields}, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return event(event="log", level=record.levelname.lower(), message=record.getMessage())


def configure(level: int, json: bool, prefix: str = "etl:") -> None:
    """Send the job's log records to stderr, as text lines or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(f"{prefix} %(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def json_enabled() -> bool:
    """Whether this process logs JSON (worker processes follow their coordinator)."""
    return any(isinstance(handler.formatter, JsonFormatter) for handler in logging.getLogger().handlers)
