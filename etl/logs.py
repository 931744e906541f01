"""What the job writes to its logs: readable lines, or one JSON object per event for log shippers.

No event carries personal data: receiver fields, buyer messages and ciphertexts are never logged,
and a reject's reason (which may quote a value) goes to etl_reject, not to the log.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from etl.clock import utcnow


def event(**fields: Any) -> str:
    """One JSON line: ids as integers, datetimes as ISO text; `time` is now, in UTC."""
    return orjson.dumps({"time": utcnow().isoformat(timespec="seconds") + "Z", **fields}, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return event(event="log", level=record.levelname.lower(), message=record.getMessage())


@dataclass(frozen=True)
class LogSettings:
    """How this process logs: the level, and JSON lines or text (a run's workers log as it does)."""

    level: int = logging.WARNING
    json: bool = False


_configured = LogSettings()


def configure(settings: LogSettings, prefix: str = "etl:") -> None:
    """Send the job's log records to stderr, as text lines or JSON lines."""
    global _configured
    _configured = settings
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.json
                         else logging.Formatter(f"{prefix} %(levelname)s %(message)s"))
    logging.basicConfig(level=settings.level, handlers=[handler], force=True)


def configured() -> LogSettings:
    """The settings `configure` was last given in this process (the defaults before)."""
    return _configured
