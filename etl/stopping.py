"""Stopping on SIGTERM at a safe point of the job, never in the middle of a library's code.

Raising from the signal handler itself would land anywhere: inside SQLAlchemy's pool, or
inside a finalizer, where Python prints the exception and swallows it. So the first
SIGTERM only asks; the job stops before its next batch (and during retry waits). A
second SIGTERM before that stops at once. A request is spent by the stop it causes: a
process that embeds the job and runs it again afterwards starts without it.
"""

from __future__ import annotations

import time

from etl.errors import Terminated

_requested: list[int] = []


def request_stop(exit_code: int = 143) -> None:
    if _requested:
        raise Terminated(exit_code)
    _requested.append(exit_code)


def check_stop() -> None:
    """Raise Terminated if a stop was asked for (spending the request); call it where stopping leaves
    nothing half-done."""
    if _requested:
        raise Terminated(_requested.pop())


def sleep(seconds: float) -> None:
    """time.sleep that a stop request cuts short."""
    deadline = time.monotonic() + seconds
    while True:
        check_stop()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))
